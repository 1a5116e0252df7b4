// CoM + one virtual detector (ADF annulus) over every frame of a Merlin .mib file read through
// MibFile (memory-mapped, one frame decoded at a time), frames in parallel with TBB. The file is
// written in the setup — 256×256 U16 frames (12-bit, 131 456 B each) with a 384-byte MQ1 header
// copied from the real fixture's layout — of AUTOSTEM_BENCH_MIB_MB megabytes (default 256) in
// $TMPDIR. It is in the page cache after writing, so this measures decoding and scalarizing, not
// the disk. Bytes/s counts the file bytes (headers included). Issue 19 target: ≥ 1 GB/s.
#include <autostem/datasets/mib.hpp>
#include <autostem/imaging/diffraction.hpp>

#include <benchmark/benchmark.h>
#include <tbb/parallel_for.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

namespace {

std::filesystem::path make_file(std::size_t frames) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("autostem_bench_" + std::to_string(::getpid()) + ".mib");
  std::ofstream out(path, std::ios::binary);
  std::vector<char> frame(384 + 2 * 256 * 256, 0);
  for (std::size_t i = 0; i < frames; ++i) {
    std::string h = "MQ1," + std::string(6 - std::min<std::size_t>(6, std::to_string(i + 1).size()), '0') +
                    std::to_string(i + 1) +
                    ",00384,01,0256,0256,U16,   1x1,01,2021-04-15 14:43:47.008505,0.001000,0,0,0,"
                    "MQ1A,2021-04-15T13:43:47.008505401Z,1000000ns,12,";
    std::fill(frame.begin(), frame.begin() + 384, '\0');
    std::copy(h.begin(), h.end(), frame.begin());
    // A disc of ~2000 counts in 20 px plus a weak background, shifted a little per frame.
    for (std::size_t r = 0; r < 256; ++r)
      for (std::size_t c = 0; c < 256; ++c) {
        const double dy = double(r) - 127.5 - double(i % 7), dx = double(c) - 127.5 + double(i % 5);
        const unsigned v = dx * dx + dy * dy < 400 ? 2000u + unsigned((r * 31 + c * 17 + i) % 97) : unsigned((r + c + i) % 5);
        frame[384 + 2 * (r * 256 + c)] = char(v >> 8);
        frame[384 + 2 * (r * 256 + c) + 1] = char(v & 0xff);
      }
    out.write(frame.data(), static_cast<std::streamsize>(frame.size()));
  }
  return path;
}

void BM_MibComAndVirtualDetector(benchmark::State& state) {
  const char* mb = std::getenv("AUTOSTEM_BENCH_MIB_MB");
  const std::size_t bytes = static_cast<std::size_t>(mb ? std::atof(mb) : 256.0) * 1000 * 1000;
  const std::size_t frames = std::max<std::size_t>(1, bytes / (384 + 2 * 256 * 256));
  const auto path = make_file(frames);
  {
    autostem::datasets::MibFile f(path);
    autostem::PatternMask adf;
    adf.r_in_px = 40;
    adf.r_out_px = 100;
    autostem::PatternMask all;
    double checksum = 0;
    for (auto _ : state) {
      std::atomic<double> sum{0.0};
      tbb::parallel_for(tbb::blocked_range<std::size_t>(0, f.frames(), 64), [&](const auto& r) {
        std::vector<float> p(256 * 256);
        double local = 0;
        for (std::size_t i = r.begin(); i != r.end(); ++i) {
          f.read_frame(i, p);
          const auto c = autostem::centre_of_mass(p, 256, 256, all);
          local += c.x_px + c.y_px + autostem::virtual_detector(p, 256, 256, adf);
        }
        double cur = sum.load();
        while (!sum.compare_exchange_weak(cur, cur + local)) {
        }
      });
      checksum = sum.load();
      benchmark::DoNotOptimize(checksum);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(f.frames() * f.frame_stride_bytes()));
    state.counters["frames"] = double(f.frames());
  }
  std::filesystem::remove(path);
}
BENCHMARK(BM_MibComAndVirtualDetector)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
