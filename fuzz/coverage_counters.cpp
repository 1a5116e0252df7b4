// The inline 8-bit coverage counters of the whole fuzz binary (the __sancov_cntrs section that
// -fsanitize=fuzzer fills), for fuzz targets that run the code under test in a child process and
// copy the child's counters back (fuzz_emd.cpp). Compiled WITHOUT coverage instrumentation
// (fuzz/build.sh): in an instrumented translation unit, declaring these linker-made symbols
// clashes with the instrumentation's own declarations and libFuzzer then loses the counters.
#include <cstddef>
#include <cstdint>

extern "C" std::uint8_t __start___sancov_cntrs[] __attribute__((weak, visibility("hidden")));
extern "C" std::uint8_t __stop___sancov_cntrs[] __attribute__((weak, visibility("hidden")));

/// First counter and number of counters; {nullptr, 0} if the binary has none.
std::uint8_t* sancov_counters(std::size_t& count) {
  std::uint8_t* b = __start___sancov_cntrs;
  std::uint8_t* e = __stop___sancov_cntrs;
  if (!b || !e || e <= b) {
    count = 0;
    return nullptr;
  }
  count = static_cast<std::size_t>(e - b);
  return b;
}
