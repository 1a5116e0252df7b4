// autostem bench: which strategy gets the science with the fewest spectra, the least dose and
// the shortest session? A matrix of ground truths × strategies × seeds, in parallel.

#include "bench_harness.hpp"
#include "cli.hpp"
#include "session_options.hpp"
#include "drift_options.hpp"

#include <autostem/datasets/phantoms.hpp>
#include <autostem/imaging/scalarizer.hpp>
#include <autostem/strategies/registry.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <unistd.h>

namespace autostem::cli {

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const auto end = std::min(s.find(sep, start), s.size());
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

namespace {

void add_bench_options(po::options_description& o) {
  std::string names, phantoms;
  for (const auto& n : strategies::strategy_names()) names += (names.empty() ? "" : ",") + n;
  for (const auto& n : datasets::phantom_names()) phantoms += (phantoms.empty() ? "" : ", ") + n;
  for (const auto& n : fourd_phantom_names()) phantoms += ", " + n + " (4D-STEM)";
  o.add_options()("help,h", "this help")
      ("phantom", po::value<std::vector<std::string>>()->composing(),
       ("built-in ground truth NAME[:ROWSxCOLS][:KEY=VALUE]... (repeatable; a new specimen per seed): " +
        phantoms + "; the 4D phantoms take current_pA=20, frame_s=0.001, step_A=0.4 and (fourd-tbg) "
        "twist=auto|DEG|MIN-MAX (docs/4dstem.md)").c_str())
      ("dataset", po::value<std::vector<std::string>>()->composing(),
       "ground-truth spectrum image SI_FILE[,SURVEY_FILE] (repeatable)")
      ("strategies", po::value<std::string>()->default_value("grid,random"),
       ("comma-separated strategies, from: " + names).c_str())
      ("param", po::value<std::vector<std::string>>()->composing(),
       "strategy parameter STRATEGY.KEY=VALUE (repeatable), e.g. edge.k=3")
      ("seeds", po::value<std::size_t>()->default_value(3), "number of seeds per cell")
      ("seed-start", po::value<std::uint64_t>()->default_value(0), "first seed")
      ("scalarizer", po::value<std::string>()->default_value(""),
       "SPEC: how a spectrum becomes the one number that the maps, recall (top:Q) and the missed "
       "maximum are about (default: total counts); the forms are listed at the end of this help")
      ("roi", po::value<std::string>()->default_value("auto"),
       "region of interest for recall: auto (phantom mask, else top:5) | mask | top:Q (top Q % "
       "of the ground-truth scalar map) | points:L (1.5-px discs around the ground truth's labelled "
       "points of label L, e.g. the lattice phantom's Si dopants: points:1)")
      ("recall-radius", po::value<double>(),
       "PX: a region-of-interest pixel counts as found when a measurement lands within PX pixels of "
       "it (0 = only the pixel measured). Default: the largest spacing a benched strategy keeps "
       "between its points (edge.min_spacing_px = 3, grid.step when > 1), else 0")
      ("recall-radius-nm", po::value<double>(), "NM: the same in nm (converted with each ground truth's pixel size)")
      ("threads", po::value<std::size_t>()->default_value(0), "parallel runs (0 = all cores)")
      ("no-plots", po::bool_switch(), "skip the PNG plots")
      ("out", po::value<std::string>()->required(), "output folder");
  add_acquisition_options(o);
  add_model_options(o, false);
}

// Throws UsageError unless roi is auto, mask, top:Q (0 < Q ≤ 100) or points:LABEL (integer).
void check_roi(const std::string& roi) {
  if (roi == "auto" || roi == "mask") return;
  if (roi.rfind("points:", 0) == 0) {
    try {
      std::size_t used = 0;
      (void)std::stoi(roi.substr(7), &used);
      if (used != roi.size() - 7) throw std::invalid_argument("trailing text");
    } catch (const std::exception&) {
      throw UsageError("--roi '" + roi + "': expected points:LABEL with an integer LABEL (e.g. points:1)");
    }
    return;
  }
  bool ok = roi.rfind("top:", 0) == 0;
  if (ok) {
    try {
      const double q = std::stod(roi.substr(4));
      ok = q > 0.0 && q <= 100.0;
    } catch (const std::exception&) {
      ok = false;
    }
  }
  if (!ok)
    throw UsageError("--roi '" + roi + "' is not one of auto, mask, top:Q with 0 < Q ≤ 100, points:LABEL");
}

// --phantom NAME[:RxC] and --dataset SI[,SURVEY], in that order; the nanowire phantom when neither.
std::vector<BenchDataset> bench_datasets(const po::variables_map& vm) {
  std::vector<BenchDataset> out;
  if (vm.count("phantom"))
    for (const auto& p : vm["phantom"].as<std::vector<std::string>>()) {
      BenchDataset d;
      auto colon = p.find(':');
      d.phantom = p.substr(0, colon);
      if (colon != std::string::npos) {
        // NAME:RxC[:KEY=VALUE]… or NAME:KEY=VALUE…
        std::string rest = p.substr(colon + 1);
        colon = rest.find(':');
        const std::string first = rest.substr(0, colon);
        if (first.find('=') == std::string::npos) {
          std::tie(d.rows, d.cols) = parse_shape(first);
          rest = colon == std::string::npos ? "" : rest.substr(colon + 1);
        }
        d.options = rest;
      }
      if (!d.options.empty() || is_fourd_phantom(d.phantom)) {
        try {
          parse_fourd_bench_options(d.phantom, d.options);
        } catch (const std::invalid_argument& e) {
          throw UsageError(std::string("--phantom '") + p + "': " + e.what());
        }
      }
      // A 4D phantom holds every pattern (16 KiB per pixel at 64² detector px).
      if (is_fourd_phantom(d.phantom))
        check_phantom_memory(d.rows, d.cols, fourd_phantom_bytes_per_pixel());
      else
        check_phantom_memory(d.rows, d.cols);
      d.label = d.phantom + "_" + std::to_string(d.rows) + "x" + std::to_string(d.cols);
      if (!d.options.empty()) {
        std::string o = d.options;
        std::replace(o.begin(), o.end(), ':', '_');
        d.label += "_" + o;
      }
      out.push_back(d);
    }
  if (vm.count("dataset"))
    for (const auto& s : vm["dataset"].as<std::vector<std::string>>()) {
      const auto parts = split(s, ',');
      if (parts.empty() || parts.size() > 2)
        throw UsageError("--dataset '" + s + "' is not SI_FILE[,SURVEY_FILE]");
      BenchDataset d;
      d.spectrum_image = parts[0];
      if (parts.size() == 2) d.survey = parts[1];
      d.label = d.spectrum_image.stem().string();
      out.push_back(d);
    }
  if (out.empty()) {
    BenchDataset d;
    d.phantom = "nanowire";
    d.label = "nanowire_128x128";
    out.push_back(d);
  }
  return out;
}

// --strategies A,B with their --param STRATEGY.KEY=VALUE items and the model options.
std::vector<BenchStrategy> bench_strategies(const po::variables_map& vm, const std::string& scalarizer) {
  std::vector<BenchStrategy> out;
  for (const auto& name : split(vm["strategies"].as<std::string>(), ',')) {
    BenchStrategy s;
    s.name = name;
    out.push_back(std::move(s));
  }
  if (out.empty()) throw UsageError("--strategies is empty");
  if (vm.count("param"))
    for (const auto& item : vm["param"].as<std::vector<std::string>>()) {
      const auto dot = item.find('.'), eq = item.find('=');
      if (dot == std::string::npos || eq == std::string::npos || dot > eq)
        throw UsageError("--param '" + item + "' is not STRATEGY.KEY=VALUE");
      const std::string strat = item.substr(0, dot);
      bool found = false;
      for (auto& s : out)
        if (s.name == strat) {
          s.params[item.substr(dot + 1, eq - dot - 1)] = item.substr(eq + 1);
          found = true;
        }
      if (!found) throw UsageError("--param '" + item + "': strategy '" + strat + "' is not in --strategies");
    }
  for (auto& s : out) apply_model_options(vm, s.name, scalarizer, s.params);
  // --drift-correction off/every:50 runs each strategy once per variant, labelled edge+dc:every:50.
  const auto variants = drift_correction_variants(vm);
  if (variants.size() == 1 && !variants.front().second) return out;
  std::vector<BenchStrategy> expanded;
  for (const auto& s : out)
    for (const auto& [spec, options] : variants) {
      BenchStrategy v = s;
      v.drift_correction = options;
      v.label = options ? s.name + "+dc:" + spec : s.name;
      expanded.push_back(std::move(v));
    }
  return expanded;
}

// --exposure file: the exposure every --dataset file records. One session configuration serves
// every run, so the files must agree; a phantom has no file. Says which value was used (stdout).
double bench_file_exposure(const std::vector<BenchDataset>& datasets) {
  std::optional<FileExposure> used;
  for (const auto& d : datasets) {
    if (d.spectrum_image.empty())
      throw UsageError("--exposure file: ground truth '" + d.label +
                       "' is a phantom, which has no file to take an exposure from; give --exposure SECONDS");
    const FileExposure fe = file_exposure(d.spectrum_image);
    if (used && fe.exposure_s != used->exposure_s)
      throw UsageError("--exposure file: the datasets record different exposures (" + used->note() +
                       "; " + fe.note() + "); bench them separately or give --exposure SECONDS");
    if (!used) used = fe;
  }
  std::printf("exposure %s\n", used->note().c_str());
  return used->exposure_s;
}

BenchConfig bench_config(const po::variables_map& vm) {
  BenchConfig cfg;
  cfg.out_dir = vm["out"].as<std::string>();
  cfg.session = session_config(vm, /*allow_file_exposure=*/true);
  cfg.batch_defaulted = vm["batch"].defaulted();
  cfg.sim = simulated_options(vm);
  cfg.scalarizer = vm["scalarizer"].as<std::string>();
  cfg.roi = vm["roi"].as<std::string>();
  check_roi(cfg.roi);
  cfg.threads = vm["threads"].as<std::size_t>();
  if (vm.count("recall-radius") && vm.count("recall-radius-nm"))
    throw UsageError("--recall-radius (px) and --recall-radius-nm: give one of them");
  if (vm.count("recall-radius")) {
    cfg.recall_radius_px = vm["recall-radius"].as<double>();
    if (!(cfg.recall_radius_px >= 0.0)) throw UsageError("--recall-radius must be >= 0 px");
  }
  if (vm.count("recall-radius-nm")) {
    cfg.recall_radius_nm = vm["recall-radius-nm"].as<double>();
    if (!(cfg.recall_radius_nm >= 0.0)) throw UsageError("--recall-radius-nm must be >= 0 nm");
  }
  const std::size_t nseeds = vm["seeds"].as<std::size_t>();
  if (nseeds == 0) throw UsageError("--seeds must be at least 1");
  for (std::size_t i = 0; i < nseeds; ++i) cfg.seeds.push_back(vm["seed-start"].as<std::uint64_t>() + i);
  cfg.datasets = bench_datasets(vm);
  if (exposure_from_file(vm)) cfg.session.point.exposure_s = bench_file_exposure(cfg.datasets);
  cfg.strategies = bench_strategies(vm, cfg.scalarizer);
  // random without a budget of its own would measure every pixel (random.fraction = 1): in a bench
  // it gets the comparison's budget instead (BenchStrategy::matched_budget).
  const bool session_budget = vm.count("budget-points") || vm.count("budget-time") || vm.count("budget-dose");
  for (auto& s : cfg.strategies)
    s.matched_budget = s.name == "random" && !s.params.count("fraction") && !session_budget;
  cfg.prediction_every = vm["prediction-every"].as<std::size_t>();
  cfg.prediction_budget = vm["prediction-budget"].as<double>();
  return cfg;
}

// Names every failed run on stderr, then how many; returns how many failed.
std::size_t report_failures(const std::vector<RunResult>& results) {
  std::size_t failed = 0;
  for (const auto& r : results)
    if (!r.error.empty()) {
      ++failed;
      std::cerr << "autostem bench: run " << r.dataset << "/" << r.strategy << "/seed " << r.seed
                << " failed: " << r.error << "\n";
    }
  if (failed)
    std::cerr << "autostem bench: " << failed << " of " << results.size()
              << " runs failed (summary.md \"Failed runs\", summary.csv status=failed); exit status 1\n";
  return failed;
}

// The --help epilogue: every scalarizer form from the registry, with its fields and units.
std::string scalarizer_help() {
  std::string h = "\nScalarizers (--scalarizer SPEC; fields separated by ':', energies in eV):\n";
  for (const auto& f : scalarizer_forms()) {
    h += "  " + f.syntax + "\n";
    std::string line = "     ";
    for (const auto& word : split(f.meaning + " (result: " + f.result_units + ")", ' ')) {
      if (line.size() + word.size() > 90) {
        h += line + "\n";
        line = "     ";
      }
      line += " " + word;
    }
    h += line + "\n";
  }
  return h;
}

}  // namespace

int cmd_bench(const std::vector<std::string>& args) { return cmd_bench(args, nullptr); }

int cmd_bench(const std::vector<std::string>& args, std::vector<RunResult>* results_out) {
  po::options_description o("autostem bench options");
  add_bench_options(o);
  po::variables_map vm;
  if (parse(args, o, vm,
            "usage: autostem bench [--phantom NAME[:RxC][:KEY=VALUE]...]... [--dataset SI[,SURVEY]]...\n"
            "                      --strategies A,B,C [--seeds N] [--scalarizer SPEC] --out DIR\n"
            "Runs every strategy on every ground truth for N seeds in the simulated microscope and\n"
            "writes summary.csv (a row per run), summary.md (median and IQR), per-run HDF5 files\n"
            "(runs/) and PNG plots (plots/): visited points, ground-truth and rebuilt maps, recall,\n"
            "missed maximum and map error vs spectra, time and dose.\n"
            "A strategy run fails → its figures read FAILED and the exit status is 1.\n"
            "Example (docs/validation.md §3): autostem bench --phantom nanowire --strategies grid,random,edge --seeds 10 --out bench_nw")) {
    std::cout << scalarizer_help();
    return 0;
  }

  const BenchConfig cfg = bench_config(vm);
  const bool tty = isatty(STDERR_FILENO);
  const auto results = run_bench(cfg, [&](std::size_t done, std::size_t total) {
    if (tty) std::fprintf(stderr, "\rbench: %zu/%zu runs done   ", done, total);
    else if (done == total) std::fprintf(stderr, "bench: %zu runs done\n", total);
  });
  if (tty) std::fprintf(stderr, "\n");
  write_summaries(cfg, results);
  const std::size_t failed = report_failures(results);
  std::vector<std::filesystem::path> plots;
  if (!vm["no-plots"].as<bool>()) plots = write_plots(cfg, results);
  std::ifstream md(cfg.out_dir / "summary.md");
  std::cout << md.rdbuf() << "\n";
  std::cout << "wrote " << (cfg.out_dir / "summary.csv").string() << ", summary.md, "
            << results.size() << " run files in runs/, " << plots.size() << " plots in plots/\n";
  if (results_out) *results_out = results;
  return failed ? 1 : 0;
}

}  // namespace autostem::cli
