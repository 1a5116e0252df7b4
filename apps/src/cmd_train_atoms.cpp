// autostem train-atoms: trains the atom-finding ensemble (dcnn) on the `lattice` phantom and
// writes a model directory per lattice kind — how the shipped models/atoms/<kind> are made
// (docs/dcnn.md). Deterministic for a seed (one LibTorch thread, own RNGs).

#include "cli.hpp"

#include <autostem/datasets/phantoms.hpp>
#include <autostem/strategies/atomnet.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>

namespace autostem::cli {

namespace {

// Training images of one kind: `count` lattice samples (seeds seed·1000 + i), 160×160 px with an
// atom spacing of 8–14 px (the network resamples every image to its own spacing anyway), peak
// dose 1.5–60 counts, graphene with a grain boundary in half of them.
std::vector<strategies::AtomNetSample> lattice_samples(datasets::LatticeKind kind, std::size_t count,
                                                       std::uint64_t seed) {
  std::vector<strategies::AtomNetSample> out;
  for (std::size_t i = 0; i < count; ++i) {
    datasets::LatticeOptions o;
    o.kind = kind;
    o.rows = o.cols = 160;
    o.spacing_min_px = 8.0;
    o.spacing_max_px = 14.0;
    o.grain_boundary_probability = kind == datasets::LatticeKind::graphene ? 0.5 : 0.0;
    o.dose_min = 1.5;  // real HAADF surveys of graphene are far noisier than the phantom's default
    o.dose_max = 60.0;
    const auto s = datasets::make_lattice(o, seed * 1000 + i);
    strategies::AtomNetSample x;
    x.image = s.image;
    x.spacing_px = s.spacing_px;
    for (const auto& a : s.atoms) x.atoms.push_back(Atom{a.position, a.cls, 1.0, 0.0});
    out.push_back(std::move(x));
  }
  return out;
}

std::vector<int> parse_widths(const std::string& text) {
  std::vector<int> w;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, '-')) {
    try {
      w.push_back(std::stoi(item));
    } catch (const std::exception&) {
      throw UsageError("--widths must look like 8-16-32, got '" + text + "'");
    }
  }
  return w;
}

}  // namespace

int cmd_train_atoms(const std::vector<std::string>& args) {
  po::options_description o("autostem train-atoms options");
  o.add_options()("help,h", "this help")
      ("out", po::value<std::string>(), "output directory; one model directory per kind is written to OUT/<kind>")
      ("kind", po::value<std::string>()->default_value("all"), "graphene, perovskite or all")
      ("ensemble", po::value<int>()->default_value(20), "number of models N")
      ("seed", po::value<std::uint64_t>()->default_value(1), "seed of the weights, the phantoms and the batches")
      ("iterations", po::value<std::size_t>()->default_value(300), "Adam steps")
      ("images", po::value<std::size_t>()->default_value(48), "phantom images per kind")
      ("widths", po::value<std::string>()->default_value("4-8-16"), "filters per U-Net level")
      ("spacing", po::value<double>()->default_value(6.0), "atom spacing the network sees (network px)")
      ("threads", po::value<int>()->default_value(1), "LibTorch threads (1 = deterministic)");
  po::variables_map vm;
  if (parse(args, o, vm,
            "usage: autostem train-atoms --out DIR [--kind graphene|perovskite|all] [--ensemble N] [--seed S]\n"
            "Trains the dcnn atom-finding ensemble on the lattice phantom (never on real images) and\n"
            "writes DIR/<kind>/manifest.json + weights.pt. With the defaults this reproduces the shipped\n"
            "models/atoms/<kind> (docs/dcnn.md states the training time).",
            nullptr))
    return 0;
  if (!vm.count("out")) throw UsageError("--out DIR is required");
  const std::string kind = vm["kind"].as<std::string>();
  std::vector<std::pair<std::string, datasets::LatticeKind>> kinds;
  if (kind == "graphene" || kind == "all") kinds.emplace_back("graphene", datasets::LatticeKind::graphene);
  if (kind == "perovskite" || kind == "all") kinds.emplace_back("perovskite", datasets::LatticeKind::perovskite);
  if (kinds.empty()) throw UsageError("--kind must be graphene, perovskite or all, got '" + kind + "'");
  const int n = vm["ensemble"].as<int>();
  if (n < 1) throw UsageError("--ensemble must be >= 1");
  const auto seed = vm["seed"].as<std::uint64_t>();
  for (const auto& [name, k] : kinds) {
    strategies::AtomNetArchitecture a;
    a.ensemble = n;
    a.widths = parse_widths(vm["widths"].as<std::string>());
    a.spacing_px = vm["spacing"].as<double>();
    a.kind = name;
    if (k == datasets::LatticeKind::graphene) {
      a.classes = 2;
      a.class_names = {"C", "Si"};
    } else {
      a.classes = 3;
      a.class_names = {"A-site", "B-site", "B-site dopant"};
    }
    strategies::AtomNet net(a, seed);
    const auto t0 = std::chrono::steady_clock::now();
    const auto samples = lattice_samples(k, vm["images"].as<std::size_t>(), seed);
    const double gen_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    strategies::AtomNetTrainingOptions to;
    to.iterations = vm["iterations"].as<std::size_t>();
    to.seed = seed;
    to.threads = vm["threads"].as<int>();
    to.verbose = true;
    std::fprintf(stderr, "train-atoms: %s, %d models %s, %zu phantom images (%.1f s), %zu steps\n", name.c_str(), n,
                 vm["widths"].as<std::string>().c_str(), samples.size(), gen_s, to.iterations);
    const auto rep = net.train(samples, to);
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f", rep.seconds);
    net.set_training_notes({{"data", "lattice phantom (" + name + "), " + std::to_string(samples.size()) +
                                         " images 160x160, spacing 8-14 px, dose 1.5-60, seeds " + std::to_string(seed * 1000) +
                                         "..."},
                            {"iterations", std::to_string(to.iterations)},
                            {"batch_per_model", std::to_string(to.batch)},
                            {"patch_px", std::to_string(to.patch_px)},
                            {"threads", std::to_string(to.threads)},
                            {"seconds", secs},
                            {"final_loss", std::to_string(rep.final_loss)},
                            {"command", "autostem train-atoms --kind " + name + " --ensemble " + std::to_string(n) +
                                            " --seed " + std::to_string(seed)}});
    const auto dir = std::filesystem::path(vm["out"].as<std::string>()) / name;
    net.save(dir);
    std::printf("%s: %d models trained in %.1f s (final loss %.4f) -> %s\n", name.c_str(), n, rep.seconds,
                rep.final_loss, dir.string().c_str());
  }
  return 0;
}

}  // namespace autostem::cli
