// autostem atoms IMAGE --out atoms.csv: every atom of an atomic-resolution image (issue 9), by
// the classical LoG finder or (with LibTorch) the dcnn U-Net ensemble; a CSV and a PNG overlay.

#include "bench_harness.hpp"
#include "cli.hpp"

#include <autostem/datasets/npy.hpp>
#include <autostem/datasets/signal.hpp>
#include <autostem/strategies/atoms.hpp>
#include <autostem/strategies/registry.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace autostem::cli {

namespace {

namespace fs = std::filesystem;

std::string shape_text(const std::vector<std::size_t>& shape) {
  std::string s;
  for (std::size_t d : shape) s += (s.empty() ? "" : "×") + std::to_string(d);
  return s.empty() ? "scalar" : s;
}

// The image of a signal: its 2-D data after dropping axes of length 1, with the spatial
// calibration when the axes are in nm (or µm, Å). Throws UsageError naming the file and shape.
Image to_image(const datasets::Signal& s, const std::string& file) {
  if (s.dtype == datasets::DType::rgba8) throw UsageError(file + ": an RGBA image; expected a 2-D intensity image");
  const auto shape = s.shape();
  if (s.size() == 0) throw UsageError(file + ": the image is empty (shape " + shape_text(shape) + ")");
  std::vector<std::size_t> keep;
  for (std::size_t d = 0; d < shape.size(); ++d)
    if (shape[d] != 1) keep.push_back(d);
  if (keep.size() != 2)
    throw UsageError(file + ": the data set is " + std::to_string(keep.size()) + "-D (shape " + shape_text(shape) +
                     "); expected a 2-D image");
  Image img;
  img.data.resize(static_cast<Eigen::Index>(shape[keep[0]]), static_cast<Eigen::Index>(shape[keep[1]]));
  const auto v = s.to_double();
  for (std::size_t i = 0; i < v.size(); ++i) img.data.data()[i] = v[i];
  if (!img.data.isFinite().all()) throw UsageError(file + ": the image holds NaN or ±inf values");
  const auto& ax = s.axes[keep[1]];
  const double unit = ax.units == "nm" ? 1.0 : ax.units == "µm" || ax.units == "um" ? 1e3
                      : ax.units == "Å" || ax.units == "A" ? 0.1 : 0.0;
  if (unit > 0 && ax.scale > 0) img.calibration.pixel_size_nm = ax.scale * unit;
  img.name = s.title;
  return img;
}

std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("''") : std::string(1, c);
  return q + "'";
}

// The overlay: the image in grey, atoms as circles coloured by class. Writes PNG.dat files
// beside the PNG (image matrix, atoms) and the .gp script, so the figure can be restyled.
void write_overlay(const fs::path& png, const Image& img, const std::vector<Atom>& atoms, const std::string& title) {
  const fs::path base = png.parent_path() / png.stem();
  const fs::path mat = base.string() + "_image.dat", pts = base.string() + "_atoms.dat", gp = base.string() + ".gp";
  {
    std::ofstream f(mat);
    for (Eigen::Index r = 0; r < img.data.rows(); ++r) {
      for (Eigen::Index c = 0; c < img.data.cols(); ++c) f << (c ? " " : "") << img.data(r, c);
      f << "\n";
    }
  }
  {
    std::ofstream f(pts);
    for (const auto& a : atoms) f << a.position.col << " " << a.position.row << " " << a.cls + 1 << "\n";
    if (atoms.empty()) f << "NaN NaN 1\n";  // gnuplot refuses an empty data file
  }
  const double rows = static_cast<double>(img.data.rows()), cols = static_cast<double>(img.data.cols());
  const double scale = 800.0 / std::max(rows, cols);  // the longer side drawn at 800 px
  std::ofstream g(gp);
  g << "set terminal pngcairo size " << static_cast<int>(cols * scale + 80) << ","
    << static_cast<int>(rows * scale + 60) << " font 'sans,10'\n"
    << "set termoption noenhanced\n"
    << "set output " << quoted(png.string()) << "\n"
    << "set title " << quoted(title) << "\n"
    << "set size ratio -1\nunset colorbox\nset palette gray\nunset key\n"
    << "set xrange [-0.5:" << cols - 0.5 << "]\nset yrange [" << rows - 0.5 << ":-0.5]\n"
    << "plot " << quoted(mat.string()) << " matrix with image, " << quoted(pts.string())
    << " using 1:2:3 with points pt 6 ps 0.8 lc variable\n";
  g.close();
  run_gnuplot(gp);
}

