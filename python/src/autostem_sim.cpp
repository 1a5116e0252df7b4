// autostem_sim: the simulated microscope for Python, for the fake DigitalMicrograph module
// (backends/dm/fake/DigitalMicrograph.py). It builds the instrument exactly as `autostem run`
// does (datasets::make_phantom / load_ground_truth + backends::make_simulated_instrument), so a
// live session rehearsed through the fake DM yields the signals of an in-process simulated run
// with the same seed: same ground truth, same random streams, same order of acquisitions.

#include <autostem/backends/simulated.hpp>
#include <autostem/datasets/ground_truth.hpp>
#include <autostem/datasets/phantoms.hpp>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace py = pybind11;

namespace {

class FakeMicroscope {
 public:
  /// phantom: a built-in phantom name (then dataset/survey are ignored) or empty; dataset/survey:
  /// ground-truth files as for `autostem run --dataset/--survey`. rows, cols: phantom size.
  /// drift: a drift preset as for `autostem run --drift` ("" or "off": none).
  /// Throws std::invalid_argument (ValueError in Python) on bad options, as the factory does.
  FakeMicroscope(const std::string& phantom, const std::string& dataset, const std::string& survey,
                 std::size_t rows, std::size_t cols, const std::string& profile,
                 std::uint64_t seed, bool noise, const std::string& drift) {
    autostem::GroundTruth truth;
    if (!phantom.empty()) {
      truth = autostem::datasets::make_phantom(phantom, seed, rows, cols);
    } else {
      std::optional<std::filesystem::path> si, sv;
      if (!dataset.empty()) si = dataset;
      if (!survey.empty()) sv = survey;
      if (!si && !sv) throw std::invalid_argument("FakeMicroscope: give a phantom or a dataset");
      truth = autostem::datasets::load_ground_truth(si, sv);
    }
    source_ = truth.source;
    autostem::backends::SimulatedOptions o;
    o.profile = profile;
    o.seed = seed;
    o.noise = noise;
    // As the command line does (apps/src/session_options.cpp): "off" is no preset.
    if (drift != "off") o.drift_preset = drift;
    inst_ = autostem::backends::make_simulated_instrument(std::move(truth), o);
  }

  py::dict describe() const {
    const autostem::InstrumentInfo i = inst_->describe();
    py::dict d;
    d["name"] = i.name;
    d["profile"] = i.profile;
    d["source"] = source_;
    d["field_rows"] = i.field_rows;
    d["field_cols"] = i.field_cols;
    d["pixel_size_nm"] = i.calibration.pixel_size_nm;
    d["energy_offset_eV"] = i.energy.offset_eV;
    d["dispersion_eV"] = i.energy.dispersion_eV;
    d["channels"] = i.energy.channels;
    d["detectors"] = i.detectors;
    d["default_dwell_s"] = i.default_dwell_s;
    d["default_exposure_s"] = i.default_exposure_s;
    d["probe_current_pA"] = i.default_probe_current_pA;
    d["max_exposure_s"] = i.max_exposure_s;
    return d;
  }

  /// (rows, cols) float64 survey; dwell_s 0 = the profile's default.
  py::tuple survey(double dwell_s, const std::string& detector) {
    autostem::SurveySettings s;
    s.dwell_s = dwell_s;
    s.detector = detector;
    autostem::Survey sv = inst_->acquire_survey(s);
    py::array_t<double> a({sv.image.data.rows(), sv.image.data.cols()});
    std::memcpy(a.mutable_data(), sv.image.data.data(),
                sizeof(double) * static_cast<std::size_t>(sv.image.data.size()));
    return py::make_tuple(a, sv.t_start_s, sv.t_end_s, sv.dose_e_per_A2);
  }

  /// One point-mode spectrum at (row, col): (float32 signal, actual_row, actual_col, t_start_s,
  /// t_end_s, dose_e_per_A2). Throws ValueError on an out-of-field position or bad exposure.
  /// mode: "point" or "si_scan" (the simulator's synchronized spectrum-image timing).
  py::tuple spectrum(double row, double col, double exposure_s, const std::string& mode) {
    const autostem::Position p{row, col};
    autostem::PointSettings s;
    s.exposure_s = exposure_s;
    inst_->submit(std::span<const autostem::Position>(&p, 1), s, parse_mode(mode));
    std::vector<autostem::Measurement> ms;
    while (ms.empty() && inst_->in_flight() > 0) ms = inst_->collect(true);
    if (ms.size() != 1) throw std::runtime_error("FakeMicroscope: expected one measurement");
    const autostem::Measurement& m = ms.front();
    py::array_t<float> a(static_cast<py::ssize_t>(m.signal.size()));
    std::memcpy(a.mutable_data(), m.signal.data(), sizeof(float) * m.signal.size());
    return py::make_tuple(a, m.actual.row, m.actual.col, m.t_start_s, m.t_end_s, m.dose_e_per_A2);
  }

