#include <autostem/config.hpp>
#include <autostem/datasets/results.hpp>

#include "h5.hpp"
#include "json_text.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>

namespace autostem::datasets {

namespace {

// The attributes signal_kind and signal_shape ("E" or "ky,kx") of /measurements.
void write_signal_shape(hid_t measurements, const SignalShape& shape) {
  h5::set_attr(measurements, "signal_kind", to_string(shape.kind));
  std::string dims;
  for (std::size_t d : shape.dims) dims += (dims.empty() ? "" : ",") + std::to_string(d);
  h5::set_attr(measurements, "signal_shape", dims);
}

constexpr hsize_t row_chunk = 64;

// {"key": "value", …} (the layout docs/results-format.md shows), quoted by nlohmann_json.
std::string parameters_json(const Parameters& p) {
  std::string s = "{";
  for (const auto& [k, v] : p) {
    if (s.size() > 1) s += ", ";
    s += detail::json_quote(k) + ": " + detail::json_quote(v);
  }
  return s + "}";
}

// A chunked dataset of rows that grows along dimension 0 (shape (N) or (N, width)). With
// `compress` (diffraction patterns, issue 19) the chunks are shuffled and deflated (zlib level 1)
// and hold at most ~1 MiB (fewer rows for wide patterns), so appending a row stays cheap.
h5::Handle create_extendible(hid_t loc, const std::string& name, hid_t type, hsize_t width,
                             bool compress = false) {
  const int rank = width == 0 ? 1 : 2;
  std::array<hsize_t, 2> dims{0, width};
  std::array<hsize_t, 2> maxdims{H5S_UNLIMITED, width};
  const hsize_t rows = compress ? std::clamp<hsize_t>((hsize_t{1} << 18) / std::max<hsize_t>(width, 1), 1, row_chunk)
                                : row_chunk;
  std::array<hsize_t, 2> chunk{rows, std::max<hsize_t>(width, 1)};
  h5::Handle space(H5Screate_simple(rank, dims.data(), maxdims.data()), H5Sclose);
  h5::Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_chunk(dcpl, rank, chunk.data());
  if (compress) {
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, 1);
  }
  return {h5::check(H5Dcreate2(loc, name.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
                    "cannot create dataset '" + name + "'"),
          H5Dclose};
}

// Appends one row (width values, or one value when width == 0) at index `row`.
void append_row(hid_t dset, hid_t mem_type, hsize_t row, hsize_t width, const void* values,
                const std::string& name) {
  const int rank = width == 0 ? 1 : 2;
  std::array<hsize_t, 2> size{row + 1, width};
  h5::check_status(H5Dset_extent(dset, size.data()), "cannot extend '" + name + "'");
  h5::Handle fspace(H5Dget_space(dset), H5Sclose);
  std::array<hsize_t, 2> start{row, 0};
  std::array<hsize_t, 2> count{1, std::max<hsize_t>(width, 1)};
  H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
  h5::Handle mspace(H5Screate_simple(rank, count.data(), nullptr), H5Sclose);
  h5::check_status(H5Dwrite(dset, mem_type, mspace, fspace, H5P_DEFAULT, values),
            "cannot write row of '" + name + "'");
}

void write_image(hid_t loc, const std::string& name, const ImageArray& a) {
  std::array<hsize_t, 2> dims{static_cast<hsize_t>(a.rows()), static_cast<hsize_t>(a.cols())};
  h5::Handle space(H5Screate_simple(2, dims.data(), nullptr), H5Sclose);
  if (h5::exists(loc, name)) H5Ldelete(loc, name.c_str(), H5P_DEFAULT);
  h5::Handle d(h5::check(H5Dcreate2(loc, name.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT,
                                    H5P_DEFAULT, H5P_DEFAULT),
                         "cannot create dataset '" + name + "'"),
               H5Dclose);
  if (a.size() > 0)
    h5::check_status(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.data()),
              "cannot write '" + name + "'");
}

// Creates the next group of a numbered series, FILE/GROUP/PREFIX_NNNN, and counts it in GROUP's
// integer attribute COUNTER (drift rescans, operator events). Throws h5::Error on an HDF5 failure.
h5::Handle next_numbered_group(hid_t file, const char* group, const char* counter, const char* prefix) {
  h5::Handle g = h5::require_group(file, group);
  const long long k = h5::attr_int(g, counter).value_or(0);
  char name[64];
  std::snprintf(name, sizeof name, "%s_%04lld", prefix, k);
  h5::Handle r = h5::create_group(g, name);
  h5::set_attr(g, counter, k + 1);
  return r;
}

void set_u64(hid_t obj, const std::string& name, std::uint64_t v) {
  if (h5::has_attr(obj, name)) H5Adelete(obj, name.c_str());
  h5::Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  h5::Handle a(h5::check(H5Acreate2(obj, name.c_str(), H5T_STD_U64LE, space, H5P_DEFAULT, H5P_DEFAULT),
                         "cannot create attribute '" + name + "'"),
               H5Aclose);
  H5Awrite(a, H5T_NATIVE_UINT64, &v);
}

}  // namespace

