// Timing profiles: the shipped data files parse, bad files fail with messages naming file and
// key, and the rsi2024 profiles reproduce the seed 002 table (§IV.b).
#include <autostem/sim/timing_profile.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

using autostem::sim::TimingProfile;

namespace {

std::string error_of(const std::string& name_or_path) {
  try {
    TimingProfile::load(name_or_path);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no error)";
}

// A temporary copy of the remote profile with one line appended or one key removed.
std::filesystem::path variant(const std::string& tag, const std::string& append,
                              const std::string& drop_key = "") {
  const auto src = std::filesystem::path(TimingProfile::profile_dir()) / "rsi2024-remote.ini";
  const auto dst = std::filesystem::temp_directory_path() / ("autostem_profile_" + tag + ".ini");
  std::ifstream in(src);
  std::ofstream out(dst);
  std::string line;
  while (std::getline(in, line))
    if (drop_key.empty() || line.rfind(drop_key + " ", 0) != 0) out << line << '\n';
  out << append << '\n';
  return dst;
}

}  // namespace

TEST(TimingProfile, EveryBuiltinProfileLoads) {
  const auto names = TimingProfile::builtin_names();
  ASSERT_EQ(names.size(), 3u);
  for (const auto& n : names) {
    const TimingProfile p = TimingProfile::load(n);
    EXPECT_EQ(p.name, n);
    EXPECT_FALSE(p.description.empty());
    EXPECT_GT(p.default_exposure_s, 0.0);
    const auto params = p.parameters();
    ASSERT_GE(params.size(), 22u);
    for (const auto& q : params) {
      EXPECT_FALSE(q.unit.empty()) << q.key;
      EXPECT_FALSE(q.description.empty()) << q.key;
    }
    EXPECT_EQ(params.front().key, "connection_s");
    EXPECT_EQ(params.front().value, p.connection_s);
  }
}

TEST(TimingProfile, LoadsByPath) {
  const auto path = std::filesystem::path(TimingProfile::profile_dir()) / "ideal.ini";
  EXPECT_EQ(TimingProfile::load(path.string()).name, "ideal");
}

TEST(TimingProfile, UnknownNameListsTheBuiltinNames) {
  const std::string e = error_of("rsi2025-remote");
  EXPECT_NE(e.find("rsi2025-remote"), std::string::npos) << e;
  for (const auto& n : TimingProfile::builtin_names()) EXPECT_NE(e.find(n), std::string::npos) << e;
}

TEST(TimingProfile, MissingFileIsNamed) {
  const std::string e = error_of("/nonexistent/x.ini");
  EXPECT_NE(e.find("/nonexistent/x.ini"), std::string::npos) << e;
}

TEST(TimingProfile, UnknownKeyNamesFileAndKey) {
  const auto path = variant("unknown", "settle_time_s = 1e-3");
  const std::string e = error_of(path.string());
  EXPECT_NE(e.find(path.string()), std::string::npos) << e;
  EXPECT_NE(e.find("settle_time_s"), std::string::npos) << e;
}

TEST(TimingProfile, BadValueNamesFileAndKey) {
  const auto path = variant("badvalue", "", "readout_s");
  {
    std::ofstream(path, std::ios::app) << "readout_s = fast\n";
  }
  const std::string e = error_of(path.string());
  EXPECT_NE(e.find(path.string()), std::string::npos) << e;
  EXPECT_NE(e.find("readout_s"), std::string::npos) << e;
}

TEST(TimingProfile, NegativeValueNamesKey) {
  const auto path = variant("negative", "settle_s = -1", "settle_s");
  const std::string e = error_of(path.string());
  EXPECT_NE(e.find("settle_s"), std::string::npos) << e;
  EXPECT_NE(e.find(">= 0"), std::string::npos) << e;
}

TEST(TimingProfile, MissingRequiredKeyIsNamed) {
  const auto path = variant("missing", "", "readout_s");
  const std::string e = error_of(path.string());
  EXPECT_NE(e.find("readout_s"), std::string::npos) << e;
}

// Seed 002, §IV.b table: the single actions are taken over as measured.
TEST(TimingProfile, RemoteReproducesTheSeedTable) {
  const TimingProfile p = TimingProfile::load("rsi2024-remote");
  EXPECT_DOUBLE_EQ(p.connection_s, 74.4e-6);
  EXPECT_DOUBLE_EQ(p.camera_activation_s, 39.7e-3);
  EXPECT_DOUBLE_EQ(p.read_beam_position_s, 2e-3);
  EXPECT_DOUBLE_EQ(p.set_beam_position_s, 9.32e-3);
  EXPECT_NEAR(p.survey_time_s(128, 128), 4.12, 0.05 * 4.12);
  EXPECT_NEAR(p.isolated_point_time_s(1.0, 1), 7.02, 0.05 * 7.02);
  // §VI: a 128×128 image costs ≈2 s of transfer.
  EXPECT_NEAR(p.transfer_time_s(128 * 128 * p.survey_bytes_per_pixel), 2.0, 0.05 * 2.0);
}

TEST(TimingProfile, LocalReproducesTheSeedTable) {
  const TimingProfile p = TimingProfile::load("rsi2024-local");
  EXPECT_DOUBLE_EQ(p.connection_s, 20e-6);
  EXPECT_DOUBLE_EQ(p.camera_activation_s, 22.9e-3);
  EXPECT_DOUBLE_EQ(p.read_beam_position_s, 1.48e-3);
  EXPECT_DOUBLE_EQ(p.set_beam_position_s, 6.97e-3);
  EXPECT_NEAR(p.survey_time_s(128, 128), 3.91, 0.05 * 3.91);
  EXPECT_NEAR(p.isolated_point_time_s(1.0, 1), 3.8, 0.05 * 3.8);
}

TEST(TimingProfile, IdealIsAtTheHardwareLimits) {
  const TimingProfile p = TimingProfile::load("ideal");
  EXPECT_DOUBLE_EQ(p.settle_s, 10e-6);
  EXPECT_DOUBLE_EQ(p.readout_s, 1.0 / 400.0);
  EXPECT_DOUBLE_EQ(p.link_bandwidth_Bps, 1e9 / 8);
  EXPECT_GE(p.line_flyback_s, 100e-6);
  EXPECT_LE(p.line_flyback_s, 500e-6);
  // Every figure is faster than the remote profile's.
  const TimingProfile r = TimingProfile::load("rsi2024-remote");
  EXPECT_LT(p.point_time_s(0.25, 2048), r.point_time_s(0.25, 2048));
  EXPECT_LT(p.survey_time_s(128, 128), r.survey_time_s(128, 128));
}

TEST(TimingProfile, SpectrumTransferUsesTheCameraWidthWhenGiven) {
  TimingProfile p = TimingProfile::load("rsi2024-remote");
  EXPECT_DOUBLE_EQ(p.spectrum_transfer_s(1), p.spectrum_transfer_s(4096));
  p.spectrum_channels = 0;
  EXPECT_NEAR(p.spectrum_transfer_s(100), 100 * 20 / p.link_bandwidth_Bps + p.link_latency_s, 1e-15);
}
