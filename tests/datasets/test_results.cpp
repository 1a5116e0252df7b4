// Results writer: layout, round trip, and survival of a run killed with SIGKILL.
#include <autostem/datasets/results.hpp>

#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <fstream>

#include <sys/wait.h>
#include <unistd.h>

namespace ds = autostem::datasets;
namespace fs = std::filesystem;

namespace {

fs::path temp_path(const std::string& name) {
  return fs::temp_directory_path() / ("autostem_test_results_" + std::to_string(::getpid()) + "_" + name);
}

autostem::RunInfo run_info() {
  autostem::RunInfo info;
  info.strategy = "grid";
  info.strategy_parameters = {{"step", "2"}, {"order", "serpentine"}};
  info.seed = 42;
  info.instrument.name = "simulated test instrument";
  info.instrument.profile = "ideal";
  info.instrument.field_rows = 8;
  info.instrument.field_cols = 10;
  info.instrument.calibration.pixel_size_nm = 1.5;
  info.instrument.energy = autostem::EnergyAxis{-5.0, 0.2, 16};
  info.config.point.exposure_s = 0.1;
  info.config.point.probe_current_pA = 50.0;
  return info;
}

autostem::Survey survey() {
  autostem::Survey s;
  s.image.data = autostem::ImageArray::Zero(8, 10);
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 10; ++c) s.image.data(r, c) = r * 10 + c;
  s.image.calibration.pixel_size_nm = 1.5;
  s.image.name = "HAADF";
  s.dwell_s = 2e-6;
  s.probe_current_pA = 50.0;
  s.detector = "HAADF";
  s.t_start_s = 0.0;
  s.t_end_s = 4.1;
  s.dose_e_per_A2 = 0.03;
  return s;
}

autostem::Measurement measurement(std::size_t i) {
  autostem::Measurement m;
  m.index = i;
  m.requested = {static_cast<double>(i % 8), static_cast<double>(i % 10) + 0.25};
  m.actual = i % 2 ? autostem::unknown_position() : autostem::Position{m.requested.row + 0.1, m.requested.col};
  m.signal.resize(16);
  for (std::size_t k = 0; k < 16; ++k) m.signal[k] = static_cast<float>(i * 100 + k);
  m.exposure_s = 0.1;
  m.probe_current_pA = 50.0;
  m.t_start_s = 5.0 + static_cast<double>(i);
  m.t_end_s = 5.5 + static_cast<double>(i);
  m.dose_e_per_A2 = 1000.0 + static_cast<double>(i);
  return m;
}

ds::ResultsProvenance provenance() { return {"ideal", "phantom:nanowire(seed=1)", "autostem simulate --test", ""}; }

}  // namespace