struct ResultsWriter::Impl {
  std::filesystem::path path;
  ResultsProvenance provenance;
  h5::Handle file;
  h5::Handle root;
  h5::Handle requested, commanded, actual, signal, t_start, t_end, dose, exposure, current;
  hsize_t channels = 0;
  hsize_t rows_written = 0;
  bool begun = false;
  bool ended = false;
  // Running totals so that a killed run's file says how far it got.
  double field_area_A2 = 0.0;
  double survey_dose = 0.0;
  double electrons = 0.0;
  double last_time_s = 0.0;
  std::size_t field_rows = 0, field_cols = 0;
  std::vector<double> spot_dose;  // dose by nearest pixel of the requested position

  std::string where(const std::string& what) const { return path.string() + ": " + what; }

  void flush() { H5Fflush(file, H5F_SCOPE_GLOBAL); }

  void write_totals() {
    h5::set_attr(root, "measurements", static_cast<long long>(rows_written));
    h5::set_attr(root, "total_time_s", last_time_s);
    const double total = field_area_A2 > 0 ? survey_dose + electrons / field_area_A2 : survey_dose;
    h5::set_attr(root, "total_dose_e_per_A2", total);
    double max_spot = 0.0;
    for (double d : spot_dose) max_spot = std::max(max_spot, d);
    h5::set_attr(root, "max_dose_e_per_A2", survey_dose + max_spot);
  }

  void create_signal_dataset(bool diffraction) {
    h5::Handle g = h5::open_group(file, "measurements");
    signal = create_extendible(g, "signal", H5T_IEEE_F32LE, channels, diffraction);
  }
};

ResultsWriter::ResultsWriter(std::filesystem::path path, ResultsProvenance provenance)
    : path_(std::move(path)), impl_(std::make_unique<Impl>()) {
  impl_->path = path_;
  impl_->provenance = std::move(provenance);
  if (impl_->provenance.version.empty()) impl_->provenance.version = AUTOSTEM_VERSION;
  impl_->file = h5::create_file(path_);
  impl_->root = h5::open_group(impl_->file, "/");
  auto& r = impl_->root;
  h5::set_attr(r, "file_format", "autostem-results");
  h5::set_attr(r, "file_format_version", "1.0");
  h5::set_attr(r, "autostem_version", impl_->provenance.version);
  h5::set_attr(r, "command_line", impl_->provenance.command_line);
  h5::set_attr(r, "dataset", impl_->provenance.dataset);
  h5::set_attr(r, "profile", impl_->provenance.profile);
  h5::set_attr(r, "complete", 0LL);
  h5::set_attr(r, "stop_reason", "running");
  impl_->write_totals();
  impl_->flush();
}

ResultsWriter::~ResultsWriter() = default;

