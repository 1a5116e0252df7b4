// The live DigitalMicrograph backend end to end: the real server script under python3 with the
// fake DigitalMicrograph module (the simulator behind it) on loopback, driven by DmInstrument
// through the same Session as a simulated run.
//
// Interchangeability: with the same seed, a run through the server yields exactly the positions
// and signals of an in-process simulated run. Why exactly: the fake builds the same
// SimulatedInstrument (same ground truth, profile, seed); the server sends positions as JSON
// doubles (shortest round-trip text both ways), the fake's DigiScan frame maps pixels to DigiScan
// units by a power-of-two spacing with zero offset (exact), the survey travels as float64, the
// spectra as float32 (what the simulator produces), and the spectra are acquired one at a time
// in the same order, so every random stream is drawn in the same order. Drift is zero in the
// default simulated options, so the live clock (which does not see strategy compute) does not
// change where the probe lands.

#include "dm_test_server.hpp"

#include <autostem/backends/dm_client.hpp>
#include <autostem/backends/simulated.hpp>
#include <autostem/core/session.hpp>
#include <autostem/datasets/phantoms.hpp>
#include <autostem/datasets/results.hpp>
#include <autostem/strategies/registry.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <algorithm>
#include <functional>

namespace autostem {
namespace {

using testing::DmServerProcess;
using testing::DroppingProxy;

constexpr std::size_t kRows = 32, kCols = 32;
constexpr std::uint64_t kSeed = 11;

nlohmann::json fake_config() {
  return {{"phantom", "nanowire"}, {"rows", kRows}, {"cols", kCols}, {"seed", kSeed},
          {"profile", "rsi2024-remote"}, {"noise", true}};
}

class Recorder final : public MeasurementSink {
 public:
  std::vector<Measurement> ms;
  Survey survey;
  RunSummary summary;
  bool ended = false;
  std::function<void(std::size_t)> after_each;
  void on_begin(const RunInfo&, const Survey& s) override { survey = s; }
  void on_measurement(const Measurement& m) override {
    ms.push_back(m);
    if (after_each) after_each(ms.size());
  }
  void on_end(const RunSummary& s, const std::optional<Image>&) override {
    summary = s;
    ended = true;
  }
};

SessionConfig session_config(std::size_t points) {
  SessionConfig c;
  c.seed = kSeed;
  c.budget.max_points = points;
  c.point.exposure_s = 0.05;
  c.survey.dwell_s = 1e-5;
  c.mode = AcquisitionMode::point;
  c.compute.kind = ComputeTiming::Kind::fixed;
  c.compute.value = 0.0;
  return c;
}

Parameters params_for(const std::string& strategy) {
  if (strategy == "grid") return {{"step", "3"}};
  return {};
}

Recorder run_simulated(const std::string& strategy, std::size_t points) {
  backends::SimulatedOptions o;
  o.profile = "rsi2024-remote";
  o.seed = kSeed;
  auto inst = backends::make_simulated_instrument(datasets::make_phantom("nanowire", kSeed, kRows, kCols), o);
  auto strat = strategies::make_strategy(strategy, params_for(strategy));
  Recorder rec;
  Session s(*inst, *strat, session_config(points));
  s.add_sink(rec);
  s.run();
  return rec;
}

backends::DmClientOptions client_options(std::uint16_t port) {
  backends::DmClientOptions o;
  o.port = port;
  o.key = testing::test_key();
  o.connect_timeout_s = 10.0;
  o.call_timeout_s = 10.0;
  o.log = [](const std::string&) {};
  return o;
}

class LiveVsSimulated : public ::testing::TestWithParam<std::string> {};

TEST_P(LiveVsSimulated, SamePositionsAndSignalsForTheSameSeed) {
  const std::string strategy = GetParam();
  const std::size_t points = 40;
  const Recorder sim = run_simulated(strategy, points);

  DmServerProcess server(fake_config(), kRows, kCols);
  Recorder live;
  {
    backends::DmInstrument inst(client_options(server.port()));
    const InstrumentInfo info = inst.describe();
    EXPECT_EQ(info.field_rows, kRows);
    EXPECT_EQ(info.field_cols, kCols);
    auto strat = strategies::make_strategy(strategy, params_for(strategy));
    Session s(inst, *strat, session_config(points));
    s.add_sink(live);
    const RunSummary summary = s.run();
    EXPECT_EQ(summary.stop_reason, sim.summary.stop_reason);
    EXPECT_EQ(inst.link_stats().reconnects, 0u);
  }
  ASSERT_TRUE(sim.survey.image.data.isApprox(live.survey.image.data, 0.0))
      << "the survey differs between the simulated and the live run";
  ASSERT_GT(sim.ms.size(), 0u);
  ASSERT_EQ(live.ms.size(), sim.ms.size());
  for (std::size_t i = 0; i < sim.ms.size(); ++i) {
    SCOPED_TRACE("measurement " + std::to_string(i));
    EXPECT_EQ(live.ms[i].requested, sim.ms[i].requested);
    EXPECT_EQ(live.ms[i].actual, sim.ms[i].actual);
    ASSERT_EQ(live.ms[i].signal, sim.ms[i].signal);
    EXPECT_LE(live.ms[i].t_start_s, live.ms[i].t_end_s);
    if (i) {
      EXPECT_GE(live.ms[i].t_start_s, live.ms[i - 1].t_end_s);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Strategies, LiveVsSimulated, ::testing::Values("grid", "random", "edge"));

TEST(DmLive, WrongKeyIsRefusedAndServerKeepsServing) {
  DmServerProcess server(fake_config(), kRows, kCols);
  auto o = client_options(server.port());
  o.key.assign(32, 0x55);
  try {
    backends::DmInstrument inst(o);
    FAIL() << "a wrong key was accepted";
  } catch (const backends::DmRefused& e) {
    EXPECT_NE(std::string(e.what()).find("authentication"), std::string::npos) << e.what();
  }
  backends::DmInstrument ok(client_options(server.port()));
  EXPECT_EQ(ok.describe().field_rows, kRows);
}

TEST(DmLive, ExposureAboveTheServerLimitIsRefusedBeforeSending) {
  DmServerProcess server(fake_config(), kRows, kCols, {{"limits", {{"max_exposure_s", 0.5}}}});
  backends::DmInstrument inst(client_options(server.port()));
  EXPECT_EQ(inst.describe().max_exposure_s, 0.5);
  const Position p{1, 1};
  PointSettings s;
  s.exposure_s = 0.6;
  EXPECT_THROW(inst.submit(std::span(&p, 1), s, AcquisitionMode::point), std::invalid_argument);
  EXPECT_EQ(inst.in_flight(), 0u);
}

TEST(DmLive, DoseBudgetExhaustedEndsTheRunWithEveryMeasurementKept) {
  // Room for the survey (32x32 x 10 us x 30 pA) and 5 spectra of 0.05 s, not a 6th.
  const double area_A2 = double(kRows * kCols) * 6.0 * 6.0 * 100.0;
  const double e_survey = electrons(30.0, 1e-5 * double(kRows * kCols));
  const double e_point = electrons(30.0, 0.05);
  const double limit = (e_survey + 5.5 * e_point) / area_A2;
  DmServerProcess server(fake_config(), kRows, kCols,
                         {{"limits", {{"max_dose_e_per_A2_per_session", limit}}}});
  backends::DmInstrument inst(client_options(server.port()));
  auto strat = strategies::make_strategy("random");
  Recorder rec;
  Session s(inst, *strat, session_config(20));
  s.add_sink(rec);
  try {
    s.run();
    FAIL() << "the server's dose limit did not stop the run";
  } catch (const SessionError& e) {
    EXPECT_NE(std::string(e.what()).find("dose budget exhausted"), std::string::npos) << e.what();
    EXPECT_EQ(e.summary.measurements, 5u);
  }
  EXPECT_EQ(rec.ms.size(), 5u);
  EXPECT_TRUE(rec.ended);
}

TEST(DmLive, ConnectionDroppedThenRestoredNeitherLosesNorRepeatsAPoint) {
  const std::size_t points = 12;
  const Recorder sim = run_simulated("random", points);
  DmServerProcess server(fake_config(), kRows, kCols);
  // Server frames: 1 hello, 2 handshake, 3 info, 4 survey, 5 estimate_point (the fake is a
  // rehearsal server: the cost of a point is the simulator's), then acquire (6), blank (7),
  // acquire (8), blank (9), acquire (10): the answer to the 3rd spectrum is lost after the
  // server acquired it.
  DroppingProxy proxy(server.port(), 10);
  Recorder live;
  backends::DmLinkStats stats;
  {
    backends::DmInstrument inst(client_options(proxy.port()));
    auto strat = strategies::make_strategy("random");
    Session s(inst, *strat, session_config(points));
    s.add_sink(live);
    s.run();
    stats = inst.link_stats();
  }
  EXPECT_EQ(proxy.drops(), 1);
  EXPECT_EQ(stats.reconnects, 1u);
  EXPECT_EQ(stats.resumed, 1u);
  // Identical to the uninterrupted simulated run: had the point been acquired twice, every later
  // signal would differ (the fake's noise stream would be one spectrum ahead).
  ASSERT_EQ(live.ms.size(), sim.ms.size());
  for (std::size_t i = 0; i < sim.ms.size(); ++i) {
    EXPECT_EQ(live.ms[i].requested, sim.ms[i].requested) << i;
    EXPECT_EQ(live.ms[i].signal, sim.ms[i].signal) << i;
  }
}

TEST(DmLive, ServerKilledMidRunIsReportedTheFileHoldsEveryMeasurementAndTheRunResumes) {
  DmServerProcess server(fake_config(), kRows, kCols);
  auto o = client_options(server.port());
  o.reconnect_attempts = 2;
  o.reconnect_backoff_s = 0.05;
  o.connect_timeout_s = 1.0;
  const auto path = std::filesystem::temp_directory_path() /
                    ("autostem-dm-killed-" + std::to_string(::getpid()) + ".h5");
  std::size_t written = 0;
  {
    backends::DmInstrument inst(o);
    auto strat = strategies::make_strategy("random");
    datasets::ResultsWriter writer(path, datasets::ResultsProvenance{"live", "live: test", "test", ""});
    Recorder rec;
    rec.after_each = [&](std::size_t n) {
      if (n == 6) server.kill_now();
    };
    Session s(inst, *strat, session_config(30));
    s.add_sink(writer);
    s.add_sink(rec);
    const auto t0 = std::chrono::steady_clock::now();
    try {
      s.run();
      FAIL() << "the run went on without a server";
    } catch (const SessionError& e) {
      EXPECT_EQ(e.summary.measurements, 6u);
      EXPECT_NE(std::string(e.what()).find("gave up after 2 reconnection attempts"),
                std::string::npos) << e.what();
    }
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30.0);
    written = rec.ms.size();
  }
  datasets::RunRecord record = datasets::read_results(path);
  EXPECT_EQ(record.measurements(), written);
  EXPECT_EQ(written, 6u);
  std::filesystem::remove(path);

  // The operator restarts the server and resumes from the file (`autostem run --resume`): the
  // run continues with the points it had not measured, none twice, none lost.
  const Recorder reference = run_simulated("random", 30);
  DmServerProcess restarted(fake_config(), kRows, kCols);
  backends::DmInstrument inst(client_options(restarted.port()));
  auto strat = strategies::make_strategy("random");
  std::vector<Measurement> recorded(record.measurements());
  for (std::size_t i = 0; i < recorded.size(); ++i) {
    recorded[i].requested = record.requested[i];
    recorded[i].signal = record.signals[i];
  }
  Recorder resumed;
  Session s(inst, *strat, session_config(30));
  s.add_sink(resumed);
  s.resume_from(record.survey, recorded);
  const RunSummary sum = s.run();
  EXPECT_EQ(sum.resumed_measurements, 6u);
  EXPECT_EQ(sum.resume_unused, 0u);
  ASSERT_EQ(resumed.ms.size(), reference.ms.size());
  for (std::size_t i = 0; i < reference.ms.size(); ++i)
    EXPECT_EQ(resumed.ms[i].requested, reference.ms[i].requested) << i;
  // The first six spectra are the ones measured before the server died, not new acquisitions.
  for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ(resumed.ms[i].signal, record.signals[i]) << i;
}

TEST(DmLive, StalledServerTimesOutWithinTheBound) {
  DmServerProcess server(fake_config(), kRows, kCols);
  auto o = client_options(server.port());
  o.call_timeout_s = 0.5;
  o.connect_timeout_s = 0.5;
  o.reconnect_attempts = 1;
  o.reconnect_backoff_s = 0.05;
  backends::DmInstrument inst(o);
  SurveySettings ss;
  ss.dwell_s = 1e-5;
  inst.acquire_survey(ss);
  server.signal(SIGSTOP);
  const Position p{3, 3};
  PointSettings ps;
  ps.exposure_s = 0.01;
  inst.submit(std::span(&p, 1), ps, AcquisitionMode::point);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(inst.collect(true), std::runtime_error);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(waited, 5.0);
  EXPECT_EQ(inst.in_flight(), 1u) << "the failed point must stay queued";
  server.signal(SIGCONT);
  // Once the server answers again the same point is acquired (or taken from its cache).
  const auto ms = inst.collect(true);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(ms[0].requested, p);
}

}  // namespace
}  // namespace autostem

namespace autostem {
namespace {

// issue 17, Done-when: a rehearsed 64x64 si_scan grid takes the simulated SI time, not the
// point-by-point time. The grid is submitted line by line (batch = one row of 64) in si_scan
// mode; the rehearsal's experiment time must equal the in-process simulated run's and be far
// below what the same grid costs point by point.
TEST(DmLive, Rehearsed64x64SiScanGridTakesTheSimulatedSiTime) {
  constexpr std::size_t n = 64;
  const nlohmann::json fake = {{"phantom", "nanowire"}, {"rows", n}, {"cols", n}, {"seed", kSeed},
                               {"profile", "rsi2024-remote"}, {"noise", true}};
  SessionConfig c = session_config(n * n);
  c.mode = AcquisitionMode::si_scan;
  c.batch_size = n;
  c.point.exposure_s = 0.01;

  backends::SimulatedOptions o;
  o.profile = "rsi2024-remote";
  o.seed = kSeed;
  auto sim = backends::make_simulated_instrument(datasets::make_phantom("nanowire", kSeed, n, n), o);
  const double point_s = sim->estimate_point(c.point, AcquisitionMode::point).time_s;
  auto grid = strategies::make_strategy("grid");
  Session sim_session(*sim, *grid, c);
  const RunSummary want = sim_session.run();

  DmServerProcess server(fake, n, n);
  backends::DmInstrument inst(client_options(server.port()));
  ASSERT_TRUE(inst.describe().can_si_scan);
  auto grid2 = strategies::make_strategy("grid");
  Session live(inst, *grid2, c);
  const RunSummary got = live.run();
  ASSERT_EQ(got.measurements, n * n) << got.message;
  EXPECT_EQ(got.measurements, want.measurements);
  EXPECT_NEAR(got.time_s, want.time_s, 1e-6) << "the rehearsal reports the simulated SI time";
  const double point_by_point = want.survey_time_s + double(n * n) * point_s;
  EXPECT_LT(got.time_s, 0.5 * point_by_point)
      << "SI " << got.time_s << " s vs point by point " << point_by_point << " s";
  std::printf("64x64 si_scan rehearsal: %.4g s (simulated %.4g s; point by point would be %.4g s; "
              "wall %.3g s)\n", got.time_s, want.time_s, point_by_point, got.wall_s);
}

}  // namespace
}  // namespace autostem

namespace autostem {
namespace {

// issue 17, Done-when: killing and restarting the server keeps the dose already spent in its
// budget. The server is SIGKILLed after a session (no chance to save on the way out); a new
// server with the same dose_file reports the electrons spent, and its budget binds on them.
TEST(DmLive, ServerKilledAndRestartedKeepsTheDoseAlreadySpent) {
  char tmpl[] = "/tmp/autostem-dm-dose-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::filesystem::path dir = tmpl;
  const nlohmann::json extra = {{"dose_file", (dir / "budget.dose.json").string()}};
  double spent = 0.0;
  {
    DmServerProcess server(fake_config(), kRows, kCols, extra);
    backends::DmInstrument inst(client_options(server.port()));
    EXPECT_EQ(inst.link_stats().server_electrons_used, 0.0);
    auto random = strategies::make_strategy("random");
    Session s(inst, *random, session_config(10));
    EXPECT_EQ(s.run().measurements, 10u);
    spent = inst.total_electrons();
    ASSERT_GT(spent, 0.0);
    server.kill_now();
  }
  {
    DmServerProcess server(fake_config(), kRows, kCols, extra);
    backends::DmInstrument inst(client_options(server.port()));
    EXPECT_NEAR(inst.link_stats().server_electrons_used, spent, 1e-9 * spent)
        << "the restarted server starts from the dose already spent";
  }
  // A budget just above what was spent: the restarted server refuses the next survey.
  {
    const double area_A2 = double(kRows * kCols) * 60.0 * 60.0;  // 6 nm pixels
    nlohmann::json tight = extra;
    tight["limits"] = {{"max_dose_e_per_A2_per_session", (spent * 1.0001) / area_A2}};
    DmServerProcess server(fake_config(), kRows, kCols, tight);
    backends::DmInstrument inst(client_options(server.port()));
    SurveySettings sv;
    sv.dwell_s = 1e-5;
    try {
      inst.acquire_survey(sv);
      ADD_FAILURE() << "the survey should exceed the kept budget";
    } catch (const backends::DmRefused& e) {
      EXPECT_NE(std::string(e.what()).find("dose budget exhausted"), std::string::npos) << e.what();
    }
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace autostem

namespace autostem {
namespace {

// issue 17, Done-when: changing the field between two sessions needs no server restart. One
// fake server whose limits let a client choose the survey shape (up to 64x64) and the pixel size
// (1-10 nm); the nanowire phantom covers 192 nm, so DigiScan's pixel size follows the shape
// (the fake makes the phantom again at the shape asked, docs/live.md §2). Session 1 asks 48x48
// at 4 nm, session 2 asks nothing (the settings' 32x32 at 6 nm), session 3 asks 64x64 at 3 nm:
// each is honoured — survey shape, positions over the whole field, DM's calibration read back —
// by the same server process.
TEST(DmLive, TheFieldChangesBetweenTwoSessionsWithoutARestart) {
  const nlohmann::json limits = {
      {"limits", {{"max_survey_shape", {64, 64}}, {"pixel_size_nm_range", {1.0, 10.0}}}}};
  DmServerProcess server(fake_config(), kRows, kCols, limits);
  const pid_t pid = server.pid();
  struct Asked {
    std::size_t rows, cols;
    double pixel_nm;
  };
  for (const Asked a : {Asked{48, 48, 4.0}, Asked{0, 0, 0.0}, Asked{64, 64, 3.0}}) {
    const std::size_t rows = a.rows ? a.rows : kRows, cols = a.cols ? a.cols : kCols;
    const double pixel_nm = a.pixel_nm > 0 ? a.pixel_nm : 6.0;
    SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols) + " at " + std::to_string(pixel_nm) + " nm");
    auto o = client_options(server.port());
    o.survey_rows = a.rows;
    o.survey_cols = a.cols;
    o.pixel_size_nm = a.pixel_nm;
    backends::DmInstrument inst(o);
    const InstrumentInfo info = inst.describe();
    EXPECT_EQ(info.field_rows, rows);
    EXPECT_EQ(info.field_cols, cols);
    EXPECT_EQ(info.calibration.pixel_size_nm, pixel_nm);
    auto random = strategies::make_strategy("random");
    Recorder rec;
    Session s(inst, *random, session_config(24));
    s.add_sink(rec);
    const RunSummary sum = s.run();
    EXPECT_EQ(sum.measurements, 24u) << sum.message;
    EXPECT_EQ(std::size_t(rec.survey.image.data.rows()), rows);
    EXPECT_EQ(std::size_t(rec.survey.image.data.cols()), cols);
    double max_row = 0, max_col = 0;
    for (const auto& m : rec.ms) {
      EXPECT_LT(m.requested.row, double(rows) - 0.5);
      EXPECT_LT(m.requested.col, double(cols) - 0.5);
      max_row = std::max(max_row, m.requested.row);
      max_col = std::max(max_col, m.requested.col);
    }
    // 24 random positions over the field reach its last third (the field is really that big).
    EXPECT_GT(max_row, double(rows) * 2.0 / 3.0);
    EXPECT_GT(max_col, double(cols) * 2.0 / 3.0);
    const backends::DmLinkStats st = inst.link_stats();
    EXPECT_DOUBLE_EQ(st.survey_dm_pixel_size_nm, 192.0 / double(std::max(rows, cols)))
        << "the pixel size DM's survey calibration shows, read back by the server";
    EXPECT_NEAR(st.survey_dm_magnification, 1e8 / 192.0, 1e-6) << "the fake's nominal magnification tag";
    if (a.rows == 48) {
      // The first session at the new shape is the in-process simulated run of that shape.
      backends::SimulatedOptions so;
      so.profile = "rsi2024-remote";
      so.seed = kSeed;
      auto sim = backends::make_simulated_instrument(datasets::make_phantom("nanowire", kSeed, rows, cols), so);
      auto random_sim = strategies::make_strategy("random");
      Recorder want;
      Session ss(*sim, *random_sim, session_config(24));
      ss.add_sink(want);
      ss.run();
      ASSERT_EQ(want.ms.size(), rec.ms.size());
      ASSERT_EQ(want.survey.image.data.rows(), rec.survey.image.data.rows());
      ASSERT_EQ(want.survey.image.data.cols(), rec.survey.image.data.cols());
      EXPECT_TRUE((want.survey.image.data == rec.survey.image.data).all()) << "the survey";
      for (std::size_t i = 0; i < want.ms.size(); ++i) {
        EXPECT_EQ(want.ms[i].requested, rec.ms[i].requested) << i;
        EXPECT_EQ(want.ms[i].signal, rec.ms[i].signal) << i;
      }
    }
  }
  EXPECT_EQ(server.pid(), pid) << "one server process throughout";
  const std::string log = server.log_text();
  EXPECT_NE(log.find("session field: 48x48 pixels of 4 nm"), std::string::npos) << log;
  EXPECT_NE(log.find("session field: 64x64 pixels of 3 nm"), std::string::npos) << log;
}

// A field outside the server's limits is refused with the limit named; a pixel size DM's survey
// calibration does not confirm refuses the session after its survey (no position accepted);
// the server goes on serving a client that asks within its limits.
TEST(DmLive, AFieldOutsideTheServersLimitsIsRefusedWithTheLimitNamed) {
  const nlohmann::json limits = {
      {"limits", {{"max_survey_shape", {64, 64}}, {"pixel_size_nm_range", {1.0, 10.0}}}}};
  DmServerProcess server(fake_config(), kRows, kCols, limits);
  const auto refused = [&](std::size_t rows, std::size_t cols, double px, const std::string& text) {
    auto o = client_options(server.port());
    o.survey_rows = rows;
    o.survey_cols = cols;
    o.pixel_size_nm = px;
    try {
      backends::DmInstrument inst(o);
      ADD_FAILURE() << rows << "x" << cols << " at " << px << " nm was accepted";
    } catch (const backends::DmRefused& e) {
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
  };
  refused(128, 32, 0.0, "exceeds limits.max_survey_shape 64x64");
  refused(0, 0, 20.0, "outside limits.pixel_size_nm_range");
  {
    // Within the limits, but DM calibrates a 48x48 survey of the 192 nm field at 4 nm, not 5.
    auto o = client_options(server.port());
    o.survey_rows = o.survey_cols = 48;
    o.pixel_size_nm = 5.0;
    backends::DmInstrument inst(o);
    SurveySettings sv;
    sv.dwell_s = 1e-5;
    try {
      inst.acquire_survey(sv);
      ADD_FAILURE() << "a pixel size DM does not confirm was accepted";
    } catch (const backends::DmRefused& e) {
      EXPECT_NE(std::string(e.what()).find("DM's survey calibration is 4 nm per pixel"), std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find("--pixel-size 4"), std::string::npos) << e.what();
    }
    EXPECT_EQ(inst.beam_blanked(), std::optional<bool>(true));
    const Position p{3, 3};
    PointSettings ps;
    ps.exposure_s = 0.01;
    inst.submit(std::span(&p, 1), ps, AcquisitionMode::point);
    try {
      inst.collect(true);
      ADD_FAILURE() << "a position was accepted without a confirmed survey";
    } catch (const backends::DmRefused& e) {
      EXPECT_NE(std::string(e.what()).find("no survey yet"), std::string::npos) << e.what();
    }
  }
  // The same server serves a client within its limits.
  auto o = client_options(server.port());
  o.survey_rows = o.survey_cols = 48;
  o.pixel_size_nm = 4.0;
  backends::DmInstrument inst(o);
  SurveySettings sv;
  sv.dwell_s = 1e-5;
  EXPECT_EQ(inst.acquire_survey(sv).image.data.rows(), 48);
}

}  // namespace
}  // namespace autostem
