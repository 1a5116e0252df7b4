// The 4D-STEM phantom (sim/fourd_phantom.hpp): twisted bilayer graphene, 80 kV, α = 25 mrad,
// scan N×N with a 0.2 Å step, patterns 128×128, Poisson counting at 1e4 electrons per pattern.
// Issue 19's target: N = 128 in ≤ 10 s on 2 cores (TBB uses every core it is given; restrict
// with taskset). Results in docs/performance.md.
#include <autostem/sim/fourd_phantom.hpp>

#include <benchmark/benchmark.h>

namespace as = autostem::sim;

static void BM_FourDPhantom(benchmark::State& state) {
  as::FourDPhantomConfig cfg;
  cfg.scan_rows = cfg.scan_cols = static_cast<std::size_t>(state.range(0));
  cfg.detector_px = 128;
  cfg.electrons_per_pattern = 1e4;
  const double field = (double(cfg.scan_rows - 1) * cfg.scan_step_px + cfg.detector_px) * cfg.pixel_A;
  const auto atoms = as::twisted_bilayer_graphene(field, field, 5.0);
  for (auto _ : state) {
    auto gt = as::make_fourd_phantom(atoms, cfg);
    benchmark::DoNotOptimize(gt.four_d->data().data());
  }
  state.counters["patterns"] = double(cfg.scan_rows * cfg.scan_cols);
  state.counters["patterns/s"] = benchmark::Counter(double(cfg.scan_rows * cfg.scan_cols),
                                                     benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_FourDPhantom)->Arg(16)->Arg(128)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);

BENCHMARK_MAIN();