void ResultsWriter::on_begin(const RunInfo& info, const Survey& survey) {
  auto& im = *impl_;
  if (im.begun) throw std::logic_error(im.where("ResultsWriter::on_begin called twice"));
  im.begun = true;
  auto& r = im.root;
  h5::set_attr(r, "strategy", info.strategy);
  h5::set_attr(r, "strategy_parameters", parameters_json(info.strategy_parameters));
  set_u64(r, "seed", info.seed);
  h5::set_attr(r, "instrument", info.instrument.name);
  if (im.provenance.profile.empty()) h5::set_attr(r, "profile", info.instrument.profile);
  h5::set_attr(r, "field_rows", static_cast<long long>(info.instrument.field_rows));
  h5::set_attr(r, "field_cols", static_cast<long long>(info.instrument.field_cols));
  h5::set_attr(r, "exposure_s", info.config.point.exposure_s);
  h5::set_attr(r, "probe_current_pA", info.config.point.probe_current_pA);
  h5::set_attr(r, "batch_size", static_cast<long long>(info.config.batch_size));
  // The budgets (issue 18: reports show spent against budget); only those that limit the run.
  const Budget& b = info.config.budget;
  if (b.max_points != std::numeric_limits<std::size_t>::max())
    h5::set_attr(r, "budget_points", static_cast<long long>(b.max_points));
  if (std::isfinite(b.max_time_s)) h5::set_attr(r, "budget_time_s", b.max_time_s);
  if (std::isfinite(b.max_dose_e_per_A2)) h5::set_attr(r, "budget_dose_e_per_A2", b.max_dose_e_per_A2);
  {
    h5::Handle params = h5::create_group(im.file, "strategy_parameters");
    for (const auto& [k, v] : info.strategy_parameters) h5::set_attr(params, k, v);
  }

  {
    h5::Handle g = h5::create_group(im.file, "survey");
    write_image(g, "image", survey.image.data);
    h5::Handle img = h5::open_dataset(g, "image");
    h5::set_attr(img, "name", survey.image.name);
    h5::set_attr(img, "units", survey.image.units);
    h5::set_attr(img, "dwell_s", survey.dwell_s);
    h5::set_attr(img, "probe_current_pA", survey.probe_current_pA);
    h5::set_attr(img, "detector", survey.detector);
    h5::set_attr(img, "pixel_size_nm", survey.image.calibration.pixel_size_nm);
    h5::set_attr(img, "origin_row_nm", survey.image.calibration.origin_row_nm);
    h5::set_attr(img, "origin_col_nm", survey.image.calibration.origin_col_nm);
    h5::set_attr(img, "t_start_s", survey.t_start_s);
    h5::set_attr(img, "t_end_s", survey.t_end_s);
    h5::set_attr(img, "dose_e_per_A2", survey.dose_e_per_A2);
  }
  {
    h5::Handle e = h5::create_group(im.file, "energy_axis");
    h5::set_attr(e, "offset_eV", info.instrument.energy.offset_eV);
    h5::set_attr(e, "dispersion_eV", info.instrument.energy.dispersion_eV);
    h5::set_attr(e, "channels", static_cast<long long>(info.instrument.energy.channels));
  }
  {
    h5::Handle g = h5::create_group(im.file, "measurements");
    im.requested = create_extendible(g, "position_px", H5T_IEEE_F64LE, 2);
    im.commanded = create_extendible(g, "commanded_position_px", H5T_IEEE_F64LE, 2);
    im.actual = create_extendible(g, "actual_position_px", H5T_IEEE_F64LE, 2);
    im.t_start = create_extendible(g, "t_start_s", H5T_IEEE_F64LE, 0);
    im.t_end = create_extendible(g, "t_end_s", H5T_IEEE_F64LE, 0);
    im.dose = create_extendible(g, "dose_e_per_A2", H5T_IEEE_F64LE, 0);
    im.exposure = create_extendible(g, "exposure_s", H5T_IEEE_F64LE, 0);
    im.current = create_extendible(g, "probe_current_pA", H5T_IEEE_F64LE, 0);
    // What one row of `signal` is: a spectrum (E) or a diffraction pattern (ky, kx), C-order.
    // (Written at the first measurement when the instrument does not say its channels.)
    const SignalShape& shape = info.instrument.signal;
    if (!shape.dims.empty()) write_signal_shape(g, shape);
    else if (info.instrument.energy.channels > 0)
      write_signal_shape(g, SignalShape::spectrum(info.instrument.energy.channels));
  }
  im.channels = info.instrument.signal.dims.empty() ? info.instrument.energy.channels
                                                    : info.instrument.signal.elements();
  if (im.channels > 0)
    im.create_signal_dataset(!info.instrument.signal.dims.empty() &&
                             info.instrument.signal.kind == SignalKind::diffraction);

  im.field_rows = survey.image.rows() ? survey.image.rows() : info.instrument.field_rows;
  im.field_cols = survey.image.cols() ? survey.image.cols() : info.instrument.field_cols;
  const double pixel_A2 = (survey.image.rows() ? survey.image.calibration : info.instrument.calibration)
                              .pixel_area_A2();
  im.field_area_A2 = static_cast<double>(im.field_rows * im.field_cols) * pixel_A2;
  im.survey_dose = survey.dose_e_per_A2;
  im.spot_dose.assign(im.field_rows * im.field_cols, 0.0);
  im.last_time_s = survey.t_end_s;
  im.write_totals();
  im.flush();
}

