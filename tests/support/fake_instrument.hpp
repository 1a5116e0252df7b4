#pragma once
// A minimal in-memory Instrument for tests of the Session and the strategies: a field of
// rows × cols, signals of `channels` values equal to (row, col, row+col…), fixed costs per point,
// an optional survey image, and hooks to fail on the k-th collect. Not a model of anything: sim/ is tested on its own.

#include <autostem/core/instrument.hpp>

#include <deque>
#include <stdexcept>

namespace autostem::testing {

class FakeInstrument final : public Instrument {
 public:
  FakeInstrument(std::size_t rows, std::size_t cols, std::size_t channels = 4)
      : rows_(rows), cols_(cols), channels_(channels) {}

  double point_time_s = 1.0;        ///< session time per spectrum
  double point_electrons = 1000.0;  ///< electrons per spectrum
  std::size_t fail_on_collect = 0;  ///< 1-based collect() call that throws; 0 = never
  std::vector<Position> submitted;  ///< every position the instrument was asked for
  std::size_t blanks = 0;
  std::size_t patches = 0;          ///< acquire_patch calls
  double patch_time_s = 2.0;        ///< session time per patch scan
  /// What acquire_survey() returns: (rows, cols); empty = zeros.
  ImageArray survey_image;

  InstrumentInfo describe() const override {
    InstrumentInfo i;
    i.name = "fake";
    i.field_rows = rows_;
    i.field_cols = cols_;
    i.energy = EnergyAxis{0.0, 1.0, channels_};
    i.default_exposure_s = 0.1;
    i.default_dwell_s = 1e-6;
    i.max_exposure_s = 10.0;
    i.can_scan_patch = true;
    return i;
  }
  Survey acquire_survey(const SurveySettings&) override {
    Survey s;
    s.image.data = survey_image.size() ? survey_image : ImageArray::Zero(rows_, cols_);
    return s;
  }
  void submit(std::span<const Position> positions, const PointSettings&, AcquisitionMode) override {
    for (const auto& p : positions) {
      submitted.push_back(p);
      queue_.push_back(p);
    }
  }
  std::size_t in_flight() const override { return queue_.size(); }
  std::vector<Measurement> collect(bool) override {
    if (fail_on_collect && ++collects_ == fail_on_collect)
      throw std::runtime_error("fake instrument: connection lost");
    std::vector<Measurement> out;
    if (queue_.empty()) return out;
    Measurement m;
    m.requested = queue_.front();
    m.actual = m.requested;
    queue_.pop_front();
    m.t_start_s = now_;
    now_ += point_time_s;
    m.t_end_s = now_;
    electrons_ += point_electrons;
    m.signal.resize(channels_);
    for (std::size_t c = 0; c < channels_; ++c)
      m.signal[c] = static_cast<float>(m.requested.row * 1000 + m.requested.col + c);
    out.push_back(std::move(m));
    return out;
  }
  Survey acquire_patch(const PatchScan& scan) override {
    if (!queue_.empty()) throw std::invalid_argument("fake instrument: patch scan while acquiring");
    ++patches;
    Survey s;
    s.image.data = ImageArray::Zero(static_cast<Eigen::Index>(scan.rows), static_cast<Eigen::Index>(scan.cols));
    s.t_start_s = now_;
    now_ += patch_time_s;
    s.t_end_s = now_;
    return s;
  }
  void elapse(double s) override { now_ += s; }
  void blank() override { ++blanks; }
  double now_s() const override { return now_; }
  CostEstimate estimate_point(const PointSettings&, AcquisitionMode) const override {
    return {point_time_s, 0.0, point_electrons};
  }
  double total_electrons() const override { return electrons_; }

 private:
  std::size_t rows_, cols_, channels_;
  std::deque<Position> queue_;
  double now_ = 0.0, electrons_ = 0.0;
  std::size_t collects_ = 0;
};

/// Records everything a Session hands to its sinks.
class RecordingSink final : public MeasurementSink {
 public:
  std::vector<Measurement> measurements;
  bool began = false, ended = false;
  RunSummary summary;
  void on_begin(const RunInfo&, const Survey&) override { began = true; }
  void on_measurement(const Measurement& m) override { measurements.push_back(m); }
  void on_end(const RunSummary& s, const std::optional<Image>&) override {
    ended = true;
    summary = s;
  }
};

}  // namespace autostem::testing
