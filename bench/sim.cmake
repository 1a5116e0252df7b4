# Benchmarks of sim/: the discrete-event engine and a full simulated spectrum image.
autostem_add_benchmark(bench_sim
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_sim.cpp
  LIBS autostem::sim)
