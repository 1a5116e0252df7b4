// Reader throughput from the page cache: a 1024 × 1024 float32 image and a 64 × 64 × 2048
// float32 spectrum image, written once as DM4 (little-endian) by the fixture writer, then read
// with read_dm (file → memory → Signal, including the [x, y, E] → (y, x, E) transpose for the SI).
// Reports bytes/s of file size over wall-clock time (UseRealTime). A big-endian variant measures
// the byte-swap path.
#include <autostem/datasets/formats.hpp>

#include "formats_internal.hpp"

#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace ad = autostem::datasets;

namespace {

// A fixture file removed at exit (static locals are destroyed after main returns).
struct TempFile {
  std::filesystem::path path;
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

std::filesystem::path write_fixture(const std::string& name, std::vector<std::uint64_t> dims, bool si, bool le) {
  const auto path = std::filesystem::temp_directory_path() / ("autostem_bench_" + std::to_string(::getpid()) + "_" + name);
  std::size_t n = 1;
  for (auto d : dims) n *= d;
  std::vector<float> data(n);
  for (std::size_t i = 0; i < n; ++i) data[i] = static_cast<float>(i % 4093);
  ad::detail::DMWriteImage im;
  im.dm_data_type = 2;
  im.dims = std::move(dims);
  im.data = {reinterpret_cast<const std::byte*>(data.data()), n * 4};
  im.element_swap_width = 4;
  if (si) {
    im.format = "Spectrum image";
    im.signal = "EELS";
    im.units = {"nm", "nm", "eV"};
  }
  const auto bytes = ad::detail::write_dm(im, 4, le);
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return path;
}

void run(benchmark::State& state, const std::filesystem::path& path) {
  const auto size = std::filesystem::file_size(path);
  for (auto _ : state) {
    auto sigs = ad::read_dm(path);
    benchmark::DoNotOptimize(sigs.front().bytes.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

void BM_ReadDM4Image1024(benchmark::State& state) {
  static const TempFile file{write_fixture("image.dm4", {1024, 1024}, false, true)};
  run(state, file.path);
}
void BM_ReadDM4SpectrumImage64x64x2048(benchmark::State& state) {
  static const TempFile file{write_fixture("si.dm4", {64, 64, 2048}, true, true)};
  run(state, file.path);
}
void BM_ReadDM4Image1024BigEndian(benchmark::State& state) {
  static const TempFile file{write_fixture("image_be.dm4", {1024, 1024}, false, false)};
  run(state, file.path);
}

}  // namespace

BENCHMARK(BM_ReadDM4Image1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ReadDM4SpectrumImage64x64x2048)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ReadDM4Image1024BigEndian)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