void ResultsWriter::on_measurement(const Measurement& m) {
  auto& im = *impl_;
  if (!im.begun || im.ended)
    throw std::logic_error(im.where("ResultsWriter::on_measurement outside on_begin…on_end"));
  if (im.channels == 0) {
    if (m.signal.empty())
      throw std::invalid_argument(im.where("measurement " + std::to_string(m.index) +
                                           " has an empty signal"));
    im.channels = m.signal.size();
    im.create_signal_dataset(m.signal_shape().kind == SignalKind::diffraction);
    write_signal_shape(h5::open_group(im.file, "measurements"), m.signal_shape());
    h5::Handle e = h5::open_group(im.file, "energy_axis");
    h5::set_attr(e, "channels", static_cast<long long>(im.channels));
  }
  if (m.signal.size() != im.channels)
    throw std::invalid_argument(im.where("measurement " + std::to_string(m.index) + " has " +
                                         std::to_string(m.signal.size()) +
                                         " channels; the file's signal has " +
                                         std::to_string(im.channels)));
  const hsize_t row = im.rows_written;
  const double req[2] = {m.requested.row, m.requested.col};
  const double cmd[2] = {m.commanded.row, m.commanded.col};
  const double act[2] = {m.actual.row, m.actual.col};
  // The signal goes first and the 1-D columns last: a reader takes the shortest length, so a
  // row is only visible once all of it is on disk.
  append_row(im.signal, H5T_NATIVE_FLOAT, row, im.channels, m.signal.data(), "signal");
  append_row(im.requested, H5T_NATIVE_DOUBLE, row, 2, req, "position_px");
  append_row(im.commanded, H5T_NATIVE_DOUBLE, row, 2, cmd, "commanded_position_px");
  append_row(im.actual, H5T_NATIVE_DOUBLE, row, 2, act, "actual_position_px");
  append_row(im.exposure, H5T_NATIVE_DOUBLE, row, 0, &m.exposure_s, "exposure_s");
  append_row(im.current, H5T_NATIVE_DOUBLE, row, 0, &m.probe_current_pA, "probe_current_pA");
  append_row(im.dose, H5T_NATIVE_DOUBLE, row, 0, &m.dose_e_per_A2, "dose_e_per_A2");
  append_row(im.t_start, H5T_NATIVE_DOUBLE, row, 0, &m.t_start_s, "t_start_s");
  append_row(im.t_end, H5T_NATIVE_DOUBLE, row, 0, &m.t_end_s, "t_end_s");
  // The rows reach the file before the attribute that counts them: a run killed between the two
  // leaves a count one short, never one too many (issue 21's SIGKILL trials).
  im.flush();
  im.rows_written = row + 1;

  im.electrons += electrons(m.probe_current_pA, m.exposure_s);
  im.last_time_s = std::max(im.last_time_s, m.t_end_s);
  const double rr = std::round(m.requested.row), cc = std::round(m.requested.col);
  if (rr >= 0 && cc >= 0 && rr < static_cast<double>(im.field_rows) && cc < static_cast<double>(im.field_cols))
    im.spot_dose[static_cast<std::size_t>(rr) * im.field_cols + static_cast<std::size_t>(cc)] +=
        m.dose_e_per_A2;
  im.write_totals();
  im.flush();
}

void ResultsWriter::on_prediction(std::size_t step, const Prediction& p) {
  auto& im = *impl_;
  if (!im.begun || im.ended) return;
  h5::Handle g = h5::require_group(im.file, "predictions/step_" + std::to_string(step));
  h5::set_attr(g, "step", static_cast<long long>(step));
  h5::set_attr(g, "measurements", static_cast<long long>(im.rows_written));
  if (p.mean.size() > 0) write_image(g, "mean", p.mean);
  if (p.uncertainty.size() > 0) write_image(g, "uncertainty", p.uncertainty);
  if (p.acquisition.size() > 0) write_image(g, "acquisition", p.acquisition);
  im.flush();
}

void ResultsWriter::on_drift(const DriftRecord& d) {
  auto& im = *impl_;
  if (!im.begun || im.ended) return;
  h5::Handle r = next_numbered_group(im.file, "drift", "rescans", "rescan");
  h5::set_attr(r, "after_measurements", static_cast<long long>(d.after_measurements));
  h5::set_attr(r, "t_start_s", d.t_start_s);
  h5::set_attr(r, "t_end_s", d.t_end_s);
  h5::set_attr(r, "offset_row_px", d.offset.row);
  h5::set_attr(r, "offset_col_px", d.offset.col);
  h5::set_attr(r, "measured_row_px", d.measured.row);
  h5::set_attr(r, "measured_col_px", d.measured.col);
  h5::set_attr(r, "predicted_row_px", d.predicted.row);
  h5::set_attr(r, "predicted_col_px", d.predicted.col);
  h5::set_attr(r, "confidence", d.confidence);
  h5::set_attr(r, "dose_e_per_A2", d.dose_e_per_A2);
  h5::set_attr(r, "warning", d.warning);
  h5::set_attr(r, "row0", static_cast<long long>(d.row0));
  h5::set_attr(r, "col0", static_cast<long long>(d.col0));
  if (d.patch.data.size() > 0) write_image(r, "patch", d.patch.data);
  im.last_time_s = std::max(im.last_time_s, d.t_end_s);
  im.flush();
}

void ResultsWriter::on_operator(const OperatorEvent& e) {
  auto& im = *impl_;
  if (!im.begun || im.ended) return;
  h5::Handle r = next_numbered_group(im.file, "operator_events", "events", "event");
  h5::set_attr(r, "kind", to_string(e.kind));
  h5::set_attr(r, "session_time_s", e.session_time_s);
  h5::set_attr(r, "wall_time_s", e.wall_time_s);
  h5::set_attr(r, "after_measurements", static_cast<long long>(e.after_measurements));
  h5::set_attr(r, "source", e.source);
  if (e.kind == OperatorEvent::Kind::exclude || e.kind == OperatorEvent::Kind::restrict_to) {
    h5::set_attr(r, "row0", e.rect.row0);
    h5::set_attr(r, "col0", e.rect.col0);
    h5::set_attr(r, "row1", e.rect.row1);
    h5::set_attr(r, "col1", e.rect.col1);
  }
  im.flush();
}