TEST(Results, RoundTrip) {
  const fs::path p = temp_path("rt.h5");
  {
    ds::ResultsWriter w(p, provenance());
    w.on_begin(run_info(), survey());
    for (std::size_t i = 0; i < 5; ++i) w.on_measurement(measurement(i));
    autostem::Prediction pred;
    pred.mean = autostem::ImageArray::Constant(8, 10, 2.0);
    pred.uncertainty = autostem::ImageArray::Constant(8, 10, 0.5);
    w.on_prediction(5, pred);
    autostem::RunSummary sum;
    sum.measurements = 5;
    sum.time_s = 9.5;
    sum.dose_e_per_A2 = 12.5;
    sum.max_dose_e_per_A2 = 1004.03;
    sum.stop_reason = autostem::StopReason::budget_points;
    autostem::Image dose;
    dose.data = autostem::ImageArray::Constant(8, 10, 0.03);
    dose.data(1, 1) = 1001.03;
    w.on_end(sum, dose);
  }
  const ds::RunRecord r = ds::read_results(p);
  EXPECT_TRUE(r.complete);
  ASSERT_EQ(r.measurements(), 5u);
  EXPECT_TRUE((r.survey.image.data == survey().image.data).all());
  EXPECT_EQ(r.survey.dwell_s, 2e-6);
  EXPECT_EQ(r.survey.detector, "HAADF");
  EXPECT_EQ(r.survey.t_end_s, 4.1);
  EXPECT_EQ(r.survey.image.calibration.pixel_size_nm, 1.5);
  EXPECT_EQ(r.energy.channels, 16u);
  EXPECT_EQ(r.energy.offset_eV, -5.0);
  for (std::size_t i = 0; i < 5; ++i) {
    const auto m = measurement(i);
    EXPECT_EQ(r.requested[i], m.requested);
    if (i % 2) EXPECT_TRUE(std::isnan(r.actual[i].row));
    else EXPECT_EQ(r.actual[i], m.actual);
    EXPECT_EQ(r.signals[i], m.signal);
    EXPECT_EQ(r.t_start_s[i], m.t_start_s);
    EXPECT_EQ(r.t_end_s[i], m.t_end_s);
    EXPECT_EQ(r.dose_e_per_A2[i], m.dose_e_per_A2);
    EXPECT_EQ(r.exposure_s[i], 0.1);
    EXPECT_EQ(r.probe_current_pA[i], 50.0);
  }
  ASSERT_TRUE(r.dose_map);
  EXPECT_EQ((*r.dose_map)(1, 1), 1001.03);
  EXPECT_EQ(r.attribute("strategy"), "grid");
  EXPECT_EQ(r.attribute("seed"), "42");
  EXPECT_EQ(r.attribute("profile"), "ideal");
  EXPECT_EQ(r.attribute("dataset"), "phantom:nanowire(seed=1)");
  EXPECT_EQ(r.attribute("command_line"), "autostem simulate --test");
  EXPECT_EQ(r.attribute("instrument"), "simulated test instrument");
  EXPECT_EQ(r.attribute("stop_reason"), std::string(autostem::to_string(autostem::StopReason::budget_points)));
  EXPECT_EQ(r.attribute("measurements"), "5");
  EXPECT_EQ(r.attribute("total_time_s"), "9.5");
  EXPECT_EQ(r.attribute("total_dose_e_per_A2"), "12.5");
  EXPECT_EQ(r.attribute("complete"), "1");
  EXPECT_FALSE(r.attribute("autostem_version").empty());
  EXPECT_EQ(r.attribute("strategy_parameters"), "{\"order\": \"serpentine\", \"step\": \"2\"}");
  EXPECT_EQ(r.strategy_parameters.at("step"), "2");
  ASSERT_EQ(r.prediction_steps, (std::vector<std::size_t>{5}));
  const auto pred = ds::read_prediction(p, 5);
  EXPECT_EQ(pred.mean(3, 3), 2.0);
  EXPECT_EQ(pred.uncertainty(0, 0), 0.5);
  EXPECT_EQ(pred.acquisition.size(), 0);
  EXPECT_THROW(ds::read_prediction(p, 6), std::runtime_error);
  fs::remove(p);
}

