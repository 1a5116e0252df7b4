// DKL decisions (docs/performance.md).
//  - BM_DklStep (issue 6, update=exact): warm-started training of 100 Adam iterations on n
//    measured patches, then embedding, GP mean and variance, and the acquisition (EI) over every
//    candidate of an S×S survey with 16×16 patches. Arguments: n, S.
//  - BM_FastDecision (issue 22, update=fast): one decision of the fast path, new value → next
//    proposal: add the value to the incremental posterior (the strategy's defaults: exact while
//    n ≤ 100, else VFE with r ≤ 100 inducing inputs), mean and variance of all S² candidates,
//    EI, argmax over the unmeasured ones (the new point's embedding is a row of the candidates'
//    embedding, computed with the network). Patch 8, 16 principal components. Third argument:
//    the embedding stretched by this factor (1 = as trained; 8 = spread out, so the greedy
//    inducing-point selection keeps the full r = 100 — the cost of a real run's posterior).
//  - BM_BackgroundRetrain (issue 22): the slow path at n values: 100 Adam iterations on a random
//    subset of 256 (retrain_subset), embedding of all S² candidates, and the posterior of all n
//    values; counter modelled_s = dkl_modelled_retrain_s() of the same sizes (retrain_s=auto).
// The large cases run only with AUTOSTEM_BENCH_LARGE=1 (the ctest smoke run must stay fast).
//   AUTOSTEM_BENCH_LARGE=1 bench_dkl --benchmark_repetitions=5 --benchmark_report_aggregates_only
#include <autostem/core/random.hpp>
#include <autostem/imaging/acquisition.hpp>
#include <autostem/strategies/dkl.hpp>
#include <autostem/strategies/incremental_gp.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
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

bool large() {
  const char* e = std::getenv("AUTOSTEM_BENCH_LARGE");
  return e && std::string(e) == "1";
}

/// The strategy's inputs on an S×S particle survey: 8×8 patches → 16 principal components, the
/// known property (mean of the patch)² per candidate, and a network trained briefly on 512.
struct FastSetup {
  strategies::PatchMatrix X;
  Eigen::VectorXd truth;
  std::unique_ptr<strategies::DklModel> model;
  Eigen::MatrixXd features;
  explicit FastSetup(std::size_t S) {
    const auto patches = strategies::extract_patches(particle_survey(S, 1), 8, 1);
    X = strategies::principal_component_scores(patches.data, 16);
    truth = patches.data.rowwise().mean().cast<double>().array().square();
    strategies::DklOptions o;
    o.seed = 3;
    model = std::make_unique<strategies::DklModel>(std::size_t(X.cols()), o);
    std::mt19937_64 rng(4);
    strategies::PatchMatrix Xs(512, X.cols());
    Eigen::VectorXd ys(512);
    for (Eigen::Index i = 0; i < 512; ++i) {
      const auto k = static_cast<Eigen::Index>(random::below(rng, std::size_t(X.rows())));
      Xs.row(i) = X.row(k);
      ys[i] = truth[k];
    }
    ys = (ys.array() - ys.mean()) / std::sqrt((ys.array() - ys.mean()).square().mean());
    model->train(Xs, ys, 50);
    features = model->embed(X);
  }
  /// n distinct random candidates and their values.
  std::pair<std::vector<std::size_t>, Eigen::VectorXd> sample(std::size_t n, std::uint64_t seed) const {
    std::vector<std::size_t> all(static_cast<std::size_t>(X.rows()));
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    std::mt19937_64 rng(seed);
    for (std::size_t i = 0; i < n; ++i) std::swap(all[i], all[i + random::below(rng, all.size() - i)]);
    all.resize(n);
    Eigen::VectorXd y(static_cast<Eigen::Index>(n));
    for (std::size_t i = 0; i < n; ++i) y[Eigen::Index(i)] = truth[Eigen::Index(all[i])];
    return {all, y};
  }
};

