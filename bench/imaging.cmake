# Imaging micro-benchmarks (metrics on 256×256 maps) and the edge strategy's planning on a
# 1024×1024 survey. Figures: docs/performance.md, "Strategies and metrics".
autostem_add_benchmark(bench_metrics SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_metrics.cpp
  LIBS autostem::imaging)
if(TARGET autostem_strategies)
  autostem_add_benchmark(bench_edge SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_edge.cpp
    LIBS autostem::strategies)
endif()
# Benchmarks of compressed-sensing reconstruction (docs/performance.md, "## Reconstruction").
autostem_add_benchmark(bench_reconstruction
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_reconstruction.cpp
  LIBS autostem::imaging)
# Writes the ground-truth images that bench/cs_compare.py compares reconstructions on (not a
# benchmark: a data exporter for the script).
add_executable(cs_compare_data ${CMAKE_CURRENT_LIST_DIR}/cs_compare_data.cpp)
target_link_libraries(cs_compare_data PRIVATE autostem::datasets autostem_warnings)
# Low-rank spectrum-image check on the nanoparticles phantom (numbers in docs/compressed-sensing.md).
add_executable(cs_lowrank_check ${CMAKE_CURRENT_LIST_DIR}/cs_lowrank_check.cpp)
target_link_libraries(cs_lowrank_check PRIVATE autostem::datasets autostem::imaging autostem_warnings)
# Registration for drift correction (issue 16): one 128×128 estimate_shift (docs/drift.md).
autostem_add_benchmark(bench_registration SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_registration.cpp
  LIBS autostem::imaging)
