# Benchmarks of compressed-sensing reconstruction (docs/performance.md, "## Reconstruction").
autostem_add_benchmark(bench_reconstruction
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_reconstruction.cpp
  LIBS autostem::reconstruction)
# Writes the ground-truth images that bench/cs_compare.py compares reconstructions on (not a
# benchmark: a data exporter for the script).
add_executable(cs_compare_data ${CMAKE_CURRENT_LIST_DIR}/cs_compare_data.cpp)
target_link_libraries(cs_compare_data PRIVATE autostem::datasets autostem_warnings)
# Low-rank spectrum-image check on the nanoparticles phantom (numbers in docs/compressed-sensing.md).
add_executable(cs_lowrank_check ${CMAKE_CURRENT_LIST_DIR}/cs_lowrank_check.cpp)
target_link_libraries(cs_lowrank_check PRIVATE autostem::datasets autostem::reconstruction autostem_warnings)
