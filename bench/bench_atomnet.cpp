// dcnn (issue 9): the shipped 20-model graphene ensemble (models/atoms/graphene) predicting atoms
// on an S×S graphene lattice phantom sampled like the real G-*-nm images (C–C spacing 17 px):
// resampling to the trained spacing, the grouped-convolution forward pass of all models, ensemble
// mean/std, atom extraction and refinement. Counter F1 = match against the phantom's atoms (3 px).
// Argument: S. The 1024×1024 case (the target: ≤ 6 s on 2 cores) runs only with
// AUTOSTEM_BENCH_LARGE=1, so that the ctest smoke run stays fast:
//   AUTOSTEM_BENCH_LARGE=1 AUTOSTEM_TORCH_THREADS=2 bench_atomnet --benchmark_filter=/1024
#include <autostem/imaging/atoms.hpp>
#include <autostem/datasets/phantoms.hpp>
#include <autostem/strategies/atomnet.hpp>
#include <autostem/strategies/torch.hpp>

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <optional>

namespace {

using namespace autostem;

void BM_AtomNetEnsemble(benchmark::State& state) {
  static const bool registered = (strategies::register_torch_strategies(), true);  // thread setting
  (void)registered;
  const auto dir = strategies::default_atomnet_directory("graphene");
  std::optional<strategies::AtomNet> net;
  try {
    net.emplace(strategies::AtomNet::load(dir));
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  datasets::LatticeOptions o;
  o.rows = o.cols = static_cast<std::size_t>(state.range(0));
  o.spacing_min_px = o.spacing_max_px = 17.0;
  o.grain_boundary_probability = 1.0;
  const auto sample = datasets::make_lattice(o, 42);
  std::vector<Position> truth;
  for (const auto& a : sample.atoms) truth.push_back(a.position);
  std::vector<Atom> atoms;
  for (auto _ : state) {
    atoms = net->find_atoms(sample.image, sample.spacing_px);
    benchmark::DoNotOptimize(atoms.data());
  }
  std::vector<Position> found;
  for (const auto& a : atoms) found.push_back(a.position);
  state.counters["models"] = net->architecture().ensemble;
  state.counters["atoms"] = static_cast<double>(atoms.size());
  state.counters["F1"] = match_atoms(found, truth, 3.0).f1;
}

void sizes(benchmark::internal::Benchmark* b) {
  b->Arg(128);
  if (const char* e = std::getenv("AUTOSTEM_BENCH_LARGE"); e && std::string(e) == "1") b->Arg(1024);
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}
BENCHMARK(BM_AtomNetEnsemble)->Apply(sizes);

}  // namespace

BENCHMARK_MAIN();
