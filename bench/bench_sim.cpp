// sim/ benchmarks. The figure of merit of the simulator is how much faster than the real
// experiment it runs: a 128×128 spectrum image with 162-channel spectra (the CuZn tutorial
// dataset's channel count) through the SimulatedInstrument, submitted in batches of one scan
// line and collected, should run ≥ 10,000× faster than the ≈70 min it simulates
// (counter sim_s_per_wall_s). Also the engine's raw event rate and a drift-reference patch scan.
#include <autostem/sim/engine.hpp>
#include <autostem/sim/simulated_instrument.hpp>

#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

using namespace autostem;
using namespace autostem::sim;

namespace {

GroundTruth make_truth(std::size_t n, std::size_t channels) {
  GroundTruth gt;
  gt.source = "bench:synthetic";
  gt.survey.name = "HAADF";
  gt.survey.calibration.pixel_size_nm = 0.92;
  gt.survey.data = ImageArray::Constant(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(n), 1000.0);
  SpectrumImage si(n, n, EnergyAxis{700.0, 8.0, channels}, gt.survey.calibration);
  for (std::size_t r = 0; r < n; ++r)
    for (std::size_t c = 0; c < n; ++c) {
      auto s = si.spectrum(r, c);
      // A decaying background with an edge: counts from ~20000 down to ~60, like a core-loss SI.
      for (std::size_t k = 0; k < channels; ++k)
        s[k] = static_cast<float>(20000.0 * std::exp(-0.035 * k) + (k > 30 ? 50.0 + r + c : 0.0));
    }
  gt.spectrum_image = std::move(si);
  gt.recorded = {30.0, 0.25, 16e-6};
  return gt;
}

void BM_SimulatedGrid128(benchmark::State& state) {
  const std::size_t n = 128, channels = 162, batch = static_cast<std::size_t>(state.range(0));
  const GroundTruth truth = make_truth(n, channels);
  const TimingProfile profile = TimingProfile::load("rsi2024-remote");
  std::vector<Position> grid;
  for (std::size_t r = 0; r < n; ++r)
    for (std::size_t c = 0; c < n; ++c) grid.push_back({double(r), double(c)});
  double simulated_s = 0.0;
  std::size_t spectra = 0;
  std::uint64_t seed = 0;
  for (auto _ : state) {
    state.PauseTiming();
    SimulatedInstrument inst(truth, SimConfig::from_profile(profile, ++seed));
    state.ResumeTiming();
    for (std::size_t i = 0; i < grid.size(); i += batch) {
      const std::size_t len = std::min(batch, grid.size() - i);
      inst.submit(std::span<const Position>(grid).subspan(i, len), {}, AcquisitionMode::si_scan);
      while (inst.in_flight() > 0) {
        auto got = inst.collect(true);
        spectra += got.size();
        benchmark::DoNotOptimize(got.data());
      }
    }
    simulated_s += inst.now_s();
  }
  // kIsRate divides by the measured (real) time: simulated seconds per wall second.
  state.counters["sim_s_per_wall_s"] = benchmark::Counter(simulated_s, benchmark::Counter::kIsRate);
  state.counters["spectra_per_s"] = benchmark::Counter(double(spectra), benchmark::Counter::kIsRate);
  state.counters["simulated_min"] = simulated_s / 60.0 / static_cast<double>(state.iterations());
}
BENCHMARK(BM_SimulatedGrid128)->Arg(128)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// Independent events at pseudo-random times: heap push/pop plus std::function per event.
void BM_EngineEvents(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  std::uint64_t count = 0;
  for (auto _ : state) {
    Simulation sim;
    std::uint64_t x = 1;
    for (std::int64_t i = 0; i < n; ++i)
      sim.schedule(Duration{static_cast<std::int64_t>(splitmix64(x) % 1000000)}, [&count] { ++count; });
    sim.run();
  }
  benchmark::DoNotOptimize(count);
  state.counters["events_per_s"] =
      benchmark::Counter(double(n) * double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_EngineEvents)->Arg(1000)->Arg(100000)->UseRealTime();

// A chain: each event schedules the next (the simulated instrument's pattern).
void BM_EngineChain(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  for (auto _ : state) {
    Simulation sim;
    std::int64_t left = n;
    std::function<void()> next = [&] {
      if (--left > 0) sim.schedule(Duration{250}, next);
    };
    sim.schedule(Duration{0}, next);
    sim.run();
  }
  state.counters["events_per_s"] =
      benchmark::Counter(double(n) * double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_EngineChain)->Arg(100000)->UseRealTime();

// A 64×64 drift-reference patch (issue 16) on a 128×128 field with the after-stage-move drift
// preset (random walk and jumps sampled at every pixel) and noise: the cost a drift-corrected
// run pays per re-scan. Counter: patch pixels per wall second.
void BM_PatchScan64(benchmark::State& state) {
  const GroundTruth truth = make_truth(128, 1);
  SimConfig config = SimConfig::from_profile(TimingProfile::load("rsi2024-remote"), 1);
  config.drift = drift_preset("after-stage-move", 1);
  SimulatedInstrument inst(truth, config);
  const PatchScan scan{32, 32, 64, 64, {0.0, 0.0}, {}};
  for (auto _ : state) {
    const Survey p = inst.acquire_patch(scan);
    benchmark::DoNotOptimize(p.image.data.data());
  }
  state.counters["pixels_per_s"] =
      benchmark::Counter(64.0 * 64.0 * double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PatchScan64)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
