// autostem reconstruct: a full map (or spectrum image) from the sparse measurements of a run.

#include "cli.hpp"
#include "hyperspy_metadata.hpp"

#include <autostem/imaging/reconstruction.hpp>
#include <autostem/imaging/scalarizer.hpp>
#include <autostem/datasets/hspy.hpp>
#include <autostem/datasets/npy.hpp>
#include <autostem/datasets/results.hpp>
#include <autostem/datasets/signal.hpp>
#include <autostem/imaging/fista.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

namespace autostem::cli {

namespace {

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

template <class T>
std::vector<std::byte> as_bytes(const T* data, std::size_t n) {
  std::vector<std::byte> b(n * sizeof(T));
  std::memcpy(b.data(), data, b.size());
  return b;
}

std::vector<AxisCalibration> spatial_axes(const SpatialCalibration& cal, std::size_t rows,
                                          std::size_t cols) {
  return {{"y", "nm", cal.origin_row_nm, cal.pixel_size_nm, rows, false},
          {"x", "nm", cal.origin_col_nm, cal.pixel_size_nm, cols, false}};
}

void write_map(const std::filesystem::path& out, const datasets::Signal& s) {
  if (out.extension() == ".npy") datasets::write_npy(out, s);
  else datasets::write_hspy(out, s);
}

/// The Acquisition_instrument.* and original_metadata.* of the ground-truth file a simulated run
/// measured (its "dataset" attribute: "SI_FILE" or "SI_FILE + SURVEY_FILE"), in HyperSpy's layout
/// (hyperspy_metadata.hpp), for the reconstruction to keep (issue 20). Empty for phantoms, live
/// runs and files no longer there; a file that cannot be read is named on stderr, not an error
/// (the reconstruction is still written).
std::map<std::string, std::string> run_source_metadata(const datasets::RunRecord& run) {
  std::string dataset;
  try {
    dataset = run.attribute("dataset");
  } catch (const std::out_of_range&) {
    return {};
  }
  if (const auto plus = dataset.find(" + "); plus != std::string::npos) dataset.resize(plus);
  std::error_code ec;
  if (dataset.empty() || !std::filesystem::is_regular_file(dataset, ec)) return {};
  try {
    const auto signals = datasets::read_signals(dataset);
    if (!signals.empty()) return source_metadata(hyperspy_metadata(signals.front(), dataset));
  } catch (const std::exception& e) {
    std::cerr << "autostem reconstruct: note: the run's source " << dataset
              << " could not be read for its metadata (" << e.what() << "); written without it\n";
  }
  return {};
}

/// Samples (n, 3) from a .npy: row, col, value per line.
void read_samples_npy(const std::filesystem::path& path, std::vector<Position>& pos,
                      std::vector<double>& val) {
  const datasets::Signal s = datasets::read_npy(path);
  const auto shape = s.shape();
  if (shape.size() != 2 || shape[1] != 3)
    throw std::invalid_argument(path.string() + ": expected an (n, 3) array of row, col, value; got " +
                                std::to_string(shape.size()) + "-D");
  const auto v = s.to_double();
  for (std::size_t i = 0; i < shape[0]; ++i) {
    pos.push_back({v[3 * i], v[3 * i + 1]});
    val.push_back(v[3 * i + 2]);
  }
}

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void add_reconstruct_options(po::options_description& o, const std::string& methods) {
  o.add_options()("help,h", "this help")
      ("input", po::value<std::string>()->required(),
       "results file of a run (HDF5), or an (n, 3) .npy of row, col, value samples")
      ("method", po::value<std::string>()->default_value("biharmonic"),
       ("reconstruction method: " + methods).c_str())
      ("scalarizer", po::value<std::string>()->default_value("total"),
       "what each spectrum becomes: total (sum of counts) or a scalarizer spec, e.g. "
       "band_mean:LO:HI, edge:ONSET:WIDTH")
      ("spectrum-image", po::bool_switch(),
       "reconstruct the whole spectrum image (low rank: PCA + spatial method per component)")
      ("components", po::value<std::size_t>()->default_value(8),
       "principal components kept with --spectrum-image")
      ("shape", po::value<std::string>(), "ROWSxCOLS of the map (required for .npy samples)")
      ("positions", po::value<std::string>()->default_value("actual"),
       "actual (the drifted probe position where the run recorded one) | requested")
      ("noise", po::value<std::string>()->default_value("poisson"), "data weights: poisson | uniform")
      ("tv-weight", po::value<double>()->default_value(ReconstructionOptions{}.tv_weight),
       "tv regularisation weight")
      ("fista-lambda", po::value<double>()->default_value(ReconstructionOptions{}.fista_lambda),
       "fista λ relative to λ_max")
      ("particle-threshold", po::value<double>()->default_value(ReconstructionOptions{}.particle_threshold),
       "particles: a maximum of the biharmonic fill is a candidate above median + this × (max − median)")
      ("particle-max-radius", po::value<double>()->default_value(ReconstructionOptions{}.particle_max_radius_px),
       "particles: largest sphere radius fitted (px)")
      ("max-iterations", po::value<std::size_t>()->default_value(ReconstructionOptions{}.max_iterations),
       "iteration limit of tv / fista")
      ("tolerance", po::value<double>()->default_value(ReconstructionOptions{}.tolerance),
       "stop tv / fista when the RMS change per iteration (values scaled to [0, 1]) is below")
      ("out", po::value<std::string>()->required(),
       "map or spectrum image to write: .hspy (HyperSpy) or .npy");
}

ReconstructionOptions reconstruction_options(const po::variables_map& vm, const std::string& methods) {
  ReconstructionOptions ro;
  ro.method = vm["method"].as<std::string>();
  ro.noise = vm["noise"].as<std::string>();
  ro.tv_weight = vm["tv-weight"].as<double>();
  ro.fista_lambda = vm["fista-lambda"].as<double>();
  ro.particle_threshold = vm["particle-threshold"].as<double>();
  ro.particle_max_radius_px = vm["particle-max-radius"].as<double>();
  ro.max_iterations = vm["max-iterations"].as<std::size_t>();
  ro.tolerance = vm["tolerance"].as<double>();
  const auto names = reconstruction_methods();
  if (std::find(names.begin(), names.end(), ro.method) == names.end())
    throw UsageError("--method '" + ro.method + "' is not one of " + methods);
  return ro;
}

// (n, 3) .npy samples → a (rows, cols) map with no calibration.
int reconstruct_npy_samples(const po::variables_map& vm, const std::filesystem::path& in,
                            const std::filesystem::path& out, const ReconstructionOptions& ro) {
  const auto t0 = Clock::now();
  if (!vm.count("shape")) throw UsageError("--shape ROWSxCOLS is required with .npy samples");
  if (vm["spectrum-image"].as<bool>())
    throw UsageError("--spectrum-image needs a results file, not .npy samples");
  const auto [rows, cols] = parse_shape(vm["shape"].as<std::string>());
  // Peak memory measured on a 512×512 map from 5,000 samples: biharmonic 1.49 GB (≈ 5.7 KiB per
  // pixel: the sparse factorisation), tv 181 MB, fista 187 MB (≈ 0.7 KiB per pixel with the
  // process's baseline).
  const bool sparse_solve = ro.method == "biharmonic" || ro.method == "particles";
  check_memory("reconstruct --method " + ro.method + " --shape " + vm["shape"].as<std::string>(),
               (sparse_solve ? 6144.0 : 768.0) * static_cast<double>(rows) * static_cast<double>(cols),
               sparse_solve ? "≈ 6 KiB per pixel for the sparse solve" : "≈ 0.75 KiB per pixel");
  std::vector<Position> pos;
  std::vector<double> val;
  read_samples_npy(in, pos, val);
  ReconstructionReport rep;
  const ImageArray map = reconstruct(pos, val, rows, cols, ro, &rep);
  datasets::Signal s;
  s.title = "reconstruction (" + ro.method + ")";
  s.dtype = datasets::DType::float64;
  s.axes = spatial_axes({}, rows, cols);
  s.bytes = as_bytes(map.data(), static_cast<std::size_t>(map.size()));
  write_map(out, s);
  std::printf("%s: %zu samples → %zu×%zu map by %s (%zu iterations%s) in %.3f s → %s\n",
              in.c_str(), pos.size(), rows, cols, ro.method.c_str(), rep.iterations,
              rep.converged ? "" : ", iteration limit reached", seconds_since(t0), out.c_str());
  return 0;
}

// The whole spectrum image of a run, low rank (PCA + the spatial method per component).
int reconstruct_run_spectrum_image(const po::variables_map& vm, const std::filesystem::path& in,
                                   const std::filesystem::path& out, const ReconstructionOptions& ro,
                                   const datasets::RunRecord& run, const std::vector<Position>& pos) {
  const auto t0 = Clock::now();
  const std::size_t rows = run.survey.image.rows(), cols = run.survey.image.cols();
  LowRankOptions lo;
  lo.components = vm["components"].as<std::size_t>();
  lo.spatial = ro;
  LowRankReport rep;
  const SpectrumImage si = reconstruct_spectrum_image(pos, run.signals, rows, cols, run.energy, lo, &rep);
  datasets::Signal s;
  s.title = "low-rank reconstruction (" + ro.method + ")";
  s.signal_type = "EELS";
  s.dtype = datasets::DType::float32;
  s.axes = spatial_axes(run.survey.image.calibration, rows, cols);
  s.axes[0].navigate = s.axes[1].navigate = true;
  s.axes.push_back({"Energy loss", "eV", run.energy.offset_eV, run.energy.dispersion_eV,
                    run.energy.channels, false});
  s.bytes = as_bytes(si.data().data(), si.data().size());
  s.metadata = run_source_metadata(run);
  write_map(out, s);
  std::printf("%s: %zu spectra → %zu×%zu×%zu spectrum image, %zu components (%.4f of the variance), "
              "score maps by %s, in %.2f s → %s\n",
              in.c_str(), run.measurements(), rows, cols, run.energy.channels, rep.components,
              rep.explained_variance_fraction, ro.method.c_str(), seconds_since(t0), out.c_str());
  return 0;
}

// The map of one scalar (total counts or a scalarizer) of every measured spectrum of a run.
int reconstruct_run_map(const po::variables_map& vm, const std::filesystem::path& in,
                        const std::filesystem::path& out, const ReconstructionOptions& ro,
                        const datasets::RunRecord& run, const std::vector<Position>& pos) {
  const auto t0 = Clock::now();
  const std::size_t rows = run.survey.image.rows(), cols = run.survey.image.cols();
  const std::string spec = vm["scalarizer"].as<std::string>();
  std::unique_ptr<Scalarizer> scal;
  if (spec != "total") scal = make_scalarizer(spec, run.energy);
  std::vector<double> val(run.measurements());
  for (std::size_t i = 0; i < val.size(); ++i) {
    if (scal) {
      val[i] = scal->evaluate(run.signals[i]);
    } else {
      double t = 0.0;
      for (float v : run.signals[i]) t += v;
      val[i] = t;
    }
  }
  ReconstructionReport rep;
  const ImageArray map = reconstruct(pos, val, rows, cols, ro, &rep);
  datasets::Signal s;
  s.title = spec + " (" + ro.method + ")";
  s.dtype = datasets::DType::float64;
  s.axes = spatial_axes(run.survey.image.calibration, rows, cols);
  s.bytes = as_bytes(map.data(), static_cast<std::size_t>(map.size()));
  s.metadata = run_source_metadata(run);
  s.metadata["Signal.quantity"] = scal ? spec + " (" + scal->units() + ")" : "total counts";
  s.metadata["Reconstruction.method"] = ro.method;
  s.metadata["Reconstruction.source"] = in.string();
  write_map(out, s);
  std::printf("%s: %zu spectra → %zu×%zu map of %s by %s (%zu iterations%s) in %.3f s → %s\n",
              in.c_str(), run.measurements(), rows, cols, spec.c_str(), ro.method.c_str(),
              rep.iterations, rep.converged ? "" : ", iteration limit reached", seconds_since(t0),
              out.c_str());
  return 0;
}

}  // namespace

int cmd_reconstruct(const std::vector<std::string>& args) {
  const std::string methods = joined(reconstruction_methods());
  po::options_description o("autostem reconstruct options");
  add_reconstruct_options(o, methods);
  po::positional_options_description pos_opt;
  pos_opt.add("input", 1);
  po::variables_map vm;
  if (parse(args, o, vm,
            "usage: autostem reconstruct RUN.h5 --method NAME [--scalarizer total|SPEC]\n"
            "                            [--spectrum-image [--components K]] --out MAP.hspy\n"
            "       autostem reconstruct SAMPLES.npy --shape ROWSxCOLS --method NAME --out MAP.npy\n"
            "Reconstructs the full map of a scalar of every measured spectrum (total counts by\n"
            "default) on the survey grid from a run's sparse measurements, and writes it with the\n"
            "survey's calibration (docs/compressed-sensing.md). Methods: " + methods + ".",
            &pos_opt))
    return 0;

  const ReconstructionOptions ro = reconstruction_options(vm, methods);
  const std::string which = vm["positions"].as<std::string>();
  if (which != "actual" && which != "requested")
    throw UsageError("--positions '" + which + "' is not one of actual, requested");
  const std::filesystem::path in = vm["input"].as<std::string>();
  const std::filesystem::path out = vm["out"].as<std::string>();
  if (datasets::detect_format(in) == datasets::FileFormat::npy)
    return reconstruct_npy_samples(vm, in, out, ro);

  const datasets::RunRecord run = datasets::read_results(in);
  if (run.measurements() == 0)
    throw std::invalid_argument(in.string() + ": the run holds no measurements (no samples)");
  std::vector<Position> pos(run.measurements());
  for (std::size_t i = 0; i < pos.size(); ++i)
    pos[i] = which == "actual" && is_finite(run.actual[i]) ? run.actual[i] : run.requested[i];
  if (vm["spectrum-image"].as<bool>()) return reconstruct_run_spectrum_image(vm, in, out, ro, run, pos);
  return reconstruct_run_map(vm, in, out, ro, run, pos);
}

}  // namespace autostem::cli
