// autostem train-atoms: trains the atom-finding ensemble (dcnn) on the `lattice` phantom and
// writes a model directory per lattice kind — how the shipped models/atoms/<kind> are made
// (docs/dcnn.md). Deterministic for a seed (one LibTorch thread, own RNGs).

#include "cli.hpp"

#include <autostem/core/random.hpp>
#include <autostem/datasets/phantoms.hpp>
#include <autostem/strategies/atomnet.hpp>

#include <algorithm>
#include <cmath>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>

namespace autostem::cli {

namespace {

// Training images of one kind, recipe "plain" (the models shipped until issue 15): `count`
// lattice samples (seeds seed·1000 + i), 160×160 px with an atom spacing of 8–14 px (the network
// resamples every image to its own spacing anyway), peak dose 1.5–60 counts, graphene with a
// grain boundary in half of them; perovskite viewed along [110] (A and B alternating along rows,
// atomap's SrTiO3 image) instead of [001] in a fraction p110 of them, with a Z-contrast exponent
// drawn in [z_min, z_max] (issue 15; p110 = 0 with 1.7–1.7 = the models shipped before).
std::vector<strategies::AtomNetSample> plain_samples(datasets::LatticeKind kind, std::size_t count,
                                                     std::uint64_t seed, double p110, double z_min, double z_max) {
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
    if (kind == datasets::LatticeKind::perovskite) {
      o.perovskite_110_probability = p110;
      o.z_exponent_min = z_min;
      o.z_exponent_max = z_max;
    }
    const auto s = datasets::make_lattice(o, seed * 1000 + i);
    strategies::AtomNetSample x;
    x.image = s.image;
    x.spacing_px = s.spacing_px;
    for (const auto& a : s.atoms) x.atoms.push_back(Atom{a.position, a.cls, 1.0, 0.0});
    out.push_back(std::move(x));
  }
  return out;
}

// Recipe "microscope" (issue 15, the default): lattice samples (seeds seed·1000 + i) that look
// like real surveys — atom spacing log-uniform in 4–25 px with a field of 18–26 spacings (the
// network sees 110–160 px after resampling), peak dose 1.5–60, line jitter up to 6 % of the
// spacing, scan-line offsets up to 0.15 × dose; amorphous contamination in 60 % of the images
// (0.5–6 × dose, up to 3 patches), vacuum (edge or holes) in 40 %, gradients up to ±50 %, probe
// tails up to 30 %, 8-bit storage in 30 %. Labels: the visible atoms; atoms under contamination
// are background; atoms at a patch's soft edge (thickness 0.25–0.75) are left out of the loss.
std::vector<strategies::AtomNetSample> microscope_samples(datasets::LatticeKind kind, std::size_t count,
                                                          std::uint64_t seed) {
  std::vector<strategies::AtomNetSample> out;
  for (std::size_t i = 0; i < count; ++i) {
    std::uint64_t st = (seed * 1000 + i) ^ 0x5be0cd19137e2179ULL;
    const auto u = [&st] { return static_cast<double>(random::splitmix64(st) >> 11) * 0x1.0p-53; };
    datasets::LatticeOptions o;
    o.kind = kind;
    const double spacing = 4.0 * std::pow(25.0 / 4.0, u());
    o.spacing_min_px = o.spacing_max_px = spacing;
    o.rows = o.cols = static_cast<std::size_t>(std::clamp(std::lround(spacing * (18.0 + 8.0 * u())), 96L, 700L));
    o.grain_boundary_probability = kind == datasets::LatticeKind::graphene ? 0.5 : 0.0;
    o.dose_min = 1.5;
    o.dose_max = 60.0;
    o.jitter_sd_px = 0.06 * spacing * u();
    o.line_noise_sd = 0.15 * u();
    o.contamination_probability = 0.6;
    o.vacuum_probability = 0.4;
    o.gradient_max = 0.5;
    o.probe_tail_max = 0.3;
    o.eight_bit_probability = 0.3;
    const auto s = datasets::make_lattice(o, seed * 1000 + i);
    strategies::AtomNetSample x;
    x.image = s.image;
    x.spacing_px = s.spacing_px;
    const auto thickness = [&](const Position& p) {
      const auto r = std::clamp<Eigen::Index>(static_cast<Eigen::Index>(std::lround(p.row)), 0, s.image.rows() - 1);
      const auto c = std::clamp<Eigen::Index>(static_cast<Eigen::Index>(std::lround(p.col)), 0, s.image.cols() - 1);
      return s.contamination(r, c);
    };
    for (const auto& a : s.atoms) {
      if (thickness(a.position) >= 0.25)
        x.ignored.push_back(a.position);
      else
        x.atoms.push_back(Atom{a.position, a.cls, 1.0, 0.0});
    }
    for (const auto& a : s.covered)
      if (thickness(a.position) < 0.75) x.ignored.push_back(a.position);
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
      ("iterations", po::value<std::size_t>()->default_value(0), "Adam steps (0 = the recipe's: microscope 1000, plain 300)")
      ("images", po::value<std::size_t>()->default_value(0), "phantom images per kind (0 = the recipe's: microscope 96, plain 48)")
      ("recipe", po::value<std::string>()->default_value("shipped"),
       "training images: microscope (contamination, vacuum, gradients, scan noise, 8-bit; issue 15), plain "
       "(clean phantoms, the models shipped before issue 15) or shipped (what models/atoms holds: microscope for "
       "graphene, plain for perovskite)")
      ("p110", po::value<double>()->default_value(0.5),
       "perovskite, recipe plain: fraction of the images viewed along [110] instead of [001] (0 = the models "
       "shipped before issue 15)")
      ("z-exponent", po::value<std::string>()->default_value("1.2-2.0"),
       "perovskite, recipe plain: range MIN-MAX of the Z-contrast exponent (1.7-1.7 = before issue 15)")
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
  const std::string recipe_arg = vm["recipe"].as<std::string>();
  if (recipe_arg != "microscope" && recipe_arg != "plain" && recipe_arg != "shipped")
    throw UsageError("--recipe must be shipped, microscope or plain, got '" + recipe_arg + "'");
  for (const auto& [name, k] : kinds) {
    const std::string recipe =
        recipe_arg != "shipped" ? recipe_arg : (k == datasets::LatticeKind::graphene ? "microscope" : "plain");
    const bool micro = recipe == "microscope";
    const std::size_t images = vm["images"].as<std::size_t>() ? vm["images"].as<std::size_t>() : (micro ? 96 : 48);
    const std::size_t iterations =
        vm["iterations"].as<std::size_t>() ? vm["iterations"].as<std::size_t>() : (micro ? 1000 : 300);
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
    const double p110 = vm["p110"].as<double>();
    if (!(p110 >= 0.0 && p110 <= 1.0)) throw UsageError("--p110 must be in [0, 1]");
    const std::string zr = vm["z-exponent"].as<std::string>();
    double z_min = 0, z_max = 0;
    if (std::sscanf(zr.c_str(), "%lf-%lf", &z_min, &z_max) != 2 || !(z_min > 0.0) || !(z_max >= z_min))
      throw UsageError("--z-exponent must look like 1.2-2.0 (0 < MIN <= MAX), got '" + zr + "'");
    const auto samples =
        micro ? microscope_samples(k, images, seed) : plain_samples(k, images, seed, p110, z_min, z_max);
    const double gen_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    strategies::AtomNetTrainingOptions to;
    to.iterations = iterations;
    to.seed = seed;
    to.threads = vm["threads"].as<int>();
    to.verbose = true;
    std::fprintf(stderr, "train-atoms: %s, %d models %s, %zu phantom images (%.1f s), %zu steps\n", name.c_str(), n,
                 vm["widths"].as<std::string>().c_str(), samples.size(), gen_s, to.iterations);
    const auto rep = net.train(samples, to);
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f", rep.seconds);
    const std::string data =
        recipe == "plain"
            ? " images 160x160, spacing 8-14 px, dose 1.5-60" +
                  (k == datasets::LatticeKind::perovskite
                       ? ", [110] projection in a fraction " + std::to_string(p110) + ", Z exponent " + zr
                       : std::string()) +
                  ", seeds "
            : " images (recipe microscope: spacing 4-25 px, 18-26 spacings wide, dose 1.5-60, contamination 60 %, "
              "vacuum 40 %, gradients, scan-line noise, probe tails, 8-bit 30 %), seeds ";
    net.set_training_notes({{"data", "lattice phantom (" + name + "), " + std::to_string(samples.size()) + data +
                                         std::to_string(seed * 1000) + "..."},
                            {"recipe", recipe},
                            {"iterations", std::to_string(to.iterations)},
                            {"batch_per_model", std::to_string(to.batch)},
                            {"patch_px", std::to_string(to.patch_px)},
                            {"threads", std::to_string(to.threads)},
                            {"seconds", secs},
                            {"final_loss", std::to_string(rep.final_loss)},
                            {"command", "autostem train-atoms --kind " + name + " --ensemble " + std::to_string(n) +
                                            " --seed " + std::to_string(seed) + " --recipe " + recipe +
                                            " --images " + std::to_string(samples.size()) + " --iterations " +
                                            std::to_string(to.iterations) +
                                            (k == datasets::LatticeKind::perovskite && !micro
                                                 ? " --p110 " + std::to_string(p110) + " --z-exponent " + zr
                                                 : std::string())}});
    const auto dir = std::filesystem::path(vm["out"].as<std::string>()) / name;
    net.save(dir);
    std::printf("%s: %d models trained in %.1f s (final loss %.4f) -> %s\n", name.c_str(), n, rep.seconds,
                rep.final_loss, dir.string().c_str());
  }
  return 0;
}

}  // namespace autostem::cli