void ResultsWriter::on_end(const RunSummary& summary, const std::optional<Image>& dose_map) {
  auto& im = *impl_;
  if (im.ended) return;
  im.ended = true;
  auto& r = im.root;
  if (dose_map) {
    write_image(im.file, "dose_map", dose_map->data);
    h5::Handle d = h5::open_dataset(im.file, "dose_map");
    h5::set_attr(d, "units", "e/A^2");
    h5::set_attr(d, "pixel_size_nm", dose_map->calibration.pixel_size_nm);
  }
  h5::set_attr(r, "measurements", static_cast<long long>(im.rows_written));
  h5::set_attr(r, "summary_measurements", static_cast<long long>(summary.measurements));
  h5::set_attr(r, "total_time_s", summary.time_s);
  h5::set_attr(r, "survey_time_s", summary.survey_time_s);
  h5::set_attr(r, "total_dose_e_per_A2", summary.dose_e_per_A2);
  h5::set_attr(r, "max_dose_e_per_A2", summary.max_dose_e_per_A2);
  h5::set_attr(r, "electrons", summary.electrons);
  h5::set_attr(r, "wall_s", summary.wall_s);
  h5::set_attr(r, "decisions", static_cast<long long>(summary.decisions));
  h5::set_attr(r, "decision_latency_median_s", summary.latency_median_s());
  h5::set_attr(r, "decision_latency_p95_s", summary.latency_p95_s());
  h5::set_attr(r, "stop_reason", to_string(summary.stop_reason));
  h5::set_attr(r, "message", summary.message);
  if (summary.drift_rescans > 0) {
    h5::set_attr(r, "drift_rescans", static_cast<long long>(summary.drift_rescans));
    h5::set_attr(r, "drift_time_s", summary.drift_time_s);
    h5::set_attr(r, "drift_warnings", static_cast<long long>(summary.drift_warnings));
    h5::set_attr(r, "drift_clamped", static_cast<long long>(summary.drift_clamped));
  }
  if (summary.operator_events > 0 || summary.excluded_proposals > 0) {
    h5::set_attr(r, "operator_events", static_cast<long long>(summary.operator_events));
    h5::set_attr(r, "excluded_proposals", static_cast<long long>(summary.excluded_proposals));
    h5::set_attr(r, "paused_wall_s", summary.paused_wall_s);
  }
  if (summary.predictions_skipped > 0) {
    h5::set_attr(r, "predictions_stored", static_cast<long long>(summary.predictions_stored));
    h5::set_attr(r, "predictions_skipped", static_cast<long long>(summary.predictions_skipped));
  }
  h5::set_attr(r, "complete", 1LL);
  im.flush();
  // Close everything so the file is final and other processes see a clean file.
  im.requested.reset(); im.commanded.reset(); im.actual.reset(); im.signal.reset(); im.t_start.reset();
  im.t_end.reset(); im.dose.reset(); im.exposure.reset(); im.current.reset();
  im.root.reset();
  im.file.reset();
}

const std::string& RunRecord::attribute(const std::string& name) const {
  auto it = attributes.find(name);
  if (it == attributes.end()) throw std::out_of_range("results file has no root attribute '" + name + "'");
  return it->second;
}

namespace {

hsize_t rows_of(hid_t d) {
  h5::Handle s(H5Dget_space(d), H5Sclose);
  std::array<hsize_t, 2> dims{0, 0};
  H5Sget_simple_extent_dims(s, dims.data(), nullptr);
  return dims[0];
}

std::vector<double> read_rows(hid_t d, hsize_t n, hsize_t width) {
  std::vector<double> out(n * std::max<hsize_t>(width, 1));
  if (n == 0) return out;
  h5::Handle fspace(H5Dget_space(d), H5Sclose);
  const int rank = width == 0 ? 1 : 2;
  std::array<hsize_t, 2> start{0, 0}, count{n, std::max<hsize_t>(width, 1)};
  H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
  h5::Handle mspace(H5Screate_simple(rank, count.data(), nullptr), H5Sclose);
  if (H5Dread(d, H5T_NATIVE_DOUBLE, mspace, fspace, H5P_DEFAULT, out.data()) < 0)
    throw std::runtime_error("reading measurement rows failed");
  return out;
}

ImageArray read_image(hid_t loc, const std::string& name, const std::string& where) {
  h5::Handle d = h5::open_dataset(loc, name);
  h5::Handle s(H5Dget_space(d), H5Sclose);
  if (H5Sget_simple_extent_ndims(s) != 2) throw std::runtime_error(where + ": '" + name + "' is not 2-D");
  std::array<hsize_t, 2> dims{0, 0};
  H5Sget_simple_extent_dims(s, dims.data(), nullptr);
  ImageArray a(static_cast<Eigen::Index>(dims[0]), static_cast<Eigen::Index>(dims[1]));
  if (a.size() > 0 && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.data()) < 0)
    throw std::runtime_error(where + ": cannot read '" + name + "'");
  return a;
}

}  // namespace

