// The live DM backend on loopback against the fake DigitalMicrograph (the real server script
// under python3; the fake does not sleep, so the exposure costs nothing and what is measured is
// the overhead the backend adds per point: request, DM script calls, move, acquire, read-back,
// HMAC, 2048-channel transfer).
//   BM_DmPointOverhead   submit + collect of one point; counters median_ms, p95_ms
//   BM_DmSurvey1024      a 1024x1024 float32 survey; counters transfer_median_ms (round trip
//                        minus the time the server spent in DM), server_ms
//   BM_OverlapLive/Sim   issue 17: live --overlap hides compute as in the simulator (below)
// Targets (issue 7): point overhead median <= 20 ms, 1024x1024 survey transfer <= 50 ms.
// The seed's nested-list encoding of the same payloads: bench/bench_dm_serpent.py.

#include "dm_test_server.hpp"

#include <autostem/backends/dm_client.hpp>
#include <autostem/backends/simulated.hpp>
#include <autostem/core/session.hpp>
#include <autostem/core/strategy.hpp>
#include <autostem/datasets/phantoms.hpp>
#include <autostem/datasets/npy.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

namespace {

using autostem::testing::DmServerProcess;
namespace ds = autostem::datasets;

std::filesystem::path temp_file(const std::string& name) {
  return std::filesystem::temp_directory_path() /
         ("autostem-bench-dm-" + std::to_string(::getpid()) + "-" + name);
}

/// A (rows, cols, channels) float32 spectrum image or a (rows, cols) float32 survey as .npy.
std::filesystem::path write_npy(const std::string& name, std::vector<std::size_t> shape) {
  ds::Signal s;
  s.dtype = ds::DType::float32;
  std::size_t n = 1;
  for (auto d : shape) {
    autostem::AxisCalibration a;
    a.size = d;
    s.axes.push_back(a);
    n *= d;
  }
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(100.0 + double(i % 977));
  s.bytes.resize(n * sizeof(float));
  std::memcpy(s.bytes.data(), v.data(), s.bytes.size());
  const auto path = temp_file(name);
  ds::write_npy(path, s);
  return path;
}

autostem::backends::DmClientOptions options(std::uint16_t port) {
  autostem::backends::DmClientOptions o;
  o.port = port;
  o.key = autostem::testing::test_key();
  o.log = [](const std::string&) {};
  return o;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * double(v.size() - 1) + 0.5)];
}

void BM_DmPointOverhead(benchmark::State& state) {
  const auto si = write_npy("si.npy", {16, 16, 2048});
  {
    DmServerProcess server({{"dataset", si.string()}, {"noise", false}}, 16, 16,
                           {{"survey_bytes_per_pixel", 4}});
    autostem::backends::DmInstrument inst(options(server.port()));
    if (inst.describe().energy.channels != 2048) state.SkipWithError("expected 2048 channels");
    autostem::SurveySettings ss;
    ss.dwell_s = 1e-6;
    inst.acquire_survey(ss);
    autostem::PointSettings ps;
    ps.exposure_s = 1e-6;  // the fake does not sleep: effectively zero exposure
    std::vector<double> times;
    std::size_t i = 0;
    for (auto _ : state) {
      const autostem::Position p{double(i % 16), double((i / 16) % 16)};
      ++i;
      const auto t0 = std::chrono::steady_clock::now();
      inst.submit(std::span(&p, 1), ps, autostem::AcquisitionMode::point);
      auto ms = inst.collect(true);
      times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      benchmark::DoNotOptimize(ms);
    }
    state.counters["median_ms"] = 1e3 * quantile(times, 0.5);
    state.counters["p95_ms"] = 1e3 * quantile(times, 0.95);
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * 2048 * 4);
  }
  std::filesystem::remove(si);
}
BENCHMARK(BM_DmPointOverhead)->Unit(benchmark::kMillisecond)->Iterations(200);

void BM_DmSurvey1024(benchmark::State& state) {
  const auto sv = write_npy("survey.npy", {1024, 1024});
  {
    DmServerProcess server({{"survey", sv.string()}, {"noise", false}}, 1024, 1024,
                           {{"survey_bytes_per_pixel", 4}});
    autostem::backends::DmInstrument inst(options(server.port()));
    autostem::SurveySettings ss;
    ss.dwell_s = 1e-6;
    std::vector<double> transfer, server_s;
    for (auto _ : state) {
      const auto t0 = std::chrono::steady_clock::now();
      auto s = inst.acquire_survey(ss);
      const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      benchmark::DoNotOptimize(s);
      server_s.push_back(inst.link_stats().last_survey_server_s);
      transfer.push_back(total - server_s.back());
    }
    state.counters["transfer_median_ms"] = 1e3 * quantile(transfer, 0.5);
    state.counters["server_ms"] = 1e3 * quantile(server_s, 0.5);
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * 1024 * 1024 * 4);
  }
  std::filesystem::remove(sv);
}
BENCHMARK(BM_DmSurvey1024)->Unit(benchmark::kMillisecond)->Iterations(20);

