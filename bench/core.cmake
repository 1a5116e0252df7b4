# Core micro-benchmarks (metrics on 256×256 maps) and the edge strategy's planning on a
# 1024×1024 survey. Figures: docs/performance.md, "Strategies and metrics".
autostem_add_benchmark(bench_metrics SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_metrics.cpp
  LIBS autostem::core)
if(TARGET autostem_strategies)
  autostem_add_benchmark(bench_edge SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_edge.cpp
    LIBS autostem::strategies)
endif()
