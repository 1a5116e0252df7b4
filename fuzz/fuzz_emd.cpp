// libFuzzer target: the EMD reader (Berkeley, Velox and Velox spectrum streams) on arbitrary
// bytes, opened as an HDF5 file image through the core driver, through the same child-process
// isolation as the public readers (datasets/src/isolate.hpp): libhdf5 1.10.8 itself crashes on
// some corrupt files (H5HG_read, H5F__accum_read, H5C_protect), which users see as a
// std::runtime_error from read_signals(); here too.
//
// So that isolation neither hides autostem's own bugs nor blinds the fuzzer:
// - the child's ASan reports are classified by the first frame of each stack outside the
//   sanitizer runtime, libc and libstdc++: if libhdf5 decides every stack, the child ends with
//   exit status 97 (an "HDF5 fault", counted, not a finding); any other report (autostem's
//   code, or libhdf5 overflowing a buffer autostem allocated), a UBSan report (exit status 1)
//   or any other abnormal end of the child aborts this process, so libFuzzer saves the input;
// - the child copies its coverage counters (the __sancov_cntrs section) into shared memory
//   before it reports, and the parent merges them (maximum) into its own, so libFuzzer sees the
//   reader's coverage although the reader ran in another process.
// Only autostem's code is instrumented; libhdf5 is the system build.
#include "formats_internal.hpp"
#include "isolate.hpp"

#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <sys/mman.h>
#include <unistd.h>

#include <csignal>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

// fuzz/coverage_counters.cpp (not instrumented): the binary's inline 8-bit counters.
std::uint8_t* sancov_counters(std::size_t& count);

// The child's allocations beyond 1 GiB return NULL (libhdf5 then reports an error) or, for C++
// operator new (autostem's code), give an ASan out-of-memory report: a finding.
extern "C" const char* __asan_default_options() {
  return "allocator_may_return_null=1:max_allocation_size_mb=1024";
}

