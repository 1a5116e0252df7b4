// One DKL step (issue 6): warm-started training of 100 Adam iterations on n measured patches,
// then embedding, GP mean and variance, and the acquisition (EI) over every candidate of an
// S×S survey with 16×16 patches. Arguments: n, S. The 1,000-point / 256×256 case runs only with
// AUTOSTEM_BENCH_LARGE=1 (one step takes seconds; the ctest smoke run must stay fast).
//   AUTOSTEM_BENCH_LARGE=1 bench_dkl --benchmark_repetitions=5 --benchmark_report_aggregates_only
#include <autostem/core/random.hpp>
#include <autostem/imaging/acquisition.hpp>
#include <autostem/strategies/dkl.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <random>

namespace {

using namespace autostem;
using Clock = std::chrono::steady_clock;

ImageArray particle_survey(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  ImageArray img = ImageArray::Constant(Eigen::Index(n), Eigen::Index(n), 0.1);
  for (std::size_t p = 0; p < n * n / 80; ++p) {
    const double r0 = random::uniform_real(rng, 0.0, double(n));
    const double c0 = random::uniform_real(rng, 0.0, double(n));
    const double s = random::uniform_real(rng, 1.0, 3.0), a = random::uniform_real(rng, 0.3, 1.5);
    const auto lo_r = std::max<Eigen::Index>(0, Eigen::Index(r0 - 4 * s)),
               hi_r = std::min<Eigen::Index>(Eigen::Index(n) - 1, Eigen::Index(r0 + 4 * s));
    const auto lo_c = std::max<Eigen::Index>(0, Eigen::Index(c0 - 4 * s)),
               hi_c = std::min<Eigen::Index>(Eigen::Index(n) - 1, Eigen::Index(c0 + 4 * s));
    for (Eigen::Index r = lo_r; r <= hi_r; ++r)
      for (Eigen::Index c = lo_c; c <= hi_c; ++c)
        img(r, c) += a * std::exp(-((r - r0) * (r - r0) + (c - c0) * (c - c0)) / (2 * s * s));
  }
  return img;
}

void BM_DklStep(benchmark::State& state) {
  const auto n = std::size_t(state.range(0)), S = std::size_t(state.range(1));
  const auto patches = strategies::extract_patches(particle_survey(S, 1), 16, 1);
  std::mt19937_64 rng(2);
  strategies::PatchMatrix X(static_cast<Eigen::Index>(n), patches.data.cols());
  Eigen::VectorXd y(static_cast<Eigen::Index>(n));
  for (Eigen::Index i = 0; i < Eigen::Index(n); ++i) {
    const auto k = static_cast<Eigen::Index>(random::below(rng, std::size_t(patches.data.rows())));
    X.row(i) = patches.data.row(k);
    y[i] = std::pow(double(X.row(i).mean()), 2);
  }
  y = (y.array() - y.mean()) / std::sqrt((y.array() - y.mean()).square().mean());
  strategies::DklOptions o;
  o.seed = 3;
  strategies::DklModel model(patches.data.cols(), o);
  model.train(X, y, 20);  // the previous steps' weights and Adam state (warm start)
  const auto spec = acquisition::parse_acquisition("ei");
  double t_train = 0, t_embed = 0, t_predict = 0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    model.train(X, y, 100);
    const auto t1 = Clock::now();
    const Eigen::MatrixXd z = model.embed(patches.data);
    const auto t2 = Clock::now();
    Eigen::VectorXd mean, var;
    model.gp().predict(z, mean, var);
    const Eigen::VectorXd a = acquisition::evaluate(spec, mean, var, y.maxCoeff(), rng);
    benchmark::DoNotOptimize(a.data());
    const auto t3 = Clock::now();
    t_train += std::chrono::duration<double>(t1 - t0).count();
    t_embed += std::chrono::duration<double>(t2 - t1).count();
    t_predict += std::chrono::duration<double>(t3 - t2).count();
  }
  const double it = double(state.iterations());
  state.counters["train_ms"] = 1e3 * t_train / it;
  state.counters["embed_ms"] = 1e3 * t_embed / it;
  state.counters["predict_acq_ms"] = 1e3 * t_predict / it;
  state.counters["candidates"] = double(patches.data.rows());
}

void Args(benchmark::internal::Benchmark* b) {
  b->Args({200, 128});
  if (const char* e = std::getenv("AUTOSTEM_BENCH_LARGE"); e && std::string(e) == "1") {
    b->Args({1000, 128});
    b->Args({200, 256});
    b->Args({1000, 256});
  }
  b->ArgNames({"n", "survey"})->Unit(benchmark::kMillisecond)->UseRealTime();
}
BENCHMARK(BM_DklStep)->Apply(Args);

}  // namespace

BENCHMARK_MAIN();
