#include <autostem/datasets/ground_truth.hpp>

#include <charconv>
#include <stdexcept>

namespace autostem::datasets {

double length_unit_in_nm(const std::string& units) {
  if (units.empty() || units == "nm") return 1.0;
  if (units == "µm" || units == "um" || units == "\xce\xbcm" /* Greek mu */) return 1000.0;
  if (units == "Å" || units == "A" || units == "angstrom" || units == "Angstrom" || units == "\xe2\x84\xab")
    return 0.1;
  if (units == "pm") return 0.001;
  if (units == "mm") return 1e6;
  if (units == "m") return 1e9;
  throw std::invalid_argument("length units '" + units +
                              "' not understood (expected nm, µm/um, Å, pm, mm or m)");
}

namespace {

std::string shape_text(const Signal& s) {
  std::string t = "(";
  for (std::size_t i = 0; i < s.axes.size(); ++i) t += (i ? ", " : "") + std::to_string(s.axes[i].size);
  return t + ")";
}

double metadata_number(const Signal& s, const std::string& key) {
  auto it = s.metadata.find(key);
  if (it == s.metadata.end()) return 0.0;
  double v = 0.0;
  const auto& t = it->second;
  auto r = std::from_chars(t.data(), t.data() + t.size(), v);
  if (r.ec != std::errc() || !std::isfinite(v) || v < 0) return 0.0;
  return v;
}

SpatialCalibration spatial(const Signal& s, const std::string& what) {
  const auto& ay = s.axes[0];
  const auto& ax = s.axes[1];
  double fy = 1.0, fx = 1.0;
  try {
    fy = length_unit_in_nm(ay.units);
    fx = length_unit_in_nm(ax.units);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(what + ": spatial axes: " + e.what());
  }
  SpatialCalibration c;
  c.pixel_size_nm = ax.scale * fx;
  c.origin_row_nm = ay.offset * fy;
  c.origin_col_nm = ax.offset * fx;
  if (!(c.pixel_size_nm > 0) || !std::isfinite(c.pixel_size_nm))
    throw std::invalid_argument(what + ": pixel size " + std::to_string(c.pixel_size_nm) +
                                " nm; expected a positive scale on the spatial axes");
  return c;
}

void fill_conditions(const Signal& s, RecordingConditions& rc) {
  const std::string tem = "Acquisition_instrument.TEM.";
  if (double v = metadata_number(s, tem + "Detector.EELS.exposure"); v > 0) rc.exposure_s = v;
  if (double v = metadata_number(s, tem + "dwell_time"); v > 0) rc.dwell_s = v;
  if (double v = metadata_number(s, tem + "Detector.EELS.dwell_time"); v > 0 && rc.exposure_s == 0)
    rc.exposure_s = v;
  // HyperSpy's metadata convention stores beam_current in nA.
  if (double v = metadata_number(s, tem + "beam_current"); v > 0) rc.probe_current_pA = v * 1000.0;
}

}  // namespace

std::optional<RecordedValue> recorded_exposure(const Signal& s) {
  static const char* keys[] = {
      "Acquisition_instrument.TEM.Detector.EELS.exposure",
      "Acquisition_instrument.TEM.Detector.EELS.dwell_time",
      "ImageTags.EELS.Acquisition.Exposure (s)",
      "ImageTags.SI.Acquisition.Pixel time (s)",
      "ImageTags.Acquisition.Parameters.High Level.Exposure (s)",
      "ObjectInfo.AcquireInfo.DwellTimePath",
  };
  for (const char* key : keys)
    if (const double v = metadata_number(s, key); v > 0) return RecordedValue{v, key};
  return std::nullopt;
}

GroundTruth ground_truth_from_signals(const std::optional<Signal>& spectrum_image,
                                      const std::optional<Signal>& survey,
                                      const std::string& source) {
  if (!spectrum_image && !survey)
    throw std::invalid_argument("ground truth: neither a spectrum image nor a survey was given");
  GroundTruth gt;
  gt.source = source;

  if (spectrum_image) {
    const Signal& si = *spectrum_image;
    const std::string what = "spectrum image '" + source + "'";
    if (si.ndim() == 4) {
      // 4D-STEM: (scan rows, scan cols, ky, kx), one diffraction pattern per scan pixel.
      FourDStem d(si.axes[0].size, si.axes[1].size, si.axes[2].size, si.axes[3].size,
                  spatial(si, "4D-STEM data '" + source + "'"));
      d.detector_ky = si.axes[2];
      d.detector_kx = si.axes[3];
      const std::vector<float> values = si.to_float();
      std::copy(values.begin(), values.end(), d.data().begin());
      gt.four_d = std::move(d);
      fill_conditions(si, gt.recorded);
    } else if (si.ndim() != 3) {
      throw std::invalid_argument(what + " has shape " + shape_text(si) +
                                  "; expected 3 dimensions (rows, cols, energy) or 4 (rows, "
                                  "cols, ky, kx: 4D-STEM)");
    }
  }
  if (spectrum_image && spectrum_image->ndim() == 3) {
    const Signal& si = *spectrum_image;
    const std::string what = "spectrum image '" + source + "'";
    const auto& e = si.axes[2];
    double ef = 1.0;
    if (e.units == "keV") ef = 1000.0;
    else if (!e.units.empty() && e.units != "eV")
      throw std::invalid_argument(what + ": energy axis '" + e.name + "' has units '" + e.units +
                                  "'; expected eV");
    EnergyAxis axis;
    axis.offset_eV = e.offset * ef;
    axis.dispersion_eV = e.scale * ef;
    axis.channels = e.size;
    if (!(axis.dispersion_eV > 0))
      throw std::invalid_argument(what + ": energy dispersion " + std::to_string(axis.dispersion_eV) +
                                  " eV/channel; expected > 0");
    SpectrumImage cube(si.axes[0].size, si.axes[1].size, axis, spatial(si, what));
    const std::vector<float> values = si.to_float();
    std::copy(values.begin(), values.end(), cube.data().begin());
    gt.spectrum_image = std::move(cube);
    fill_conditions(si, gt.recorded);
  }

  if (survey) {
    const Signal& sv = *survey;
    const std::string what = "survey '" + source + "'";
    if (sv.ndim() != 2)
      throw std::invalid_argument(what + " has shape " + shape_text(sv) +
                                  "; expected 2 dimensions (rows, cols)");
    const std::size_t grid_rows = gt.spectrum_image ? gt.spectrum_image->rows() : gt.four_d ? gt.four_d->rows() : 0;
    const std::size_t grid_cols = gt.spectrum_image ? gt.spectrum_image->cols() : gt.four_d ? gt.four_d->cols() : 0;
    if ((gt.spectrum_image || gt.four_d) && (grid_rows != sv.axes[0].size || grid_cols != sv.axes[1].size))
      throw std::invalid_argument("ground truth '" + source + "': the spectrum image has shape " +
                                  shape_text(*spectrum_image) + " but the survey has " +
                                  shape_text(sv) +
                                  "; they must share one pixel grid (rows, cols)");
    gt.survey.data.resize(static_cast<Eigen::Index>(sv.axes[0].size),
                          static_cast<Eigen::Index>(sv.axes[1].size));
    const std::vector<double> values = sv.to_double();
    std::copy(values.begin(), values.end(), gt.survey.data.data());
    gt.survey.calibration = spatial(sv, what);
    gt.survey.name = sv.title.empty() ? "survey" : sv.title;
    RecordingConditions rc;
    fill_conditions(sv, rc);
    if (rc.dwell_s > 0) gt.recorded.dwell_s = rc.dwell_s;
    if (gt.recorded.probe_current_pA == 0) gt.recorded.probe_current_pA = rc.probe_current_pA;
  } else if (gt.four_d) {
    // Without a survey the total counts of each pattern stand in for it.
    const FourDStem& d = *gt.four_d;
    gt.survey.data.resize(static_cast<Eigen::Index>(d.rows()), static_cast<Eigen::Index>(d.cols()));
    for (std::size_t r = 0; r < d.rows(); ++r)
      for (std::size_t c = 0; c < d.cols(); ++c) {
        double t = 0.0;
        for (float v : d.pattern(r, c)) t += v;
        gt.survey.data(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) = t;
      }
    gt.survey.calibration = d.calibration();
    gt.survey.name = "4D total counts";
    gt.survey.units = "counts";
  } else {
    gt.survey.data = gt.spectrum_image->total_counts();
    gt.survey.calibration = gt.spectrum_image->calibration();
    gt.survey.name = "SI total counts";
    gt.survey.units = "counts";
  }
  gt.validate();
  return gt;
}

GroundTruth load_ground_truth(std::optional<std::filesystem::path> spectrum_image,
                              std::optional<std::filesystem::path> survey) {
  std::optional<Signal> si, sv;
  std::string source;
  if (spectrum_image) {
    si = read_signal(*spectrum_image);
    source = spectrum_image->string();
  }
  if (survey) {
    sv = read_signal(*survey);
    source += (source.empty() ? "" : " + ") + survey->string();
  }
  return ground_truth_from_signals(si, sv, source);
}

}  // namespace autostem::datasets