  /// A drift-reference patch (Instrument::acquire_patch): rows x cols pixels whose corner is
  /// commanded at (row0 + offset_row, col0 + offset_col), dwell_s per pixel (0 = default):
  /// ((rows, cols) float64 image, t_start_s, t_end_s, dose_e_per_A2 per pixel). Throws
  /// ValueError on a rectangle outside the field, rows/cols < 2 or a non-finite offset.
  py::tuple acquire_patch(std::size_t row0, std::size_t col0, std::size_t rows, std::size_t cols,
                          double offset_row, double offset_col, double dwell_s) {
    autostem::PatchScan scan;
    scan.row0 = row0;
    scan.col0 = col0;
    scan.rows = rows;
    scan.cols = cols;
    scan.offset = {offset_row, offset_col};
    scan.settings.dwell_s = dwell_s;
    autostem::Survey p = inst_->acquire_patch(scan);
    py::array_t<double> a({p.image.data.rows(), p.image.data.cols()});
    std::memcpy(a.mutable_data(), p.image.data.data(),
                sizeof(double) * static_cast<std::size_t>(p.image.data.size()));
    return py::make_tuple(a, p.t_start_s, p.t_end_s, p.dose_e_per_A2);
  }

  /// Session time one more point-mode spectrum of exposure_s adds (Instrument::estimate_point),
  /// seconds.
  double estimate_point_s(double exposure_s, const std::string& mode) const {
    autostem::PointSettings s;
    s.exposure_s = exposure_s;
    return inst_->estimate_point(s, parse_mode(mode)).time_s;
  }

  /// Advances the simulated clock by seconds of idle time (Instrument::elapse).
  void elapse(double seconds) { inst_->elapse(seconds); }

  /// "point" or "si_scan"; throws ValueError otherwise.
  static autostem::AcquisitionMode parse_mode(const std::string& mode) {
    if (mode == "point") return autostem::AcquisitionMode::point;
    if (mode == "si_scan") return autostem::AcquisitionMode::si_scan;
    throw std::invalid_argument("acquisition mode must be point or si_scan, got '" + mode + "'");
  }

  void blank() { inst_->blank(); }
  double now_s() const { return inst_->now_s(); }
  double total_electrons() const { return inst_->total_electrons(); }

 private:
  std::unique_ptr<autostem::Instrument> inst_;
  std::string source_;
};

}  // namespace

PYBIND11_MODULE(autostem_sim, m) {
  m.doc() = "autostem's simulated microscope (for the fake DigitalMicrograph module)";
  py::class_<FakeMicroscope>(m, "FakeMicroscope")
      .def(py::init<const std::string&, const std::string&, const std::string&, std::size_t,
                    std::size_t, const std::string&, std::uint64_t, bool, const std::string&>(),
           py::arg("phantom") = "", py::arg("dataset") = "", py::arg("survey") = "",
           py::arg("rows") = 128, py::arg("cols") = 128, py::arg("profile") = "rsi2024-remote",
           py::arg("seed") = 0, py::arg("noise") = true, py::arg("drift") = "")
      .def("describe", &FakeMicroscope::describe)
      .def("survey", &FakeMicroscope::survey, py::arg("dwell_s"), py::arg("detector") = "")
      .def("spectrum", &FakeMicroscope::spectrum, py::arg("row"), py::arg("col"),
           py::arg("exposure_s"), py::arg("mode") = "point")
      .def("acquire_patch", &FakeMicroscope::acquire_patch, py::arg("row0"), py::arg("col0"),
           py::arg("rows"), py::arg("cols"), py::arg("offset_row"), py::arg("offset_col"),
           py::arg("dwell_s"))
      .def("estimate_point_s", &FakeMicroscope::estimate_point_s, py::arg("exposure_s"),
           py::arg("mode") = "point")
      .def("elapse", &FakeMicroscope::elapse, py::arg("seconds"))
      .def("blank", &FakeMicroscope::blank)
      .def("now_s", &FakeMicroscope::now_s)
      .def("total_electrons", &FakeMicroscope::total_electrons);
}
