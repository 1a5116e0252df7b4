// Resuming a run that was cut off (Session::resume_from, `autostem run --resume`): the results
// file of the first part is read back, the strategy replays its decisions against it, and the
// run continues — the positions are exactly those of an uninterrupted run, none is measured
// twice, and the new file holds the whole run.
#include <autostem/backends/simulated.hpp>
#include <autostem/core/session.hpp>
#include <autostem/datasets/phantoms.hpp>
#include <autostem/datasets/results.hpp>
#include <autostem/strategies/registry.hpp>

#include "fake_instrument.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <set>

#include <unistd.h>

using namespace autostem;
using autostem::testing::RecordingSink;

namespace {

/// Stops the session (as Ctrl-C or a lost microscope would) after n measurements.
class StopAfter final : public MeasurementSink {
 public:
  StopAfter(std::atomic<bool>& stop, std::size_t n) : stop_(stop), n_(n) {}
  void on_begin(const RunInfo&, const Survey&) override {}
  void on_measurement(const Measurement& m) override {
    if (m.index + 1 >= n_) stop_ = true;
  }
  void on_end(const RunSummary&, const std::optional<Image>&) override {}

 private:
  std::atomic<bool>& stop_;
  std::size_t n_;
};

SessionConfig config(std::size_t batch) {
  SessionConfig c;
  c.budget.max_points = 40;
  c.point.exposure_s = 0.05;
  c.seed = 5;
  c.batch_size = batch;
  c.compute.kind = ComputeTiming::Kind::fixed;
  c.compute.value = 0.0;
  return c;
}

std::unique_ptr<Instrument> instrument() {
  backends::SimulatedOptions o;
  o.seed = 5;
  return backends::make_simulated_instrument(datasets::make_phantom("nanowire", 3, 64, 64), o);
}

std::filesystem::path tmp(const std::string& name) {
  return std::filesystem::temp_directory_path() /
         ("autostem-resume-" + std::to_string(::getpid()) + "-" + name + ".h5");
}

std::vector<Measurement> measurements_of(datasets::RunRecord& r) {
  std::vector<Measurement> out(r.measurements());
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i].index = i;
    out[i].requested = r.requested[i];
    out[i].actual = r.actual[i];
    out[i].signal = r.signals[i];
    out[i].exposure_s = r.exposure_s[i];
    out[i].t_start_s = r.t_start_s[i];
    out[i].t_end_s = r.t_end_s[i];
  }
  return out;
}

struct Case {
  std::string strategy;
  std::size_t batch;
  std::size_t cut_after;
};

class Resume : public ::testing::TestWithParam<Case> {};

}  // namespace

TEST_P(Resume, ContinuesWhereTheCutOffRunStoppedWithoutLosingOrRepeatingAPoint) {
  const Case c = GetParam();
  // The uninterrupted run.
  RecordingSink full;
  {
    auto inst = instrument();
    auto strat = strategies::make_strategy(c.strategy);
    Session s(*inst, *strat, config(c.batch));
    s.add_sink(full);
    s.run();
  }
  ASSERT_GT(full.measurements.size(), c.cut_after + 5);

  // The run that is cut off, written to a results file.
  const auto first = tmp(c.strategy + "-first");
  {
    auto inst = instrument();
    auto strat = strategies::make_strategy(c.strategy);
    datasets::ResultsWriter writer(first, datasets::ResultsProvenance{"", "test", "test", ""});
    std::atomic<bool> stop{false};
    StopAfter cut(stop, c.cut_after);
    Session s(*inst, *strat, config(c.batch));
    s.add_sink(writer);
    s.add_sink(cut);
    const RunSummary sum = s.run(&stop);
    EXPECT_EQ(sum.stop_reason, StopReason::operator_stop);
  }
  datasets::RunRecord part = datasets::read_results(first);
  ASSERT_GE(part.measurements(), c.cut_after);
  ASSERT_LT(part.measurements(), full.measurements.size());

  // The resumed run, from the file, into a new file.
  const auto second = tmp(c.strategy + "-second");
  RecordingSink resumed;
  RunSummary sum;
  {
    auto inst = instrument();
    auto strat = strategies::make_strategy(c.strategy);
    datasets::ResultsWriter writer(second, datasets::ResultsProvenance{"", "test", "test", ""});
    Session s(*inst, *strat, config(c.batch));
    s.add_sink(writer);
    s.add_sink(resumed);
    s.resume_from(part.survey, measurements_of(part));
    sum = s.run();
  }
  EXPECT_EQ(sum.resumed_measurements, part.measurements());
  EXPECT_EQ(sum.resume_unused, 0u);
  ASSERT_EQ(resumed.measurements.size(), full.measurements.size());
  std::set<std::pair<double, double>> seen;
  for (std::size_t i = 0; i < full.measurements.size(); ++i) {
    const auto& p = resumed.measurements[i].requested;
    EXPECT_TRUE(seen.insert({p.row, p.col}).second) << "measured twice: " << p.row << ", " << p.col;
  }
  // Same set of positions as the uninterrupted run (the order can differ only within the batch
  // that was in flight at the cut).
  std::set<std::pair<double, double>> want;
  for (const auto& m : full.measurements) want.insert({m.requested.row, m.requested.col});
  EXPECT_EQ(seen, want);
  // The first part's spectra are carried over unchanged, not measured again.
  for (std::size_t i = 0; i < part.measurements(); ++i)
    EXPECT_EQ(resumed.measurements[i].signal, part.signals[i]) << i;
  // The new file holds the whole run.
  const auto whole = datasets::read_results(second);
  EXPECT_EQ(whole.measurements(), full.measurements.size());
  EXPECT_TRUE(whole.complete);
  std::filesystem::remove(first);
  std::filesystem::remove(second);
}

INSTANTIATE_TEST_SUITE_P(Strategies, Resume,
                         ::testing::Values(Case{"random", 1, 8}, Case{"random", 4, 10},
                                           Case{"edge", 1, 12}),
                         [](const auto& info) {
                           return info.param.strategy + "_batch" + std::to_string(info.param.batch);
                         });

TEST(ResumeInput, RejectsAnEmptySurveyAndNonFinitePositions) {
  auto inst = instrument();
  auto strat = strategies::make_strategy("random");
  Session s(*inst, *strat, config(1));
  EXPECT_THROW(s.resume_from(Survey{}, {}), std::invalid_argument);
  Survey sv;
  sv.image.data = ImageArray::Zero(64, 64);
  Measurement m;
  m.requested = {std::nan(""), 1.0};
  EXPECT_THROW(s.resume_from(sv, {m}), std::invalid_argument);
}