namespace {

// /survey/image and its attributes.
void read_survey(hid_t file, const std::string& where, RunRecord& rec) {
  h5::Handle g = h5::open_group(file, "survey");
  rec.survey.image.data = read_image(g, "image", where);
  h5::Handle img = h5::open_dataset(g, "image");
  rec.survey.image.name = h5::attr_string(img, "name").value_or("");
  rec.survey.image.units = h5::attr_string(img, "units").value_or("");
  rec.survey.image.calibration.pixel_size_nm = h5::attr_double(img, "pixel_size_nm").value_or(1.0);
  rec.survey.image.calibration.origin_row_nm = h5::attr_double(img, "origin_row_nm").value_or(0.0);
  rec.survey.image.calibration.origin_col_nm = h5::attr_double(img, "origin_col_nm").value_or(0.0);
  rec.survey.dwell_s = h5::attr_double(img, "dwell_s").value_or(0.0);
  rec.survey.probe_current_pA = h5::attr_double(img, "probe_current_pA").value_or(0.0);
  rec.survey.detector = h5::attr_string(img, "detector").value_or("");
  rec.survey.t_start_s = h5::attr_double(img, "t_start_s").value_or(0.0);
  rec.survey.t_end_s = h5::attr_double(img, "t_end_s").value_or(0.0);
  rec.survey.dose_e_per_A2 = h5::attr_double(img, "dose_e_per_A2").value_or(0.0);
}

// The attributes signal_kind and signal_shape ("E" or "ky,kx") of /measurements; dims empty when
// the file predates them. Throws std::runtime_error naming the file on a malformed value.
SignalShape read_signal_shape(hid_t measurements, const std::string& where) {
  SignalShape shape = SignalShape::spectrum(0);
  shape.dims.clear();
  try {
    if (auto kind = h5::attr_string(measurements, "signal_kind")) shape.kind = signal_kind_from_string(*kind);
    if (auto dims = h5::attr_string(measurements, "signal_shape")) {
      std::size_t start = 0;
      while (start < dims->size()) {
        const std::size_t end = std::min(dims->find(',', start), dims->size());
        const std::string item = dims->substr(start, end - start);
        std::size_t used = 0;
        const unsigned long long d = std::stoull(item, &used);
        if (used != item.size() || d == 0) throw std::invalid_argument("'" + *dims + "'");
        shape.dims.push_back(static_cast<std::size_t>(d));
        start = end + 1;
      }
    }
  } catch (const std::exception& e) {
    throw std::runtime_error(where + ": measurements/signal_kind or signal_shape is malformed (" +
                             e.what() + "); expected spectrum|diffraction|image and \"E\" or \"KY,KX\"");
  }
  return shape;
}

// Rows [0, n) of the (N, channels) float32 signal dataset.
std::vector<std::vector<float>> read_signals(hid_t sig, hsize_t n, hsize_t channels, const std::string& where) {
  std::vector<std::vector<float>> out;
  if (n == 0) return out;
  std::vector<float> flat(n * channels);
  h5::Handle fspace(H5Dget_space(sig), H5Sclose);
  std::array<hsize_t, 2> start{0, 0}, count{n, channels};
  H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
  h5::Handle mspace(H5Screate_simple(2, count.data(), nullptr), H5Sclose);
  if (H5Dread(sig, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, flat.data()) < 0)
    throw std::runtime_error(where + ": cannot read 'measurements/signal'");
  for (hsize_t i = 0; i < n; ++i)
    out.emplace_back(flat.begin() + static_cast<std::ptrdiff_t>(i * channels),
                     flat.begin() + static_cast<std::ptrdiff_t>((i + 1) * channels));
  return out;
}

// /measurements: the rows every dataset has (a run killed between extending two datasets leaves
// them uneven by one row).
void read_measurements(hid_t file, const std::string& where, RunRecord& rec) {
  if (!h5::is_group(file, "measurements"))
    throw std::runtime_error(where + ": has a survey but no 'measurements' group");
  h5::Handle g = h5::open_group(file, "measurements");
  const char* columns[] = {"position_px", "actual_position_px", "t_start_s", "t_end_s",
                           "dose_e_per_A2", "exposure_s", "probe_current_pA"};
  std::vector<h5::Handle> d;
  hsize_t n = std::numeric_limits<hsize_t>::max();
  for (const char* c : columns) {
    if (!h5::is_dataset(g, c))
      throw std::runtime_error(where + ": dataset 'measurements/" + c + "' is missing");
    d.push_back(h5::open_dataset(g, c));
    n = std::min(n, rows_of(d.back()));
  }
  rec.signal_shape = read_signal_shape(g, where);
  h5::Handle sig;
  hsize_t channels = 0;
  if (h5::is_dataset(g, "signal")) {
    sig = h5::open_dataset(g, "signal");
    n = std::min(n, rows_of(sig));
    h5::Handle s(H5Dget_space(sig), H5Sclose);
    std::array<hsize_t, 2> dims{0, 0};
    H5Sget_simple_extent_dims(s, dims.data(), nullptr);
    channels = dims[1];
    if (rec.signal_shape.dims.empty()) rec.signal_shape.dims = {static_cast<std::size_t>(channels)};
    if (rec.signal_shape.elements() != channels)
      throw std::runtime_error(where + ": measurements/signal has " + std::to_string(channels) +
                               " values per row but its signal_shape is " + rec.signal_shape.describe());
  } else {
    n = 0;
  }
  // commanded_position_px: files written before drift correction lack it (= requested).
  std::optional<h5::Handle> cmd_d;
  if (h5::is_dataset(g, "commanded_position_px")) {
    cmd_d = h5::open_dataset(g, "commanded_position_px");
    n = std::min(n, rows_of(*cmd_d));
  }
  auto req = read_rows(d[0], n, 2);
  auto act = read_rows(d[1], n, 2);
  auto cmd = cmd_d ? read_rows(*cmd_d, n, 2) : req;
  rec.t_start_s = read_rows(d[2], n, 0);
  rec.t_end_s = read_rows(d[3], n, 0);
  rec.dose_e_per_A2 = read_rows(d[4], n, 0);
  rec.exposure_s = read_rows(d[5], n, 0);
  rec.probe_current_pA = read_rows(d[6], n, 0);
  if (n == 0) {
    for (auto* v : {&rec.t_start_s, &rec.t_end_s, &rec.dose_e_per_A2, &rec.exposure_s, &rec.probe_current_pA})
      v->clear();
  }
  for (hsize_t i = 0; i < n; ++i) {
    rec.requested.push_back({req[2 * i], req[2 * i + 1]});
    rec.actual.push_back({act[2 * i], act[2 * i + 1]});
    rec.commanded.push_back({cmd[2 * i], cmd[2 * i + 1]});
  }
  rec.signals = read_signals(sig, n, channels, where);
}

// /drift/rescan_NNNN groups (drift correction), in order.
void read_drift(hid_t file, const std::string& where, RunRecord& rec) {
  if (!h5::is_group(file, "drift")) return;
  h5::Handle g = h5::open_group(file, "drift");
  std::vector<std::string> names;
  for (const auto& name : h5::children(g))
    if (name.rfind("rescan_", 0) == 0) names.push_back(name);
  std::sort(names.begin(), names.end());
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const auto& name : names) {
    h5::Handle r = h5::open_group(g, name);
    DriftRecord d;
    d.after_measurements = static_cast<std::size_t>(h5::attr_int(r, "after_measurements").value_or(0));
    d.t_start_s = h5::attr_double(r, "t_start_s").value_or(nan);
    d.t_end_s = h5::attr_double(r, "t_end_s").value_or(nan);
    d.offset = {h5::attr_double(r, "offset_row_px").value_or(nan), h5::attr_double(r, "offset_col_px").value_or(nan)};
    d.measured = {h5::attr_double(r, "measured_row_px").value_or(nan),
                  h5::attr_double(r, "measured_col_px").value_or(nan)};
    d.predicted = {h5::attr_double(r, "predicted_row_px").value_or(nan),
                   h5::attr_double(r, "predicted_col_px").value_or(nan)};
    d.confidence = h5::attr_double(r, "confidence").value_or(nan);
    d.dose_e_per_A2 = h5::attr_double(r, "dose_e_per_A2").value_or(nan);
    d.warning = h5::attr_string(r, "warning").value_or("");
    d.row0 = static_cast<std::size_t>(h5::attr_int(r, "row0").value_or(0));
    d.col0 = static_cast<std::size_t>(h5::attr_int(r, "col0").value_or(0));
    if (h5::is_dataset(r, "patch")) d.patch.data = read_image(r, "patch", where + ": drift/" + name);
    rec.drift.push_back(std::move(d));
  }
}