void BM_FastDecision(benchmark::State& state) {
  const auto n = std::size_t(state.range(0)), S = std::size_t(state.range(1));
  const double stretch = double(state.range(2));
  const FastSetup setup(S);
  auto [idx, y] = setup.sample(n, 5);
  strategies::gp::IncrementalOptions opt;  // the strategy's defaults: exact ≤ 100, r ≤ 100
  auto post = strategies::gp::IncrementalPosterior::build(strategies::gp::KernelKind::rbf, setup.model->hyper(),
                                                          setup.features * stretch, idx, y, opt);
  std::vector<char> measured(static_cast<std::size_t>(setup.X.rows()), 0);
  for (std::size_t k : idx) measured[k] = 1;
  double sum = y.sum(), sum2 = y.squaredNorm(), best = y.maxCoeff(), count = double(n);
  const auto spec = acquisition::parse_acquisition("ei");
  std::mt19937_64 rng(6);
  std::size_t next = 0;
  while (measured[next]) ++next;
  for (auto _ : state) {
    // The value of the last proposal arrives; the next proposal is the EI maximiser.
    const double v = setup.truth[Eigen::Index(next)];
    measured[next] = 1;
    sum += v;
    sum2 += v * v;
    count += 1;
    best = std::max(best, v);
    const double m = sum / count, sd = std::sqrt(std::max(sum2 / count - m * m, 1e-300));
    post.add(next, v);
    const Eigen::VectorXd mean = post.mean(m, sd);
    const Eigen::VectorXd a = acquisition::evaluate(spec, mean, post.variance(), (best - m) / sd, rng);
    double top = -std::numeric_limits<double>::infinity();
    for (Eigen::Index i = 0; i < a.size(); ++i)
      if (!measured[std::size_t(i)] && a[i] > top) {
        top = a[i];
        next = std::size_t(i);
      }
    benchmark::DoNotOptimize(next);
  }
  state.counters["candidates"] = double(setup.X.rows());
  state.counters["sparse"] = post.sparse();
  state.counters["inducing"] = post.sparse() ? double(post.inducing()) : 0.0;
  state.counters["posterior_MB"] = double(post.bytes()) / 1e6;
}

void FastArgs(benchmark::internal::Benchmark* b) {
  b->Args({100, 128, 1});
  b->Args({1000, 128, 1});
  if (large()) {
    b->Args({100, 256, 1});
    b->Args({1000, 256, 1});
    b->Args({5000, 256, 1});
    b->Args({1000, 256, 8});
    b->Args({5000, 256, 8});
  }
  b->ArgNames({"n", "survey", "stretch"})->Unit(benchmark::kMillisecond)->UseRealTime();
}
BENCHMARK(BM_FastDecision)->Apply(FastArgs);

void BM_BackgroundRetrain(benchmark::State& state) {
  const auto n = std::size_t(state.range(0)), S = std::size_t(state.range(1));
  const FastSetup setup(S);
  const auto [idx, y] = setup.sample(n, 7);
  double t_train = 0, t_embed = 0, t_build = 0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    // The strategy's retrain(): a random subset of at most 256 values, 100 Adam iterations.
    const std::size_t m = std::min<std::size_t>(256, n);
    strategies::PatchMatrix Xs(static_cast<Eigen::Index>(m), setup.X.cols());
    Eigen::VectorXd ys(static_cast<Eigen::Index>(m));
    for (std::size_t i = 0; i < m; ++i) {
      Xs.row(Eigen::Index(i)) = setup.X.row(Eigen::Index(idx[i]));  // idx is already a random order
      ys[Eigen::Index(i)] = y[Eigen::Index(i)];
    }
    ys = (ys.array() - y.mean()) / std::sqrt((y.array() - y.mean()).square().mean());
    setup.model->train(Xs, ys, 100);
    const auto t1 = Clock::now();
    const Eigen::MatrixXd z = setup.model->embed(setup.X);
    const auto t2 = Clock::now();
    auto post = strategies::gp::IncrementalPosterior::build(strategies::gp::KernelKind::rbf,
                                                            setup.model->hyper(), z, idx, y, {});
    benchmark::DoNotOptimize(post.variance().data());
    const auto t3 = Clock::now();
    t_train += std::chrono::duration<double>(t1 - t0).count();
    t_embed += std::chrono::duration<double>(t2 - t1).count();
    t_build += std::chrono::duration<double>(t3 - t2).count();
  }
  const double it = double(state.iterations());
  state.counters["train_s"] = t_train / it;
  state.counters["embed_s"] = t_embed / it;
  state.counters["posterior_s"] = t_build / it;
  strategies::DklRetrainSize size;
  size.iterations = 100;
  size.subset = std::min<std::size_t>(256, n);
  size.candidates = std::size_t(setup.X.rows());
  size.net_params = (std::size_t(setup.X.cols()) + 1) * 64 + 65 * 64 + 65 * 2;  // 16-64-64-2
  size.values = n;
  state.counters["modelled_s"] = strategies::dkl_modelled_retrain_s(size);
}

void RetrainArgs(benchmark::internal::Benchmark* b) {
  b->Args({1000, 128});
  if (large()) {
    b->Args({100, 256});
    b->Args({1000, 256});
    b->Args({5000, 256});
  }
  b->ArgNames({"n", "survey"})->Unit(benchmark::kSecond)->UseRealTime()->Iterations(2);
}
BENCHMARK(BM_BackgroundRetrain)->Apply(RetrainArgs);

}  // namespace

BENCHMARK_MAIN();