TEST(Results, SignalShapeIsRecordedAndReadBack) {
  // A spectrum run (no explicit shape) reads back as spectrum (channels); a 4D-STEM run as
  // diffraction (ky, kx) with each row holding one C-order pattern.
  const fs::path p = temp_path("shape.h5");
  {
    ds::ResultsWriter w(p, provenance());
    w.on_begin(run_info(), survey());
    w.on_measurement(measurement(0));
    w.on_end(autostem::RunSummary{}, std::nullopt);
  }
  EXPECT_EQ(ds::read_results(p).signal_shape, autostem::SignalShape::spectrum(16));
  {
    auto info = run_info();
    info.instrument.signal = autostem::SignalShape::diffraction(3, 4);
    ds::ResultsWriter w(p, provenance());
    w.on_begin(info, survey());
    auto m = measurement(0);
    m.signal.assign(12, 0.0f);
    m.signal[1 * 4 + 2] = 5.0f;
    m.shape = autostem::SignalShape::diffraction(3, 4);
    w.on_measurement(m);
    w.on_end(autostem::RunSummary{}, std::nullopt);
  }
  const ds::RunRecord r = ds::read_results(p);
  EXPECT_EQ(r.signal_shape, autostem::SignalShape::diffraction(3, 4));
  ASSERT_EQ(r.signals.size(), 1u);
  EXPECT_EQ(r.signals[0][1 * 4 + 2], 5.0f);
  {
    // Patterns are stored chunked and compressed (shuffle + deflate), spectra only chunked.
    const hid_t f = H5Fopen(p.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t d = H5Dopen2(f, "measurements/signal", H5P_DEFAULT);
    const hid_t dcpl = H5Dget_create_plist(d);
    EXPECT_EQ(H5Pget_layout(dcpl), H5D_CHUNKED);
    EXPECT_GT(H5Pget_filter_by_id2(dcpl, H5Z_FILTER_DEFLATE, nullptr, nullptr, nullptr, 0, nullptr, nullptr), -1);
    EXPECT_GT(H5Pget_filter_by_id2(dcpl, H5Z_FILTER_SHUFFLE, nullptr, nullptr, nullptr, 0, nullptr, nullptr), -1);
    H5Pclose(dcpl);
    H5Dclose(d);
    H5Fclose(f);
  }
  fs::remove(p);
}

TEST(Results, SignalLengthMismatchAndOrder) {
  const fs::path p = temp_path("bad.h5");
  ds::ResultsWriter w(p, provenance());
  EXPECT_THROW(w.on_measurement(measurement(0)), std::logic_error);  // before on_begin
  w.on_begin(run_info(), survey());
  auto m = measurement(0);
  m.signal.resize(15);
  EXPECT_THROW(w.on_measurement(m), std::invalid_argument);
  w.on_measurement(measurement(1));
  w.on_end({}, std::nullopt);
  const auto r = ds::read_results(p);
  EXPECT_EQ(r.measurements(), 1u);
  EXPECT_FALSE(r.dose_map);
  fs::remove(p);
}

TEST(Results, SurvivesSigkillMidRun) {
  // A child writes 50 measurements and kills itself with SIGKILL (no destructors, no on_end):
  // everything flushed must be readable, with complete = 0 and the running totals in place.
  const fs::path p = temp_path("killed.h5");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ds::ResultsWriter w(p, provenance());
    w.on_begin(run_info(), survey());
    for (std::size_t i = 0; i < 50; ++i) w.on_measurement(measurement(i));
    ::kill(::getpid(), SIGKILL);
    ::_exit(3);  // not reached
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  const ds::RunRecord r = ds::read_results(p);
  EXPECT_FALSE(r.complete);
  ASSERT_EQ(r.measurements(), 50u);
  EXPECT_EQ(r.signals[49], measurement(49).signal);
  EXPECT_EQ(r.t_end_s[49], measurement(49).t_end_s);
  EXPECT_EQ(r.attribute("measurements"), "50");
  EXPECT_EQ(r.attribute("stop_reason"), "running");
  EXPECT_EQ(r.attribute("complete"), "0");
  EXPECT_EQ(std::stod(r.attribute("total_time_s")), measurement(49).t_end_s);
  // Running total dose: survey dose + Σ electrons / field area (50 × 0.1 s × 50 pA over 8×10
  // pixels of 1.5 nm, 225 Å² each).
  const double expected = 0.03 + 50 * autostem::electrons(50.0, 0.1) / (80 * 225.0);
  EXPECT_NEAR(std::stod(r.attribute("total_dose_e_per_A2")), expected, 1e-9 * expected);
  EXPECT_FALSE(r.dose_map);
  fs::remove(p);
}

TEST(Results, ReadableLiveByAnotherProcess) {
  // The writer (a child process) keeps the file open; the parent reads it mid-run, then lets
  // the child go on and finish. No file lock may stop the reader.
  const fs::path p = temp_path("live.h5");
  int to_parent[2], to_child[2];
  ASSERT_EQ(::pipe(to_parent), 0);
  ASSERT_EQ(::pipe(to_child), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ds::ResultsWriter w(p, provenance());
    w.on_begin(run_info(), survey());
    for (std::size_t i = 0; i < 10; ++i) w.on_measurement(measurement(i));
    char c = 'x';
    if (::write(to_parent[1], &c, 1) != 1) ::_exit(2);
    if (::read(to_child[0], &c, 1) != 1) ::_exit(2);
    for (std::size_t i = 10; i < 12; ++i) w.on_measurement(measurement(i));
    w.on_end({}, std::nullopt);
    ::_exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(to_parent[0], &c, 1), 1);
  std::size_t seen = 0;
  bool complete = true;
  std::string error;
  try {
    const auto mid = ds::read_results(p);
    seen = mid.measurements();
    complete = mid.complete;
  } catch (const std::exception& e) {
    error = e.what();
  }
  ASSERT_EQ(::write(to_child[1], &c, 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(error, "");
  EXPECT_EQ(seen, 10u);
  EXPECT_FALSE(complete);
  const auto end = ds::read_results(p);
  EXPECT_EQ(end.measurements(), 12u);
  EXPECT_TRUE(end.complete);
  for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]}) ::close(fd);
  fs::remove(p);
}

