// autostem._core: autostem's file readers, results reader and phantoms for Python (issue 20).
// The pure-Python package python/autostem/__init__.py builds dicts / HyperSpy signals from what
// this returns; nothing here depends on HyperSpy. Arrays read from a data file are handed to
// NumPy without a copy: the Signal's byte vector moves into a capsule that the array owns.

#include <autostem/config.hpp>
#include <autostem/datasets/dm_tags.hpp>
#include <autostem/datasets/phantoms.hpp>
#include <autostem/datasets/results.hpp>
#include <autostem/datasets/signal.hpp>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace py = pybind11;
namespace ad = autostem::datasets;

namespace {

/// NumPy dtype of a reader dtype; rgba8 becomes HyperSpy's structured (R, G, B, A) uint8.
py::dtype numpy_dtype(ad::DType t) {
  switch (t) {
    case ad::DType::boolean: return py::dtype("?");
    case ad::DType::int8: return py::dtype("i1");
    case ad::DType::uint8: return py::dtype("u1");
    case ad::DType::int16: return py::dtype("i2");
    case ad::DType::uint16: return py::dtype("u2");
    case ad::DType::int32: return py::dtype("i4");
    case ad::DType::uint32: return py::dtype("u4");
    case ad::DType::int64: return py::dtype("i8");
    case ad::DType::uint64: return py::dtype("u8");
    case ad::DType::float32: return py::dtype("f4");
    case ad::DType::float64: return py::dtype("f8");
    case ad::DType::complex64: return py::dtype("c8");
    case ad::DType::complex128: return py::dtype("c16");
    case ad::DType::rgba8: {
      py::list fields;
      for (const char* c : {"R", "G", "B", "A"}) fields.append(py::make_tuple(c, "u1"));
      return py::dtype::from_args(fields);
    }
  }
  throw std::logic_error("autostem._core: unknown DType");
}

/// A C-order array over `bytes` (moved to the heap; freed when the array is collected).
py::array owning_array(std::vector<std::byte>&& bytes, py::dtype dt, std::vector<py::ssize_t> shape) {
  auto* owner = new std::vector<std::byte>(std::move(bytes));
  py::capsule free_when_done(owner, [](void* p) { delete static_cast<std::vector<std::byte>*>(p); });
  return py::array(dt, shape, owner->data(), free_when_done);
}

template <class T>
py::array owning_array(std::vector<T>&& values, std::vector<py::ssize_t> shape) {
  auto* owner = new std::vector<T>(std::move(values));
  py::capsule free_when_done(owner, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(shape, owner->data(), free_when_done);
}

py::array image_array(const autostem::ImageArray& a) {
  py::array_t<double> out({static_cast<py::ssize_t>(a.rows()), static_cast<py::ssize_t>(a.cols())});
  if (a.size()) std::memcpy(out.mutable_data(), a.data(), sizeof(double) * static_cast<std::size_t>(a.size()));
  return out;
}

py::dict axis_dict(const autostem::AxisCalibration& a) {
  py::dict d;
  d["name"] = a.name;
  d["size"] = a.size;
  d["scale"] = a.scale;
  d["offset"] = a.offset;
  d["units"] = a.units;
  d["navigate"] = a.navigate;
  return d;
}

/// One Signal as {title, signal_type, dtype, data, axes, metadata (flat "A.B.c" → text)}.
py::dict signal_dict(ad::Signal&& s) {
  py::dict d;
  d["title"] = s.title;
  d["signal_type"] = s.signal_type;
  d["dtype"] = std::string(ad::dtype_name(s.dtype));
  py::list axes;
  std::vector<py::ssize_t> shape;
  for (const auto& a : s.axes) {
    axes.append(axis_dict(a));
    shape.push_back(static_cast<py::ssize_t>(a.size));
  }
  d["axes"] = axes;
  d["metadata"] = s.metadata;
  d["data"] = owning_array(std::move(s.bytes), numpy_dtype(s.dtype), shape);
  return d;
}

py::list read_signals(const std::string& path) {
  std::vector<ad::Signal> signals;
  {
    py::gil_scoped_release release;
    signals = ad::read_signals(path);
  }
  py::list out;
  for (auto& s : signals) out.append(signal_dict(std::move(s)));
  return out;
}

/// A DM tag as a Python value, named as HyperSpy's DM reader names them: unnamed data tags
/// "Data<i>", unnamed groups "TagGroup<i>" (counted separately).
py::object tag_value(const ad::TagNode& n);

py::dict tag_group(const ad::TagNode& n) {
  py::dict d;
  int unnamed_data = 0, unnamed_group = 0;
  for (const auto& c : n.children) {
    std::string name = c.name;
    if (name.empty())
      name = c.kind == ad::TagKind::group ? "TagGroup" + std::to_string(unnamed_group++)
                                          : "Data" + std::to_string(unnamed_data++);
    d[py::str(name)] = tag_value(c);
  }
  return d;
}

py::object tag_value(const ad::TagNode& n) {
  switch (n.kind) {
    case ad::TagKind::group: return tag_group(n);
    case ad::TagKind::structure: {
      py::list fields;
      for (const auto& c : n.children) fields.append(tag_value(c));
      return py::tuple(fields);
    }
    case ad::TagKind::string: return py::str(std::get<std::string>(n.value));
    case ad::TagKind::array: {
      if (!n.children.empty()) {  // an array of structs
        py::list items;
        for (const auto& c : n.children) items.append(tag_value(c));
        return items;
      }
      const auto& a = std::get<ad::TagArray>(n.value);
      if (a.values.size() == a.count) return py::array_t<double>(a.values.size(), a.values.data());
      // Large arrays (image data) stay in the file, as HyperSpy leaves ImageData.Data unread.
      py::dict d;
      d["type"] = std::string(ad::dm_type_name(a.element_type));
      d["count"] = a.count;
      d["offset"] = a.offset;
      return d;
    }
    case ad::TagKind::scalar:
      return std::visit(
          [](const auto& v) -> py::object {
            using V = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<V, std::monostate> || std::is_same_v<V, ad::TagArray>)
              return py::none();
            else
              return py::cast(v);
          },
          n.value);
  }
  return py::none();
}

/// {version, little_endian, tags: the root group as nested dicts, first_image: index in
/// ImageList of the first signal read_signals returns (the thumbnail rule of read_dm_bytes)}.
py::dict dm_tags(const std::string& path) {
  const ad::DMFile f = ad::read_dm_tags(path);
  py::dict d;
  d["version"] = f.version;
  d["little_endian"] = f.little_endian;
  d["tags"] = tag_group(f.root);
  std::size_t first = 0;
  if (const ad::TagNode* list = f.root.child("ImageList"); list && list->children.size() > 1) {
    const ad::TagNode* t = list->children[0].find("ImageData.DataType");
    if (t && t->number() && (*t->number() == 23 || *t->number() == 8)) first = 1;
  }
  d["first_image"] = first;
  return d;
}

/// Short names of the formats (the Python package keys its metadata layout on them).
std::string format_key(ad::FileFormat f) {
  switch (f) {
    case ad::FileFormat::hspy: return "hspy";
    case ad::FileFormat::emd_berkeley: return "emd_berkeley";
    case ad::FileFormat::emd_velox: return "emd_velox";
    case ad::FileFormat::hdf5_other: return "hdf5";
    case ad::FileFormat::npy: return "npy";
    case ad::FileFormat::dm3: return "dm3";
    case ad::FileFormat::dm4: return "dm4";
    case ad::FileFormat::ser: return "ser";
    case ad::FileFormat::mib: return "mib";
    case ad::FileFormat::unknown: return "unknown";
  }
  return "unknown";
}

py::array positions_array(const std::vector<autostem::Position>& p) {
  py::array_t<double> out({static_cast<py::ssize_t>(p.size()), py::ssize_t{2}});
  auto m = out.mutable_unchecked<2>();
  for (std::size_t i = 0; i < p.size(); ++i) {
    m(static_cast<py::ssize_t>(i), 0) = p[i].row;
    m(static_cast<py::ssize_t>(i), 1) = p[i].col;
  }
  return out;
}

py::dict survey_dict(const autostem::Survey& s) {
  py::dict d;
  d["image"] = image_array(s.image.data);
  d["pixel_size_nm"] = s.image.calibration.pixel_size_nm;
  d["origin_row_nm"] = s.image.calibration.origin_row_nm;
  d["origin_col_nm"] = s.image.calibration.origin_col_nm;
  d["name"] = s.image.name;
  d["units"] = s.image.units;
  d["detector"] = s.detector;
  d["dwell_s"] = s.dwell_s;
  d["probe_current_pA"] = s.probe_current_pA;
  d["t_start_s"] = s.t_start_s;
  d["t_end_s"] = s.t_end_s;
  d["dose_e_per_A2"] = s.dose_e_per_A2;
  return d;
}

py::dict energy_dict(const autostem::EnergyAxis& e) {
  py::dict d;
  d["offset_eV"] = e.offset_eV;
  d["dispersion_eV"] = e.dispersion_eV;
  d["channels"] = e.channels;
  return d;
}

/// The results file as plain values (docs/results-format.md; names as RunRecord's).
py::dict read_results(const std::string& path) {
  ad::RunRecord r;
  {
    py::gil_scoped_release release;
    r = ad::read_results(path);
  }
  py::dict d;
  d["survey"] = survey_dict(r.survey);
  d["energy"] = energy_dict(r.energy);
  d["requested"] = positions_array(r.requested);
  d["commanded"] = positions_array(r.commanded);
  d["actual"] = positions_array(r.actual);
  d["signal_kind"] = std::string(autostem::to_string(r.signal_shape.kind));
  d["signal_shape"] = py::tuple(py::cast(r.signal_shape.dims));
  const std::size_t n = r.signals.size();
  const std::size_t channels = n ? r.signals.front().size() : r.signal_shape.elements();
  std::vector<float> flat(n * channels);
  for (std::size_t i = 0; i < n; ++i) {
    if (r.signals[i].size() != channels)
      throw std::runtime_error(path + ": measurement " + std::to_string(i) + " has " +
                               std::to_string(r.signals[i].size()) + " values; expected " +
                               std::to_string(channels));
    std::copy(r.signals[i].begin(), r.signals[i].end(), flat.begin() + static_cast<std::ptrdiff_t>(i * channels));
  }
  d["signals"] = owning_array(std::move(flat), {static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(channels)});
  d["t_start_s"] = py::array_t<double>(r.t_start_s.size(), r.t_start_s.data());
  d["t_end_s"] = py::array_t<double>(r.t_end_s.size(), r.t_end_s.data());
  d["dose_e_per_A2"] = py::array_t<double>(r.dose_e_per_A2.size(), r.dose_e_per_A2.data());
  d["exposure_s"] = py::array_t<double>(r.exposure_s.size(), r.exposure_s.data());
  d["probe_current_pA"] = py::array_t<double>(r.probe_current_pA.size(), r.probe_current_pA.data());
  d["dose_map"] = r.dose_map ? py::object(image_array(*r.dose_map)) : py::object(py::none());
  d["attributes"] = r.attributes;
  d["strategy_parameters"] = r.strategy_parameters;
  d["prediction_steps"] = r.prediction_steps;
  d["complete"] = r.complete;
  return d;
}

/// {mean, uncertainty, acquisition}: (rows, cols) float64 arrays, None for maps not stored.
py::dict read_prediction(const std::string& path, std::size_t step) {
  const autostem::Prediction p = ad::read_prediction(path, step);
  py::dict d;
  d["mean"] = p.mean.size() ? py::object(image_array(p.mean)) : py::object(py::none());
  d["uncertainty"] = p.uncertainty.size() ? py::object(image_array(p.uncertainty)) : py::object(py::none());
  d["acquisition"] = p.acquisition.size() ? py::object(image_array(p.acquisition)) : py::object(py::none());
  return d;
}

/// A built-in phantom as `autostem run --phantom NAME --phantom-shape ROWSxCOLS --seed SEED`
/// builds it: {source, survey (rows, cols) float64, pixel_size_nm, spectrum_image (rows, cols, E)
/// float32 or None, four_d (rows, cols, ky, kx) float32 or None, energy, recorded}.
py::dict phantom(const std::string& name, std::uint64_t seed, std::size_t rows, std::size_t cols) {
  autostem::GroundTruth t = ad::make_phantom(name, seed, rows, cols);
  py::dict d;
  d["source"] = t.source;
  d["survey"] = image_array(t.survey.data);
  d["pixel_size_nm"] = t.survey.calibration.pixel_size_nm;
  d["spectrum_image"] = py::none();
  d["four_d"] = py::none();
  d["energy"] = py::none();
  if (t.spectrum_image) {
    const auto& si = *t.spectrum_image;
    auto data = si.data();
    d["spectrum_image"] = owning_array(std::vector<float>(data.begin(), data.end()),
                                       {static_cast<py::ssize_t>(si.rows()), static_cast<py::ssize_t>(si.cols()),
                                        static_cast<py::ssize_t>(si.channels())});
    d["energy"] = energy_dict(si.energy());
  }
  if (t.four_d) {
    const auto& f = *t.four_d;
    auto data = f.data();
    d["four_d"] = owning_array(std::vector<float>(data.begin(), data.end()),
                               {static_cast<py::ssize_t>(f.rows()), static_cast<py::ssize_t>(f.cols()),
                                static_cast<py::ssize_t>(f.ky()), static_cast<py::ssize_t>(f.kx())});
  }
  py::dict rec;
  rec["probe_current_pA"] = t.recorded.probe_current_pA;
  rec["exposure_s"] = t.recorded.exposure_s;
  rec["dwell_s"] = t.recorded.dwell_s;
  d["recorded"] = rec;
  return d;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "autostem's C++ readers (datasets/) for Python; use the autostem package, not this";
  m.attr("__version__") = AUTOSTEM_VERSION;
  m.def("read_signals", &read_signals, py::arg("path"),
        "Every data set of a DM3/DM4, SER, EMD, .hspy or .npy file as dicts {title, signal_type, "
        "dtype, data, axes, metadata}; data is not copied. Raises RuntimeError naming the file.");
  m.def("detect_format", [](const std::string& p) { return format_key(ad::detect_format(p)); },
        py::arg("path"),
        "The file's format told by its content: hspy, dm3, dm4, ser, npy, emd_berkeley, emd_velox, "
        "hdf5 (other), unknown. Raises RuntimeError when the file cannot be opened.");
  m.def("dm_tags", &dm_tags, py::arg("path"),
        "The tag tree of a DM3/DM4 file as nested dicts (HyperSpy's names for unnamed tags).");
  m.def("read_results", &read_results, py::arg("path"),
        "A run's results file (docs/results-format.md) as a dict of arrays and attributes.");
  m.def("read_prediction", &read_prediction, py::arg("path"), py::arg("step"),
        "The prediction maps stored at a step: {mean, uncertainty, acquisition}.");
  m.def("phantom", &phantom, py::arg("name"), py::arg("seed") = 1, py::arg("rows") = 128,
        py::arg("cols") = 128, "A built-in phantom's ground truth, as `autostem run --phantom` builds it.");
  m.def("phantom_names", &ad::phantom_names);
}