// /operator_events/event_NNNN groups (operator control), in order.
void read_operator_events(hid_t file, RunRecord& rec) {
  if (!h5::is_group(file, "operator_events")) return;
  h5::Handle g = h5::open_group(file, "operator_events");
  std::vector<std::string> names;
  for (const auto& name : h5::children(g))
    if (name.rfind("event_", 0) == 0) names.push_back(name);
  std::sort(names.begin(), names.end());
  const double nan = std::numeric_limits<double>::quiet_NaN();
  using K = OperatorEvent::Kind;
  for (const auto& name : names) {
    h5::Handle r = h5::open_group(g, name);
    OperatorEvent e;
    const std::string kind = h5::attr_string(r, "kind").value_or("");
    bool known = false;
    for (K k : {K::pause, K::resume, K::stop, K::exclude, K::restrict_to, K::clear_regions})
      if (kind == to_string(k)) {
        e.kind = k;
        known = true;
      }
    if (!known) continue;  // a kind of a later autostem: skipped
    e.session_time_s = h5::attr_double(r, "session_time_s").value_or(nan);
    e.wall_time_s = h5::attr_double(r, "wall_time_s").value_or(nan);
    e.after_measurements = static_cast<std::size_t>(h5::attr_int(r, "after_measurements").value_or(0));
    e.source = h5::attr_string(r, "source").value_or("");
    e.rect = {h5::attr_double(r, "row0").value_or(nan), h5::attr_double(r, "col0").value_or(nan),
              h5::attr_double(r, "row1").value_or(nan), h5::attr_double(r, "col1").value_or(nan)};
    rec.operator_events.push_back(std::move(e));
  }
}

}  // namespace

