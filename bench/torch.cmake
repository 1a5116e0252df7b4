# Benchmarks of autostem::strategies_torch (included from bench/CMakeLists.txt when LibTorch is
# found). Append further torch benchmarks below.
# One DKL step (issue 6; results in docs/performance.md).
autostem_add_benchmark(bench_dkl
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_dkl.cpp
  LIBS autostem::strategies_torch)
# dcnn: the 20-model atom-finding ensemble on a graphene phantom (issue 9; docs/performance.md).
autostem_add_benchmark(bench_atomnet
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_atomnet.cpp
  LIBS autostem::strategies_torch autostem::datasets)
