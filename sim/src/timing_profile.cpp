#include <autostem/sim/timing_profile.hpp>

#include <autostem/config.hpp>

#include <boost/program_options.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace po = boost::program_options;

namespace autostem::sim {

namespace {

enum class Range { non_negative, positive };

struct Key {
  const char* key;
  double TimingProfile::*field;
  const char* unit;
  const char* description;
  bool required;
  Range range;
};

// The one table of keys: parsing, validation and parameters() all read it, so they cannot
// disagree.
constexpr Key kKeys[] = {
    {"connection_s", &TimingProfile::connection_s, "s", "establish client-server connection (once)", true, Range::non_negative},
    {"camera_activation_s", &TimingProfile::camera_activation_s, "s", "activate the spectrometer camera (once)", true, Range::non_negative},
    {"link_bandwidth_Bps", &TimingProfile::link_bandwidth_Bps, "B/s", "effective throughput of a data transfer", true, Range::positive},
    {"link_latency_s", &TimingProfile::link_latency_s, "s", "latency added to each transfer", true, Range::non_negative},
    {"default_dwell_s", &TimingProfile::default_dwell_s, "s", "survey dwell time per pixel (default)", true, Range::positive},
    {"line_flyback_s", &TimingProfile::line_flyback_s, "s", "survey line flyback", true, Range::non_negative},
    {"frame_overhead_s", &TimingProfile::frame_overhead_s, "s", "survey frame start/stop and image creation", true, Range::non_negative},
    {"survey_bytes_per_pixel", &TimingProfile::survey_bytes_per_pixel, "B", "serialized size of one survey value", true, Range::non_negative},
    {"set_beam_position_s", &TimingProfile::set_beam_position_s, "s", "set beam position (remote command)", true, Range::non_negative},
    {"read_beam_position_s", &TimingProfile::read_beam_position_s, "s", "read beam position back", true, Range::non_negative},
    {"settle_s", &TimingProfile::settle_s, "s", "scan-coil settling after a move", true, Range::non_negative},
    {"default_exposure_s", &TimingProfile::default_exposure_s, "s", "spectrum exposure (default)", true, Range::positive},
    {"readout_s", &TimingProfile::readout_s, "s", "camera readout of one spectrum", true, Range::non_negative},
    {"spectrum_bytes_per_channel", &TimingProfile::spectrum_bytes_per_channel, "B", "serialized size of one spectrum channel", true, Range::non_negative},
    {"spectrum_channels", &TimingProfile::spectrum_channels, "channels", "channels read out and sent per spectrum (0 = as simulated)", true, Range::non_negative},
    {"software_overhead_s", &TimingProfile::software_overhead_s, "s", "server + client processing per spectrum", true, Range::non_negative},
    {"spectrum_setup_s", &TimingProfile::spectrum_setup_s, "s", "camera prepare: first spectrum or settings change", true, Range::non_negative},
    {"si_pixel_overhead_s", &TimingProfile::si_pixel_overhead_s, "s", "SI scan: readout/sync per pixel beyond the exposure", true, Range::non_negative},
    {"si_line_flyback_s", &TimingProfile::si_line_flyback_s, "s", "SI scan: per change of scan line", true, Range::non_negative},
    {"si_setup_s", &TimingProfile::si_setup_s, "s", "SI scan: prepare (first / settings change)", true, Range::non_negative},
    {"probe_current_pA", &TimingProfile::probe_current_pA, "pA", "probe current (default)", true, Range::positive},
    {"max_exposure_s", &TimingProfile::max_exposure_s, "s", "hard limit per spectrum", true, Range::positive},
    {"model_step_s", &TimingProfile::model_step_s, "s", "model strategy compute per decision on the client (0 = unknown)", false, Range::non_negative},
    {"noise_gain", &TimingProfile::noise_gain, "counts/event", "detector gain", false, Range::non_negative},
    {"noise_dark_offset", &TimingProfile::noise_dark_offset, "counts", "dark offset per channel", false, Range::non_negative},
    {"noise_readout_sigma", &TimingProfile::noise_readout_sigma, "counts", "readout noise rms per channel", false, Range::non_negative},
    {"drift_velocity_row_nm_per_s", &TimingProfile::drift_velocity_row_nm_per_s, "nm/s", "linear drift, row axis", false, Range::non_negative},
    {"drift_velocity_col_nm_per_s", &TimingProfile::drift_velocity_col_nm_per_s, "nm/s", "linear drift, column axis", false, Range::non_negative},
    {"drift_random_walk_nm_per_sqrt_s", &TimingProfile::drift_random_walk_nm_per_sqrt_s, "nm/sqrt(s)", "random-walk drift coefficient", false, Range::non_negative},
    {"drift_jitter_amplitude_nm", &TimingProfile::drift_jitter_amplitude_nm, "nm", "periodic jitter amplitude", false, Range::non_negative},
    {"drift_jitter_period_s", &TimingProfile::drift_jitter_period_s, "s", "periodic jitter period", false, Range::non_negative},
    {"drift_settling_velocity_row_nm_per_s", &TimingProfile::drift_settling_velocity_row_nm_per_s, "nm/s", "settling drift at t = 0, row axis", false, Range::non_negative},
    {"drift_settling_velocity_col_nm_per_s", &TimingProfile::drift_settling_velocity_col_nm_per_s, "nm/s", "settling drift at t = 0, column axis", false, Range::non_negative},
    {"drift_settling_tau_s", &TimingProfile::drift_settling_tau_s, "s", "settling drift decay time constant", false, Range::non_negative},
    {"drift_jumps_per_s", &TimingProfile::drift_jumps_per_s, "1/s", "rate of sudden drift jumps", false, Range::non_negative},
    {"drift_jump_nm", &TimingProfile::drift_jump_nm, "nm", "rms length of a drift jump", false, Range::non_negative},
};

bool is_velocity(const Key& k) {
  return k.field == &TimingProfile::drift_velocity_row_nm_per_s ||
         k.field == &TimingProfile::drift_velocity_col_nm_per_s ||
         k.field == &TimingProfile::drift_settling_velocity_row_nm_per_s ||
         k.field == &TimingProfile::drift_settling_velocity_col_nm_per_s;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

std::vector<std::string> TimingProfile::builtin_names() {
  return {"rsi2024-remote", "rsi2024-local", "ideal"};
}

std::string TimingProfile::profile_dir() {
  if (const char* env = std::getenv("AUTOSTEM_PROFILE_DIR"); env && *env) return env;
  return AUTOSTEM_PROFILE_DIR;
}

TimingProfile TimingProfile::load(const std::string& name_or_path) {
  namespace fs = std::filesystem;
  const auto names = builtin_names();
  fs::path path;
  if (std::find(names.begin(), names.end(), name_or_path) != names.end()) {
    path = fs::path(profile_dir()) / (name_or_path + ".ini");
  } else {
    path = name_or_path;
    const bool looks_like_path = name_or_path.find('/') != std::string::npos ||
                                 path.extension() == ".ini" || fs::exists(path);
    if (!looks_like_path)
      throw std::invalid_argument("timing profile '" + name_or_path +
                                  "': not a built-in profile (" + join(names) +
                                  ") and not a path to an .ini file");
  }
  std::ifstream in(path);
  if (!in)
    throw std::invalid_argument("timing profile '" + path.string() + "': cannot open the file");

  TimingProfile p;
  p.source_path = path.string();
  std::string name, description;
  po::options_description desc;
  desc.add_options()("name", po::value<std::string>(&name)->required(), "profile name")(
      "description", po::value<std::string>(&description), "one line");
  for (const Key& k : kKeys) {
    auto* v = po::value<double>(&(p.*k.field));
    if (k.required) v->required();
    desc.add_options()(k.key, v, k.description);
  }
  try {
    po::variables_map vm;
    po::store(po::parse_config_file(in, desc, /*allow_unregistered=*/false), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw std::invalid_argument("timing profile '" + path.string() + "': " + e.what());
  }
  p.name = name;
  p.description = description;
  p.validate("timing profile '" + path.string() + "'");
  return p;
}

void TimingProfile::validate(const std::string& where) const {
  for (const Key& k : kKeys) {
    const double v = this->*k.field;
    const bool ok = std::isfinite(v) && (is_velocity(k) ||
                                         (k.range == Range::positive ? v > 0.0 : v >= 0.0));
    if (!ok)
      throw std::invalid_argument(where + ": key '" + k.key + "' = " + std::to_string(v) +
                                  (is_velocity(k) ? "; expected a finite number"
                                   : k.range == Range::positive ? "; expected a finite number > 0"
                                                                : "; expected a finite number >= 0"));
  }
  if (spectrum_channels != std::floor(spectrum_channels))
    throw std::invalid_argument(where + ": key 'spectrum_channels' = " +
                                std::to_string(spectrum_channels) + "; expected a whole number");
  if (default_exposure_s > max_exposure_s)
    throw std::invalid_argument(where + ": key 'default_exposure_s' = " +
                                std::to_string(default_exposure_s) + " exceeds max_exposure_s = " +
                                std::to_string(max_exposure_s));
}

std::vector<ProfileParameter> TimingProfile::parameters() const {
  std::vector<ProfileParameter> out;
  out.reserve(std::size(kKeys));
  for (const Key& k : kKeys) out.push_back({k.key, this->*k.field, k.unit, k.description});
  return out;
}

double TimingProfile::transfer_time_s(double bytes) const {
  return bytes / link_bandwidth_Bps + link_latency_s;
}

double TimingProfile::survey_time_s(std::size_t rows, std::size_t cols, double dwell_s) const {
  const double dwell = dwell_s > 0.0 ? dwell_s : default_dwell_s;
  const double pixels = static_cast<double>(rows) * static_cast<double>(cols);
  return pixels * dwell + static_cast<double>(rows) * line_flyback_s + frame_overhead_s +
         transfer_time_s(pixels * survey_bytes_per_pixel);
}

double TimingProfile::spectrum_transfer_s(std::size_t channels) const {
  const double n = spectrum_channels > 0.0 ? spectrum_channels : static_cast<double>(channels);
  return transfer_time_s(n * spectrum_bytes_per_channel);
}

double TimingProfile::point_time_s(double exposure_s, std::size_t channels) const {
  return point_pre_exposure_s() + exposure_s + readout_s + spectrum_transfer_s(channels) +
         software_overhead_s;
}

double TimingProfile::isolated_point_time_s(double exposure_s, std::size_t channels) const {
  return connection_s + camera_activation_s + spectrum_setup_s + point_time_s(exposure_s, channels);
}

double TimingProfile::si_grid_time_s(std::size_t rows, std::size_t cols, double exposure_s) const {
  const double n = static_cast<double>(rows) * static_cast<double>(cols);
  return camera_activation_s + si_setup_s + n * si_pixel_time_s(exposure_s) +
         (rows > 0 ? static_cast<double>(rows - 1) : 0.0) * si_line_flyback_s;
}

}  // namespace autostem::sim
