# File-reader throughput (DM4 image and spectrum image written in the benchmark's setup).
autostem_add_benchmark(bench_readers
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_readers.cpp
  LIBS autostem::datasets)
target_include_directories(bench_readers PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../datasets/src/formats)