// The finder's region map (RegionKind codes, core/atoms.hpp) as a (rows, cols) uint8 .npy.
void write_regions(const fs::path& path, const RegionMap& regions) {
  datasets::Signal s;
  s.dtype = datasets::DType::uint8;
  for (Eigen::Index n : {regions.rows(), regions.cols()}) {
    AxisCalibration a;
    a.size = static_cast<std::size_t>(n);
    s.axes.push_back(a);
  }
  s.bytes.resize(static_cast<std::size_t>(regions.size()));
  for (Eigen::Index i = 0; i < regions.size(); ++i) s.bytes[static_cast<std::size_t>(i)] = std::byte{regions.data()[i]};
  datasets::write_npy(path, s);
}

}  // namespace

int cmd_atoms(const std::vector<std::string>& args) {
  std::string methods;
  for (const auto& n : strategies::atom_finder_names()) methods += (methods.empty() ? "" : "|") + n;
  po::options_description o("autostem atoms options");
  o.add_options()("help,h", "this help")("image", po::value<std::string>()->required(),
                                          "image file: .npy, .hspy/.hdf5, .dm3/.dm4, .ser, .emd")(
      "out", po::value<std::string>()->required(), "CSV of the atoms: row_px,col_px,class,probability,uncertainty")(
      "method", po::value<std::string>()->default_value("log"), ("atom finder: " + methods).c_str())(
      "param", po::value<std::vector<std::string>>()->composing(),
      "finder parameter key=value (repeatable; autostem atoms --help lists them)")(
      "model", po::value<std::string>(), "model directory of a network finder (dcnn); passed as model=DIR")(
      "ensemble", po::value<std::size_t>(), "ensemble size of a network finder (dcnn); passed as ensemble=N")(
      "index", po::value<std::size_t>()->default_value(0), "which data set of a multi-image file")(
      "png", po::value<std::string>(), "overlay PNG (default: OUT with .png)")(
      "no-png", po::bool_switch(), "do not draw the overlay")(
      "regions", po::value<std::string>(),
      "regions that are not lattice, written when the finder reports them (mask=auto, the default): a "
      "(rows, cols) uint8 .npy, 0 = lattice, 1 = bright (contamination, saturation), 2 = dark (vacuum, "
      "hole), 3 = flat (no lattice contrast); no atom is reported there (default: OUT with _regions.npy)");
  po::positional_options_description pos;
  pos.add("image", 1);
  po::variables_map vm;
  std::string usage =
      "usage: autostem atoms IMAGE --out atoms.csv [--method " + methods +
      "] [--param k=v]... [--model DIR] [--ensemble N]\n"
      "Finds every atom (column) of an atomic-resolution HAADF/ADF image and writes its position\n"
      "(row_px, col_px: pixel centres at integers), class, probability and uncertainty, and an\n"
      "overlay PNG (gnuplot). With mask=auto (default) the regions that are not lattice (bright\n"
      "contamination, vacuum, featureless areas) are found, reported in OUT_regions.npy and given no\n"
      "atoms, and the spacing is estimated on the lattice only. Finders:\n";
  for (const auto& n : strategies::atom_finder_names()) usage += "  " + strategies::atom_finder_help(n);
  if (parse(args, o, vm, usage, &pos)) return 0;

  const std::string file = vm["image"].as<std::string>(), out = vm["out"].as<std::string>();
  const std::string method = vm["method"].as<std::string>();
  const auto names = strategies::atom_finder_names();
  if (std::find(names.begin(), names.end(), method) == names.end())
    throw UsageError("unknown --method '" + method + "'; valid: " + methods +
                     (method == "dcnn" ? " (dcnn needs autostem built with LibTorch)" : ""));
  Parameters params;
  if (vm.count("param"))
    for (const auto& kv : vm["param"].as<std::vector<std::string>>()) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) throw UsageError("--param '" + kv + "' is not of the form key=value");
      params[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  if (vm.count("model")) {
    if (!fs::is_directory(vm["model"].as<std::string>()))
      throw UsageError("--model " + vm["model"].as<std::string>() + ": no such directory");
    params["model"] = vm["model"].as<std::string>();
  }
  if (vm.count("ensemble")) {
    if (vm["ensemble"].as<std::size_t>() == 0) throw UsageError("--ensemble must be ≥ 1");
    params["ensemble"] = std::to_string(vm["ensemble"].as<std::size_t>());
  }
  if (!fs::exists(file)) throw UsageError(file + ": no such file");

  const auto signals = datasets::read_signals(file);
  const std::size_t index = vm["index"].as<std::size_t>();
  if (index >= signals.size())
    throw UsageError("--index " + std::to_string(index) + ": " + file + " holds " + std::to_string(signals.size()) +
                     " data set(s)");
  const Image img = to_image(signals[index], file);

  auto finder = strategies::make_atom_finder(method, params);
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<Atom> atoms = finder->find(img);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  {
    std::ofstream f(out);
    if (!f) throw std::runtime_error("cannot write " + out);
    f << "row_px,col_px,class,probability,uncertainty\n";
    char line[160];
    for (const auto& a : atoms) {
      std::snprintf(line, sizeof line, "%.4f,%.4f,%d,%.4f,%.4f\n", a.position.row, a.position.col, a.cls,
                    a.probability, a.uncertainty);
      f << line;
    }
    if (!f) throw std::runtime_error("error writing " + out);
  }
  std::map<int, std::size_t> per_class;
  for (const auto& a : atoms) ++per_class[a.cls];
  if (atoms.empty()) {
    std::printf("no atoms found in %s (%zu×%zu, method %s, %.2f s); wrote the header-only %s\n", file.c_str(),
                img.rows(), img.cols(), method.c_str(), seconds, out.c_str());
  } else {
    std::string classes;
    for (const auto& [k, n] : per_class) classes += (classes.empty() ? "" : ", ") + std::to_string(k) + ": " + std::to_string(n);
    std::printf("%zu atoms in %s (%zu×%zu, method %s, %.2f s; by class %s) → %s\n", atoms.size(), file.c_str(),
                img.rows(), img.cols(), method.c_str(), seconds, classes.c_str(), out.c_str());
  }
  for (const auto& note : finder->notes()) std::printf("note: %s\n", note.c_str());
  if (const auto fp = finder->parameters(); fp.count("lattice_snr") && fp.count("denoise_applied"))
    std::printf("denoise=auto: lattice SNR %s → %s\n", fp.at("lattice_snr").c_str(),
                fp.at("denoise_applied") == "none" ? "no Bragg filter" : "Bragg filter applied");
  if (const RegionMap regions = finder->regions(); regions.size() > 0) {
    const fs::path rpath = vm.count("regions") ? fs::path(vm["regions"].as<std::string>())
                                               : fs::path(out).parent_path() / (fs::path(out).stem().string() + "_regions.npy");
    write_regions(rpath, regions);
    const double n = static_cast<double>(regions.size());
    const auto share = [&](RegionKind k) {
      return 100.0 * static_cast<double>((regions == static_cast<std::uint8_t>(k)).count()) / n;
    };
    std::printf("regions: %.1f %% lattice, %.1f %% bright, %.1f %% dark, %.1f %% flat (no atoms reported there) → %s\n",
                share(RegionKind::lattice), share(RegionKind::bright), share(RegionKind::dark), share(RegionKind::flat),
                rpath.string().c_str());
  }
  if (!vm["no-png"].as<bool>()) {
    fs::path png = vm.count("png") ? fs::path(vm["png"].as<std::string>()) : fs::path(out).replace_extension(".png");
    try {
      write_overlay(png, img, atoms, fs::path(file).filename().string() + ": " + std::to_string(atoms.size()) + " atoms (" + method + ")");
      std::printf("overlay → %s\n", png.string().c_str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "autostem atoms: warning: no overlay: %s\n", e.what());
    }
  }
  return 0;
}

}  // namespace autostem::cli
