// The edge strategy's planning (begin(): smoothing, Sobel, threshold, thinning, nearest-neighbour
// path, 2-opt) on a 1024×1024 survey, and the path stages alone. Run: bench_edge (Release).
#include <autostem/strategies/edge.hpp>

#include <benchmark/benchmark.h>

#include <cmath>
#include <random>

namespace {

using autostem::ImageArray;
using autostem::Position;

// An n×n nanowire-like HAADF survey: vacuum 20, wire 130, Au cap 400 counts, Gaussian noise
// with variance = mean (the stand-in of tests/strategies/test_edge.cpp scaled to n).
ImageArray survey_of_size(int n) {
  std::mt19937_64 g(11);
  auto u = [&] { return std::max(double(g() >> 11) * 0x1.0p-53, 1e-300); };
  const double s = n / 128.0;
  ImageArray img(n, n);
  for (int r = 0; r < n; ++r)
    for (int c = 0; c < n; ++c) {
      double v = 20.0;
      if (std::abs(r - 64.0 * s - 0.15 * (c - 64.0 * s)) < 15.0 * s && c < 92 * s) v = 130.0;
      if (std::hypot(r - 68.0 * s, c - 96.0 * s) < 19.0 * s) v = 400.0;
      img(r, c) = v + std::sqrt(v) * std::sqrt(-2 * std::log(u())) * std::cos(2 * M_PI * u());
    }
  return img;
}

void BM_EdgeBegin1024(benchmark::State& st) {
  autostem::Survey survey;
  survey.image.data = survey_of_size(1024);
  autostem::StrategyContext ctx;
  ctx.instrument.field_rows = ctx.instrument.field_cols = 1024;
  autostem::strategies::EdgeStrategy edge(
      autostem::Parameters{{"threshold", st.range(0) ? "otsu" : "mean"}});
  for (auto _ : st) edge.begin(survey, ctx);
  st.counters["points"] = double(edge.plan().size());
  st.counters["candidates"] = double(edge.candidates());
}
BENCHMARK(BM_EdgeBegin1024)->Arg(0)->Arg(1)->ArgNames({"otsu"})->Unit(benchmark::kMillisecond);

// The seed's case: a 128×128 survey with the defaults.
void BM_EdgeBegin128(benchmark::State& st) {
  autostem::Survey survey;
  survey.image.data = survey_of_size(128);
  autostem::StrategyContext ctx;
  ctx.instrument.field_rows = ctx.instrument.field_cols = 128;
  autostem::strategies::EdgeStrategy edge;
  for (auto _ : st) edge.begin(survey, ctx);
  st.counters["points"] = double(edge.plan().size());
}
BENCHMARK(BM_EdgeBegin128)->Unit(benchmark::kMillisecond);

std::vector<Position> random_points(std::size_t n) {
  std::mt19937_64 g(5);
  std::vector<Position> ps(n);
  for (auto& p : ps) p = {double(g() % 1024), double(g() % 1024)};
  return ps;
}

void BM_NearestNeighbourPath(benchmark::State& st) {
  const auto ps = random_points(static_cast<std::size_t>(st.range(0)));
  for (auto _ : st) benchmark::DoNotOptimize(autostem::strategies::nearest_neighbour_path(ps));
}
BENCHMARK(BM_NearestNeighbourPath)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_TwoOpt(benchmark::State& st) {
  const auto ps = random_points(static_cast<std::size_t>(st.range(0)));
  const auto nn = autostem::strategies::nearest_neighbour_path(ps);
  double gain = 0;
  for (auto _ : st) {
    auto order = nn;
    autostem::strategies::two_opt(ps, order, 50);
    gain = 1.0 - autostem::strategies::path_length(ps, order) /
                     autostem::strategies::path_length(ps, nn);
  }
  st.counters["shorter_by"] = gain;
}
BENCHMARK(BM_TwoOpt)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