namespace {

constexpr int kHdf5FaultExit = 97;
constexpr int kHdf5HangExit = 98;  // the child ran past kChildSeconds inside libhdf5
constexpr int kOwnHangExit = 96;   // … anywhere else: a finding
constexpr unsigned kChildSeconds = 20;

struct SharedCoverage {
  std::uint64_t generation;
  std::uint8_t counters[1];
};
SharedCoverage* g_shared = nullptr;
std::uint8_t* g_counters = nullptr;
std::size_t g_ncounters = 0;
std::uint64_t g_generation = 0;
std::uint64_t g_runs = 0, g_hdf5_faults = 0, g_hdf5_hangs = 0, g_read = 0;

// Frames that do not decide who is at fault: the sanitizer runtime and its interceptors (in
// this binary but without a source location: "in strdup (/…/fuzz_emd+0x…)"), libc, libstdc++.
bool runtime_frame(const std::string& line) {
  for (const char* s : {"__asan", "__interceptor", "__sanitizer", "compiler-rt", "libclang_rt", "sanitizer_common",
                        "libc.so", "sysdeps/", "libstdc++", "libgcc_s"})
    if (line.find(s) != std::string::npos) return true;
  // No source location: "(module+0xoffset) (BuildId: …)" instead of "file.cpp:line:col".
  return line.find("+0x") != std::string::npos;
}

// In the child: a report in which every stack (the faulting access, and where the memory was
// allocated or freed) has its first frame that is not runtime_frame in libhdf5 ends the child
// quietly with kHdf5FaultExit — a fault of libhdf5 on a corrupt file. Any other report (a stack
// decided by autostem's code, e.g. libhdf5 overflowing a buffer autostem allocated too small)
// goes on to the sanitizer's usual exit (status 1), which the parent turns into a finding.
void on_asan_report(const char* report) {
  const std::string r(report ? report : "");
  bool any_stack = false;
  std::size_t pos = 0;
  while ((pos = r.find("    #0 ", pos)) != std::string::npos) {
    any_stack = true;
    bool hdf5 = false, decided = false;
    while (pos < r.size() && r.compare(pos, 5, "    #") == 0) {
      const std::size_t end = r.find('\n', pos);
      const std::string line = r.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
      pos = end == std::string::npos ? r.size() : end + 1;
      if (decided) continue;
      if (line.find("libhdf5") != std::string::npos) hdf5 = decided = true;
      else if (!runtime_frame(line)) decided = true;
    }
    if (!hdf5) return;
  }
  if (any_stack) ::_exit(kHdf5FaultExit);
}

// In the child, after kChildSeconds: which code was running? The frames after the signal
// trampoline, skipping libc, libstdc++ and the sanitizer runtime: libhdf5 → kHdf5HangExit,
// anything else (autostem's code) → kOwnHangExit. A loop in autostem's code that happened to be
// inside a libhdf5 call at that moment would be counted as an HDF5 hang (a limit of sampling).
void on_child_alarm(int) {
  void* frames[64];
  const int n = ::backtrace(frames, 64);
  bool past_trampoline = false;
  for (int i = 0; i < n; ++i) {
    Dl_info info{};
    const char* lib = ::dladdr(frames[i], &info) && info.dli_fname ? info.dli_fname : "";
    const char* sym = info.dli_sname ? info.dli_sname : "";
    if (!past_trampoline) {  // backtrace (or its ASan interceptor), this handler, then libc's trampoline
      past_trampoline = i > 0 && std::strstr(lib, "libc.so") != nullptr;
      continue;
    }
    if (std::strstr(lib, "libhdf5")) ::_exit(kHdf5HangExit);
    if (std::strstr(lib, "libc.so") || std::strstr(lib, "libstdc++") || std::strstr(lib, "libgcc_s") ||
        std::strncmp(sym, "__asan", 6) == 0 || std::strncmp(sym, "__interceptor", 13) == 0 ||
        std::strncmp(sym, "__sanitizer", 11) == 0)
      continue;
    ::_exit(kOwnHangExit);
  }
  ::_exit(kOwnHangExit);
}

void export_coverage() {
  if (!g_shared || g_ncounters == 0) return;
  std::memcpy(g_shared->counters, g_counters, g_ncounters);
  __atomic_store_n(&g_shared->generation, g_generation, __ATOMIC_RELEASE);
}

void merge_coverage() {
  if (!g_shared || g_ncounters == 0 || __atomic_load_n(&g_shared->generation, __ATOMIC_ACQUIRE) != g_generation) return;
  for (std::size_t i = 0; i < g_ncounters; ++i)
    if (g_shared->counters[i] > g_counters[i]) g_counters[i] = g_shared->counters[i];
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // A spectrum image of at most 256 MiB: the fuzzer's inputs are small, its memory limit is not.
  ::setenv("AUTOSTEM_EMD_MAX_SI_BYTES", "268435456", 1);
  g_counters = sancov_counters(g_ncounters);
  if (g_counters) {
    void* p = ::mmap(nullptr, sizeof(SharedCoverage) + g_ncounters, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                     -1, 0);
    if (p != MAP_FAILED) g_shared = static_cast<SharedCoverage*>(p);
  }
  std::fprintf(stderr, "fuzz_emd: isolated reader; %zu coverage counters shared with the child%s\n", g_ncounters,
               g_shared ? "" : " (NOT shared: coverage feedback from the reader is lost)");
  std::atexit([] {
    std::fprintf(stderr, "fuzz_emd: %llu runs: %llu read, %llu HDF5 faults and %llu HDF5 hangs (> %u s) in the child\n",
                 static_cast<unsigned long long>(g_runs), static_cast<unsigned long long>(g_read),
                 static_cast<unsigned long long>(g_hdf5_faults), static_cast<unsigned long long>(g_hdf5_hangs),
                 kChildSeconds);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace dd = autostem::datasets::detail;
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  ++g_runs;
  ++g_generation;
  try {
    dd::run_isolated(
        "fuzz.emd",
        [&](dd::PipeWriter& w) {
          __asan_set_error_report_callback(on_asan_report);
          __sanitizer_set_death_callback(nullptr);  // the parent, not the child, saves the input
          std::signal(SIGALRM, on_child_alarm);
          ::alarm(kChildSeconds);
          std::vector<autostem::datasets::Signal> sigs;
          std::exception_ptr error;
          try {
            sigs = dd::read_emd_bytes(bytes, "fuzz.emd");
          } catch (...) {
            error = std::current_exception();
          }
          ::alarm(0);
          export_coverage();
          if (error) std::rethrow_exception(error);
          w.write_u64(sigs.size());
          for (const auto& s : sigs) {
            w.write_u64(s.size() * autostem::datasets::dtype_size(s.dtype));
            w.write_u64(s.bytes.size());
          }
        },
        [&](dd::PipeReader& r) {
          const std::uint64_t n = r.read_u64();
          for (std::uint64_t i = 0; i < n; ++i) {
            const std::uint64_t expected = r.read_u64(), have = r.read_u64();
            if (expected != have) {
              std::fprintf(stderr, "fuzz_emd: signal %llu has %llu bytes for axes needing %llu\n",
                           static_cast<unsigned long long>(i), static_cast<unsigned long long>(have),
                           static_cast<unsigned long long>(expected));
              std::abort();
            }
          }
        });
    ++g_read;
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    if (m.find("exit status " + std::to_string(kHdf5FaultExit)) != std::string::npos) {
      ++g_hdf5_faults;
    } else if (m.find("exit status " + std::to_string(kHdf5HangExit)) != std::string::npos) {
      ++g_hdf5_hangs;
    } else if (m.find("reader process") != std::string::npos || m.find("HDF5 library crashed") != std::string::npos) {
      // The child died outside libhdf5 (a sanitizer report in autostem's code, an abort, …).
      std::fprintf(stderr, "fuzz_emd: FINDING: %s\n", m.c_str());
      std::abort();
    }
  }
  merge_coverage();
  return 0;
}
