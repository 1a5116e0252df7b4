// HyperSpy's metadata layout for .hspy output (hyperspy_metadata.hpp).

#include "hyperspy_metadata.hpp"

#include <autostem/datasets/signal.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>

namespace autostem::cli {

namespace {

bool starts_with(const std::string& s, std::string_view p) { return s.compare(0, p.size(), p) == 0; }

bool hyperspy_namespace(const std::string& key) {
  for (std::string_view p : {"General.", "Signal.", "Acquisition_instrument.", "Sample."})
    if (starts_with(key, p)) return true;
  return false;
}

std::optional<double> number(const std::map<std::string, std::string>& md, const std::string& key) {
  auto it = md.find(key);
  if (it == md.end() || it->second.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  if (end == it->second.c_str()) return std::nullopt;
  return v;
}

std::string text(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

/// HyperSpy 1.7's DM mapping (digital_micrograph.py, get_mapping), the instrument part.
void map_dm(const datasets::Signal& s, std::map<std::string, std::string>& out) {
  const auto& md = s.metadata;
  // Images built from others (a stack) keep the instrument tags where they were at creation.
  const bool has_source = std::any_of(md.begin(), md.end(), [](const auto& kv) {
    return starts_with(kv.first, "ImageTags.source.Tags at creation.");
  });
  const std::string tags = has_source ? "ImageTags.source.Tags at creation." : "ImageTags.";
  auto get = [&](const std::string& k) -> const std::string* {
    auto it = md.find(tags + k);
    return it == md.end() ? nullptr : &it->second;
  };
  const std::string* illumination = get("Microscope Info.Illumination Mode");
  std::string mode;  // HyperSpy's _get_mode
  if (illumination)
    mode = illumination->find("STEM") != std::string::npos ? "STEM"
           : illumination->find("SEM") != std::string::npos ? "SEM" : "TEM";
  const std::string ai = "Acquisition_instrument." + std::string(mode == "SEM" ? "SEM" : "TEM") + ".";
  auto scaled = [&](const std::string& tag, const std::string& key, double factor) {
    if (auto v = number(md, tags + tag)) out[ai + key] = text(*v * factor);
  };
  scaled("Microscope Info.Voltage", "beam_energy", 1e-3);
  scaled("Microscope Info.Stage Position.Stage Alpha", "Stage.tilt_alpha", 1.0);
  scaled("Microscope Info.Stage Position.Stage Beta", "Stage.tilt_beta", 1.0);
  scaled("Microscope Info.Stage Position.Stage X", "Stage.x", 1e-3);
  scaled("Microscope Info.Stage Position.Stage Y", "Stage.y", 1e-3);
  scaled("Microscope Info.Stage Position.Stage Z", "Stage.z", 1e-3);
  if (illumination) out[ai + "acquisition_mode"] = mode;
  scaled("Microscope Info.Probe Current (nA)", "beam_current", 1.0);
  if (get("Microscope Info.Illumination Mode") || get("Microscope Info.Imaging Mode") ||
      get("Microscope Info.Name") || get("Microscope Info.Indicated Magnification")) {
    const bool is_tem = illumination && *illumination == "TEM";
    const std::string* imaging = get("Microscope Info.Imaging Mode");
    const bool diffraction = imaging && *imaging == "DIFFRACTION";
    if (is_tem) {
      scaled("Microscope Info.Indicated Magnification", diffraction ? "camera_length" : "magnification", 1.0);
    } else {
      scaled("Microscope Info.STEM Camera Length", "camera_length", 1.0);
      scaled("Microscope Info.Indicated Magnification", "magnification", 1.0);
    }
    for (const char* loc : {"Session Info.Microscope", "Microscope Info.Name", "Microscope Info.Microscope"})
      if (const std::string* m = get(loc); m && !m->empty() && *m != "[]") {
        out[ai + "microscope"] = *m;
        break;
      }
  }
  // The DigiScan pixel time (µs) as dwell_time (s): HyperSpy maps it for scanned images; for EELS
  // it does not (it leaves it in original_metadata), autostem does too — tagged_conditions reads
  // it, so a converted spectrum image still states its dwell.
  const bool scanned = std::any_of(md.begin(), md.end(),
                                   [&](const auto& kv) { return starts_with(kv.first, tags + "DigiScan."); });
  if (auto v = number(md, tags + "DigiScan.Sample Time")) out[ai + "dwell_time"] = text(*v * 1e-6);
  else if (!scanned && s.signal_type != "EELS" && s.signal_type.rfind("EDS", 0) != 0 && s.signal_type != "CL")
    if (auto e = number(md, tags + "Acquisition.Parameters.Detector.exposure (s)"))
      out["Acquisition_instrument.TEM.Camera.exposure"] = text(*e);
  if (s.signal_type == "EELS") {
    const std::string eels = "Acquisition_instrument.TEM.Detector.EELS.";
    if (auto v = number(md, tags + "EELS.Experimental Conditions.Collection semi-angle (mrad)"))
      out[eels + "collection_angle"] = text(*v);
    if (auto v = number(md, tags + "EELS.Experimental Conditions.Convergence semi-angle (mrad)"))
      out["Acquisition_instrument.TEM.convergence_angle"] = text(*v);
    const std::string what = scanned ? "dwell_time" : "exposure";
    if (auto v = number(md, tags + "EELS.Acquisition.Integration time (s)")) {
      out[eels + what] = text(*v);
    } else if (auto e = number(md, tags + "EELS.Acquisition.Exposure (s)")) {
      out[eels + what] = text(*e * number(md, tags + "EELS.Acquisition.Number of frames").value_or(1.0));
    }
    if (auto v = number(md, tags + "EELS.Acquisition.Number of frames")) out[eels + "frame_number"] = text(*v);
    if (const std::string* a = get("EELS Spectrometer.Aperture label")) {
      std::string t = *a;
      if (auto p = t.find("mm"); p != std::string::npos) t.erase(p, 2);
      char* end = nullptr;
      const double v = std::strtod(t.c_str(), &end);
      if (end != t.c_str()) out[eels + "aperture_size"] = text(v);
    }
    if (const std::string* n = get("EELS Spectrometer.Instrument name")) out[eels + "spectrometer"] = *n;
  }
}

}  // namespace

std::map<std::string, std::string> hyperspy_metadata(const datasets::Signal& signal, const std::filesystem::path& file) {
  datasets::FileFormat format = datasets::FileFormat::unknown;
  try {
    format = datasets::detect_format(file);
  } catch (const std::exception&) {
  }
  const bool dm = format == datasets::FileFormat::dm3 || format == datasets::FileFormat::dm4;
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : signal.metadata) {
    if (hyperspy_namespace(key)) out[key] = value;
    else if (starts_with(key, "original_metadata.")) out[key] = value;
    else out["original_metadata." + std::string(dm ? "ImageList.TagGroup0." : "") + key] = value;
  }
  if (dm) map_dm(signal, out);
  return out;
}

std::map<std::string, std::string> source_metadata(const std::map<std::string, std::string>& hyperspy) {
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : hyperspy)
    if (starts_with(key, "Acquisition_instrument.") || starts_with(key, "original_metadata.")) out[key] = value;
  return out;
}

datasets::Signal scan_map_signal(const ImageArray& m, const FourDStem& d, const std::string& title,
                                 const std::string& quantity) {
  datasets::Signal s;
  s.title = title;
  s.dtype = datasets::DType::float32;
  const auto& cal = d.calibration();
  s.axes = {AxisCalibration{"y", "nm", cal.origin_row_nm, cal.pixel_size_nm, d.rows(), false},
            AxisCalibration{"x", "nm", cal.origin_col_nm, cal.pixel_size_nm, d.cols(), false}};
  s.bytes.resize(d.rows() * d.cols() * sizeof(float));
  auto* out = reinterpret_cast<float*>(s.bytes.data());
  for (std::size_t r = 0; r < d.rows(); ++r)
    for (std::size_t c = 0; c < d.cols(); ++c)
      out[r * d.cols() + c] = static_cast<float>(m(Eigen::Index(r), Eigen::Index(c)));
  if (!quantity.empty()) s.metadata["Signal.quantity"] = quantity;
  return s;
}

}  // namespace autostem::cli
