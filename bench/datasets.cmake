# File-reader throughput (DM4 image and spectrum image written in the benchmark's setup).
autostem_add_benchmark(bench_readers
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_readers.cpp
  LIBS autostem::datasets)
target_include_directories(bench_readers PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../datasets/src/formats)

# 4D-STEM (issue 19): CoM + one virtual detector over a streamed (memory-mapped) Merlin .mib file
# written in the setup; target ≥ 1 GB/s.
autostem_add_benchmark(bench_mib_stream
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_mib_stream.cpp
  LIBS autostem::datasets autostem::imaging TBB::tbb)
