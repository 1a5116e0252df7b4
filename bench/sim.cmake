# Benchmarks of sim/: the discrete-event engine and a full simulated spectrum image.
autostem_add_benchmark(bench_sim
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_sim.cpp
  LIBS autostem::sim)

# The 4D-STEM phantom (issue 19): a 128×128 scan of 128×128 patterns; target ≤ 10 s on 2 cores.
autostem_add_benchmark(bench_fourd_phantom
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_fourd_phantom.cpp
  LIBS autostem::sim autostem::imaging)
