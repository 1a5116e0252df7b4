// The 4D-STEM bench phantoms (`bench --phantom fourd-tbg:RxC[:KEY=VALUE]…`, issue 19): the
// twisted-bilayer-graphene scan spans at least one moiré period, the patterns are the expected
// counts at probe current × frame time, the simulated instrument measures them at that dose
// (Poisson counts within 5σ), and bad options are refused by name.
#include "bench_harness.hpp"

#include <autostem/backends/simulated.hpp>
#include <autostem/core/types.hpp>
#include <autostem/sim/detector_profile.hpp>
#include <autostem/sim/fourd_phantom.hpp>
#include <autostem/sim/timing_profile.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

namespace cli = autostem::cli;
namespace as = autostem::sim;

namespace {

// The number after `key` in the phantom's source text (provenance: "moire period=23.5 A").
double source_number(const std::string& source, const std::string& key) {
  const auto at = source.find(key);
  if (at == std::string::npos) return std::nan("");
  return std::stod(source.substr(at + key.size()));
}

}  // namespace

TEST(FourDBench, TbgScanSpansAtLeastOneMoirePeriod) {
  for (const std::size_t n : {32u, 64u})
    for (std::uint64_t seed = 100; seed < 103; ++seed) {
      const auto gt = cli::make_fourd_bench_phantom("fourd-tbg", seed, n, n);
      const double span = source_number(gt.source, "scan spans ");
      const double period = source_number(gt.source, "moire period=");
      const double twist = source_number(gt.source, "twist=");
      EXPECT_NEAR(span, double(n - 1) * 0.4, 1e-3) << gt.source;       // 0.4 Å scan pixels
      EXPECT_LE(period, span * (1 + 1e-3)) << gt.source;                 // ≥ 1 moiré period
      EXPECT_GE(period, as::moire_period_A(as::twist_for_moire_period_deg(span) + 2.0) * (1 - 1e-3)) << gt.source;
      EXPECT_NEAR(period, as::moire_period_A(twist), 1e-3 * period) << gt.source;
      EXPECT_DOUBLE_EQ(gt.survey.calibration.pixel_size_nm, 0.04);
    }
  // A twist given explicitly is kept; a different seed is a different specimen.
  const auto a = cli::make_fourd_bench_phantom("fourd-tbg", 1, 16, 16, "twist=3");
  EXPECT_NEAR(source_number(a.source, "twist="), 3.0, 1e-9) << a.source;
  const auto b = cli::make_fourd_bench_phantom("fourd-tbg", 2, 16, 16, "twist=3");
  EXPECT_NE(a.source, b.source);  // layer shift drawn from the seed
  // auto needs a scan that can hold a moiré period of a twist ≤ 28° (5.1 Å).
  EXPECT_THROW(cli::make_fourd_bench_phantom("fourd-tbg", 1, 8, 8), std::invalid_argument);
}

TEST(FourDBench, MeasuredPatternsCountTheRecordedDose) {
  for (const auto& [options, current_pA, frame_s] :
       {std::tuple{std::string(), 20.0, 1e-3}, std::tuple{std::string("current_pA=5:frame_s=0.002:step_A=0.5"), 5.0, 2e-3}}) {
    const double dose = autostem::electrons(current_pA, frame_s);  // I·t/e
    auto gt = cli::make_fourd_bench_phantom("fourd-tbg", 3, 6, 6, options + (options.empty() ? "" : ":") + "twist=10");
    EXPECT_DOUBLE_EQ(gt.recorded.probe_current_pA, current_pA);
    EXPECT_DOUBLE_EQ(gt.recorded.exposure_s, frame_s);
    for (std::size_t r = 0; r < 6; ++r) {
      double total = 0;
      for (float v : gt.four_d->pattern(r, r)) total += v;
      EXPECT_NEAR(total / dose, 1.0, 1e-4) << options;  // expected counts, no noise in the truth
    }
    // The simulated instrument measures at the recorded current and frame (the profile's 30 pA
    // and 0.25 s spectrum exposure would give 3.7 to 16 × 10⁷ electrons) and draws Poisson counts.
    // The bench's instrument: backends::make_simulated_instrument with its default options.
    autostem::backends::SimulatedOptions sim;
    sim.seed = 7;
    const auto instrument = autostem::backends::make_simulated_instrument(std::move(gt), sim);
    auto& inst = *instrument;
    EXPECT_DOUBLE_EQ(inst.describe().default_exposure_s, frame_s);
    EXPECT_DOUBLE_EQ(inst.describe().default_probe_current_pA, current_pA);
    std::vector<autostem::Position> at;
    for (std::size_t k = 0; k < 12; ++k) at.push_back({double(k % 6), double(k / 2 % 6)});
    inst.submit(at, autostem::PointSettings{}, autostem::AcquisitionMode::point);
    std::size_t got = 0;
    while (inst.in_flight() > 0)
      for (const auto& m : inst.collect(true)) {
        ++got;
        double total = 0;
        bool integers = true;
        for (double v : m.signal) {
          total += v;
          integers = integers && v == std::floor(v);
        }
        EXPECT_TRUE(integers);
        EXPECT_NEAR(total, dose, 5 * std::sqrt(dose)) << options;
        EXPECT_DOUBLE_EQ(m.exposure_s, frame_s);
        EXPECT_DOUBLE_EQ(m.probe_current_pA, current_pA);
      }
    EXPECT_EQ(got, at.size());
  }
}