// issue 17, Done-when: live --overlap hides compute as in the simulator. A strategy that
// really computes (sleeps) 0.3 s per decision, 0.5 s exposures, rsi2024-remote timing; the live
// client against the fake DM server on loopback, which sleeps the simulated time of each
// acquisition (--realtime 1), so the live figure is wall time, measured at each measurement's
// arrival in the sink; the simulated figure is session time. Counters: s_per_point (median of
// consecutive arrivals) for overlap on (arg 1) and off (arg 0).
//   BM_OverlapLive/1, BM_OverlapLive/0   wall seconds per point, live client + fake server
//   BM_OverlapSim/1,  BM_OverlapSim/0    session seconds per point, SimulatedInstrument
class SleepyStrategy final : public autostem::Strategy {
 public:
  std::string name() const override { return "sleepy"; }
  autostem::Parameters parameters() const override { return {{"compute_s", "0.3"}}; }
  void begin(const autostem::Survey& survey, const autostem::StrategyContext&) override {
    rows_ = std::size_t(survey.image.data.rows());
    cols_ = std::size_t(survey.image.data.cols());
  }
  std::vector<autostem::Position> propose(std::size_t) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ++k_;
    return {{double((7 * k_) % rows_), double((13 * k_) % cols_)}};
  }
  void observe(std::span<const autostem::Measurement>) override {}

 private:
  std::size_t rows_ = 1, cols_ = 1, k_ = 0;
};

struct ArrivalClock : autostem::MeasurementSink {
  std::vector<double> arrivals, session_ends;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  void on_begin(const autostem::RunInfo&, const autostem::Survey&) override {}
  void on_measurement(const autostem::Measurement& m) override {
    arrivals.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    session_ends.push_back(m.t_end_s);
  }
  void on_end(const autostem::RunSummary&, const std::optional<autostem::Image>&) override {}
  static double median_step(const std::vector<double>& t) {
    std::vector<double> d;
    for (std::size_t i = 1; i < t.size(); ++i) d.push_back(t[i] - t[i - 1]);
    return quantile(d, 0.5);
  }
};

autostem::SessionConfig overlap_config(bool overlap) {
  autostem::SessionConfig c;
  c.budget.max_points = 12;
  c.batch_size = 1;
  c.point.exposure_s = 0.5;
  c.survey.dwell_s = 1e-5;
  c.mode = autostem::AcquisitionMode::point;
  c.overlap = overlap;
  c.compute.kind = autostem::ComputeTiming::Kind::measured;
  return c;
}

void BM_OverlapLive(benchmark::State& state) {
  const bool overlap = state.range(0) != 0;
  for (auto _ : state) {
    DmServerProcess server({{"phantom", "nanowire"}, {"rows", 32}, {"cols", 32},
                            {"profile", "rsi2024-remote"}, {"realtime", 1.0}}, 32, 32);
    autostem::backends::DmInstrument inst(options(server.port()));
    SleepyStrategy strategy;
    autostem::Session session(inst, strategy, overlap_config(overlap));
    ArrivalClock clock;
    session.add_sink(clock);
    session.run();
    state.counters["s_per_point"] = ArrivalClock::median_step(clock.arrivals);
    state.counters["rehearsal_s_per_point"] = ArrivalClock::median_step(clock.session_ends);
  }
}
BENCHMARK(BM_OverlapLive)->Arg(1)->Arg(0)->Unit(benchmark::kSecond)->Iterations(1);

void BM_OverlapSim(benchmark::State& state) {
  const bool overlap = state.range(0) != 0;
  for (auto _ : state) {
    autostem::backends::SimulatedOptions o;
    o.profile = "rsi2024-remote";
    auto inst = autostem::backends::make_simulated_instrument(
        autostem::datasets::make_phantom("nanowire", 0, 32, 32), o);
    SleepyStrategy strategy;
    autostem::Session session(*inst, strategy, overlap_config(overlap));
    ArrivalClock clock;
    session.add_sink(clock);
    session.run();
    state.counters["s_per_point"] = ArrivalClock::median_step(clock.session_ends);
  }
}
BENCHMARK(BM_OverlapSim)->Arg(1)->Arg(0)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