TEST(Results, NotAResultsFile) {
  const fs::path p = temp_path("missing.h5");
  EXPECT_THROW(ds::read_results(p), std::runtime_error);
  std::ofstream(p) << "text";
  EXPECT_THROW(ds::read_results(p), std::runtime_error);
  fs::remove(p);
}

TEST(Results, CommandedPositionsAndDriftRescansAreRecordedAndReadBack) {
  const fs::path path = temp_path("drift.h5");
  {
    ds::ResultsWriter w(path, {});
    w.on_begin(run_info(), survey());
    for (std::size_t i = 0; i < 3; ++i) {
      auto m = measurement(i);
      m.commanded = {m.requested.row - 0.5 * static_cast<double>(i), m.requested.col + 0.25};
      w.on_measurement(m);
    }
    autostem::DriftRecord d;
    d.after_measurements = 2;
    d.t_start_s = 5.0;
    d.t_end_s = 5.5;
    d.offset = {-0.5, 0.25};
    d.measured = {0.75, -0.5};
    d.predicted = {0.8, -0.45};
    d.confidence = 0.9;
    d.dose_e_per_A2 = 12.5;
    d.row0 = 1;
    d.col0 = 2;
    d.patch.data = autostem::ImageArray::Constant(3, 4, 7.0);
    w.on_drift(d);
    d.warning = "reference has no texture; kept the prediction";
    d.measured = autostem::unknown_position();
    d.patch.data.resize(0, 0);
    w.on_drift(d);
    autostem::RunSummary s;
    s.measurements = 3;
    s.drift_rescans = 2;
    s.drift_warnings = 1;
    s.drift_time_s = 1.0;
    w.on_end(s, std::nullopt);
  }
  const auto rec = ds::read_results(path);
  ASSERT_EQ(rec.commanded.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(rec.commanded[i].row, rec.requested[i].row - 0.5 * static_cast<double>(i));
    EXPECT_EQ(rec.commanded[i].col, rec.requested[i].col + 0.25);
  }
  ASSERT_EQ(rec.drift.size(), 2u);
  EXPECT_EQ(rec.drift[0].after_measurements, 2u);
  EXPECT_EQ(rec.drift[0].measured, (autostem::Position{0.75, -0.5}));
  EXPECT_EQ(rec.drift[0].predicted, (autostem::Position{0.8, -0.45}));
  EXPECT_EQ(rec.drift[0].offset, (autostem::Position{-0.5, 0.25}));
  EXPECT_EQ(rec.drift[0].row0, 1u);
  EXPECT_EQ(rec.drift[0].patch.data.rows(), 3);
  EXPECT_EQ(rec.drift[0].patch.data(2, 3), 7.0);
  EXPECT_TRUE(rec.drift[0].warning.empty());
  EXPECT_FALSE(autostem::is_finite(rec.drift[1].measured));
  EXPECT_EQ(rec.drift[1].warning, "reference has no texture; kept the prediction");
  EXPECT_EQ(rec.drift[1].patch.data.size(), 0);
  EXPECT_EQ(rec.attribute("drift_rescans"), "2");
  EXPECT_EQ(rec.attribute("drift_warnings"), "1");
  fs::remove(path);
}