bool is_results_file(const std::filesystem::path& path) {
  try {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return false;
    h5::Handle file = h5::open_file(path, false);
    h5::Handle root = h5::open_group(file, "/");
    const auto ff = h5::attr_string(root, "file_format");
    return ff && *ff == "autostem-results";
  } catch (const std::exception&) {
    return false;
  }
}

RunRecord read_results(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) throw std::runtime_error(path.string() + ": no such file");
  h5::Handle file = h5::open_file(path, false);
  const std::string where = path.string();
  RunRecord rec;
  h5::Handle root = h5::open_group(file, "/");
  for (const auto& a : h5::attribute_names(root))
    if (auto t = h5::attr_text(root, a)) rec.attributes[a] = *t;
  if (rec.attributes.count("complete") == 0)
    throw std::runtime_error(where + ": not an autostem results file (no root attribute 'complete')");
  rec.complete = rec.attributes["complete"] == "1";

  if (h5::is_group(file, "strategy_parameters")) {
    h5::Handle g = h5::open_group(file, "strategy_parameters");
    for (const auto& a : h5::attribute_names(g))
      if (auto t = h5::attr_text(g, a)) rec.strategy_parameters[a] = *t;
  }
  if (!h5::is_dataset(file, "survey/image")) return rec;  // killed before on_begin: valid, empty
  read_survey(file, where, rec);
  if (h5::is_group(file, "energy_axis")) {
    h5::Handle e = h5::open_group(file, "energy_axis");
    rec.energy.offset_eV = h5::attr_double(e, "offset_eV").value_or(0.0);
    rec.energy.dispersion_eV = h5::attr_double(e, "dispersion_eV").value_or(1.0);
    rec.energy.channels = static_cast<std::size_t>(h5::attr_int(e, "channels").value_or(0));
  }
  read_measurements(file, where, rec);
  if (h5::is_dataset(file, "dose_map")) rec.dose_map = read_image(file, "dose_map", where);
  read_drift(file, where, rec);
  read_operator_events(file, rec);
  if (h5::is_group(file, "predictions")) {
    h5::Handle p = h5::open_group(file, "predictions");
    for (const auto& name : h5::children(p))
      if (name.rfind("step_", 0) == 0) rec.prediction_steps.push_back(std::stoull(name.substr(5)));
    std::sort(rec.prediction_steps.begin(), rec.prediction_steps.end());
  }
  return rec;
}

Prediction read_prediction(const std::filesystem::path& path, std::size_t step) {
  h5::Handle file = h5::open_file(path, false);
  const std::string name = "predictions/step_" + std::to_string(step);
  if (!h5::is_group(file, name))
    throw std::runtime_error(path.string() + ": no prediction at step " + std::to_string(step) +
                             " (group '" + name + "' missing)");
  h5::Handle g = h5::open_group(file, name);
  Prediction p;
  if (h5::is_dataset(g, "mean")) p.mean = read_image(g, "mean", path.string());
  if (h5::is_dataset(g, "uncertainty")) p.uncertainty = read_image(g, "uncertainty", path.string());
  if (h5::is_dataset(g, "acquisition")) p.acquisition = read_image(g, "acquisition", path.string());
  return p;
}

}  // namespace autostem::datasets