TEST(FourDBench, OptionsAreCheckedByName) {
  const auto o = cli::parse_fourd_bench_options("fourd-tbg", "current_pA=50:frame_s=0.0005:step_A=0.5:twist=2-4");
  EXPECT_DOUBLE_EQ(o.probe_current_pA, 50.0);
  EXPECT_DOUBLE_EQ(o.frame_s, 5e-4);
  EXPECT_DOUBLE_EQ(o.step_A, 0.5);
  EXPECT_DOUBLE_EQ(o.twist_min_deg, 2.0);
  EXPECT_DOUBLE_EQ(o.twist_max_deg, 4.0);
  const auto message = [](const std::string& name, const std::string& options) {
    try {
      cli::parse_fourd_bench_options(name, options);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("fourd-tbg", "dose=5").find("'dose'"), std::string::npos);
  EXPECT_NE(message("fourd-tbg", "current_pA=-1").find("current_pA='-1'"), std::string::npos);
  EXPECT_NE(message("fourd-tbg", "step_A=0.45").find("multiple of"), std::string::npos);
  EXPECT_NE(message("fourd-tbg", "twist=4-2").find("MIN ≤ MAX"), std::string::npos);
  EXPECT_NE(message("fourd-tbg", "frame_s").find("KEY=VALUE"), std::string::npos);
  EXPECT_NE(message("fourd-graphene", "twist=3").find("'twist'"), std::string::npos);
  EXPECT_NE(message("nanowire", "current_pA=5").find("only the 4D phantoms"), std::string::npos);
}

// --detector NAME (SimulatedOptions::detector): in point mode each pattern takes the timing
// profile's beam move + the detector's frame (the default exposure) + its point overhead, and
// carries the dose of that frame; the spectrometer's readout and transfer are not charged.
TEST(FourDBench, DetectorProfileTimesEachPatternInPointMode) {
  const auto timing = as::TimingProfile::load("rsi2024-remote");
  const double beam = timing.point_pre_exposure_s();
  for (const std::string name : {"arina", "merlin-single-24bit"}) {
    const auto det = as::DetectorProfile::load(name);
    autostem::backends::SimulatedOptions sim;
    sim.seed = 5;
    sim.detector = name;
    const auto instrument =
        autostem::backends::make_simulated_instrument(cli::make_fourd_bench_phantom("fourd-tbg", 3, 6, 6, "twist=10"), sim);
    auto& inst = *instrument;
    EXPECT_DOUBLE_EQ(inst.describe().default_exposure_s, det.frame_time_s);
    EXPECT_NE(inst.describe().name.find(name), std::string::npos) << inst.describe().name;
    const double step = beam + det.frame_time_s + det.point_overhead_s;
    const auto est = inst.estimate_point(autostem::PointSettings{}, autostem::AcquisitionMode::point);
    EXPECT_NEAR(est.time_s, step, 1e-12);
    const double dose = autostem::electrons(20.0, det.frame_time_s);  // the phantom's 20 pA
    EXPECT_NEAR(est.electrons, dose, 1e-9 * dose);
    std::vector<autostem::Position> at;
    for (std::size_t k = 0; k < 6; ++k) at.push_back({double(k), double(5 - k)});
    inst.submit(at, autostem::PointSettings{}, autostem::AcquisitionMode::point);
    std::vector<autostem::Measurement> got;
    while (inst.in_flight() > 0)
      for (auto& m : inst.collect(true)) got.push_back(std::move(m));
    ASSERT_EQ(got.size(), at.size());
    for (std::size_t k = 1; k < got.size(); ++k) {  // the first also connects
      EXPECT_NEAR(got[k].t_end_s - got[k].t_start_s, step, 1e-9) << name;
      EXPECT_DOUBLE_EQ(got[k].exposure_s, det.frame_time_s);
      double total = 0;
      for (double v : got[k].signal) total += v;
      EXPECT_NEAR(total, dose, 5 * std::sqrt(dose)) << name;
    }
  }
  // Without a detector profile the pattern is timed as a spectrum (readout, transfer, overhead).
  autostem::backends::SimulatedOptions plain;
  const auto spectro =
      autostem::backends::make_simulated_instrument(cli::make_fourd_bench_phantom("fourd-tbg", 3, 6, 6, "twist=10"), plain);
  EXPECT_NEAR(spectro->estimate_point(autostem::PointSettings{}, autostem::AcquisitionMode::point).time_s,
              timing.point_time_s(1e-3, 64 * 64), 1e-12);
  // A detector profile needs 4D ground truth; an unknown name lists the built-in ones.
  autostem::backends::SimulatedOptions with_detector;
  with_detector.detector = "arina";
  autostem::GroundTruth eels = cli::make_fourd_bench_phantom("fourd-tbg", 3, 4, 4, "twist=10");
  eels.four_d.reset();
  EXPECT_THROW(autostem::backends::make_simulated_instrument(eels, with_detector), std::invalid_argument);
  with_detector.detector = "nosuch";
  EXPECT_THROW(autostem::backends::make_simulated_instrument(cli::make_fourd_bench_phantom("fourd-tbg", 3, 4, 4, "twist=10"), with_detector),
               std::invalid_argument);
}
