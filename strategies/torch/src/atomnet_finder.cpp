// The "dcnn" atom finder (AtomNet ensemble) and the "dcnn" strategy (AtomPlanStrategy with it).
// No LibTorch include here: this file uses AtomNet's plain-C++ interface.
#include <autostem/strategies/atomnet.hpp>
#include <autostem/strategies/atoms.hpp>
#include <autostem/strategies/registry.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>

namespace autostem::strategies {

namespace {

// The default preprocessing (issue 15): the Bragg filter only on images whose lattice SNR is low
// (resolve_denoise, auto_bragg_snr chosen on validation phantoms; docs/dcnn.md "denoise=auto").
constexpr const char* kDefaultDenoise = "auto";

// The default border (issue 15): atoms closer than this many spacings to the image edge are
// dropped. On the validation phantoms (docs/dcnn.md "denoise=auto") most of the network's
// detections within 0.1 spacing of the edge are not atoms (precision 0.10–0.54 per half pixel up
// to 1.5 px against 0.87 inside); mean F1 0.945 → 0.949 with 0.1, lower with 0.15 and more.
constexpr double kDefaultBorderSpacings = 0.1;

// denoise=auto's merge (issue 15; rule chosen on validation phantoms, docs/dcnn.md): every atom of
// `filtered` (found on the Bragg-filtered survey) where the unfiltered survey's ensemble-mean
// P(atom) (`plain`, maps of the survey's (rows, cols)) reaches `threshold` within `radius` px, at
// its filtered position, with the class, probability and uncertainty of the plain maps there
// (the filter averages a dopant's contrast away). Filtered atoms without that support (the
// filter's vacancies, its continuation of the lattice under contamination) are dropped, and so
// are atoms found only on the unfiltered survey.
std::vector<Atom> confirmed_filtered_atoms(const std::vector<Atom>& filtered, const AtomNetMaps& plain,
                                           double threshold, double radius) {
  const ImageArray& p = plain.probability;
  std::vector<Atom> out;
  for (const auto& a : filtered) {
    double best = -1;
    Eigen::Index bi = 0, bj = 0;
    const auto i0 = std::max<Eigen::Index>(0, static_cast<Eigen::Index>(std::ceil(a.position.row - radius)));
    const auto i1 = std::min<Eigen::Index>(p.rows() - 1, static_cast<Eigen::Index>(std::floor(a.position.row + radius)));
    const auto j0 = std::max<Eigen::Index>(0, static_cast<Eigen::Index>(std::ceil(a.position.col - radius)));
    const auto j1 = std::min<Eigen::Index>(p.cols() - 1, static_cast<Eigen::Index>(std::floor(a.position.col + radius)));
    for (auto i = i0; i <= i1; ++i)
      for (auto j = j0; j <= j1; ++j) {
        const double dr = static_cast<double>(i) - a.position.row, dc = static_cast<double>(j) - a.position.col;
        if (dr * dr + dc * dc <= radius * radius && p(i, j) > best) {
          best = p(i, j);
          bi = i;
          bj = j;
        }
      }
    if (best < threshold) continue;
    Atom kept = a;
    kept.probability = best;
    kept.uncertainty = plain.uncertainty(bi, bj);
    double best_cls = -1;
    for (std::size_t c = 0; c < plain.class_probability.size(); ++c)
      if (plain.class_probability[c](bi, bj) > best_cls) {
        best_cls = plain.class_probability[c](bi, bj);
        kept.cls = static_cast<int>(c);
      }
    out.push_back(kept);
  }
  return out;
}

class DcnnAtomFinder final : public AtomFinder {
 public:
  explicit DcnnAtomFinder(const Parameters& params) {
    const ParamValues v = dcnn_finder_schema().parse(params);
    kind_ = v.text("kind");
    model_ = v.text("model");
    if (model_.empty()) model_ = default_atomnet_directory(kind_).string();
    options_.ensemble = v.size("ensemble");
    options_.threshold = v.number("threshold");
    spacing_px_ = v.number("spacing_px");
    elit_rounds_ = v.size("elit_rounds");
    elit_iterations_ = v.size("elit_iterations");
    classify_ = v.text("classify");
    denoise_ = v.text("denoise");
    border_px_ = v.number("border_px");
    border_spacings_ = v.number("border_spacings");
    max_loss_ = v.number("max_loss");
    auto_snr_ = v.number("auto_snr");
    mask_ = v.text("mask");
    clip_percent_ = v.number("clip_percent");
    provenance_ = v.provenance();
    provenance_["model"] = model_;
    net_ = std::make_unique<AtomNet>(AtomNet::load(model_));  // throws a clear error for a bad directory
    // classify=auto (issue 15): the network's classes for graphene; Z-contrast (otsu) for a
    // perovskite model, whose class head is unreliable on the [110] projection while otsu is right
    // on both projections (validation phantoms, docs/dcnn.md "SrTiO3").
    if (classify_ == "auto") classify_ = net_->architecture().kind == "perovskite" ? "otsu" : "network";
    provenance_["classify"] = classify_;
    if (options_.ensemble > static_cast<std::size_t>(net_->architecture().ensemble))
      throw std::invalid_argument("atom finder 'dcnn': ensemble=" + std::to_string(options_.ensemble) + " but " +
                                  model_ + " holds " + std::to_string(net_->architecture().ensemble) + " models");
  }

  std::string name() const override { return "dcnn"; }

  Parameters parameters() const override { return provenance_; }

  std::vector<std::string> notes() const override { return notes_; }

  RegionMap regions() const override { return regions_; }

  std::vector<Atom> find(const Image& survey) override {
    if (survey.data.size() == 0) throw std::invalid_argument("dcnn finder: the survey image is empty");
    if (!survey.data.isFinite().all())
      throw std::invalid_argument("dcnn finder: the survey image has NaN or infinite values");
    notes_.clear();
    regions_ = RegionMap();
    if (mask_ == "auto" && (survey.data.rows() < 16 || survey.data.cols() < 16))
      throw std::invalid_argument("dcnn finder: the survey image is " + std::to_string(survey.data.rows()) + "×" +
                                  std::to_string(survey.data.cols()) + "; mask=auto needs at least 16×16 (or mask=none)");
    // Shared robust preprocessing (issue 15): non-lattice regions found and reported, the spacing
    // estimated on the lattice only, the image normalised on the lattice with those regions set to
    // the lattice mean — so neither a blob nor vacuum enters the network's mean/std normalisation.
    PreparedSurvey prep = prepare_survey(survey.data, mask_, spacing_px_, clip_percent_);
    regions_ = std::move(prep.regions);
    const double spacing = prep.spacing_px;
    if (spacing <= 0) return {};  // no lattice periodicity: no atoms (the plan strategy reports "no atoms found")
    const ImageArray& base = prep.image;
    const std::size_t rows = static_cast<std::size_t>(survey.data.rows()), cols = static_cast<std::size_t>(survey.data.cols());
    // denoise=bragg: the network sees the Bragg-filtered survey (positions); classes by otsu use
    // the unfiltered survey (the filter averages a dopant's contrast away).
    // denoise=auto (the default, issue 15): the filter only where the lattice's shot-noise SNR is
    // low (resolve_denoise; threshold chosen on validation phantoms, docs/dcnn.md).
    double snr = 0;
    const std::string denoise = resolve_denoise(base, denoise_, spacing, &snr, auto_snr_);
    provenance_["denoise_applied"] = denoise;
    if (denoise_ == "auto") provenance_["lattice_snr"] = std::to_string(snr);
    const ImageArray input = denoise_survey(base, denoise, spacing);
    std::vector<Atom> atoms;
    if (elit_rounds_ > 0) {
      // ELIT self-labelling on this survey: fine-tunes a copy, the loaded ensemble stays as shipped.
      auto tuned = AtomNet::load(model_);
      AtomNetTrainingOptions o;
      o.iterations = elit_iterations_;
      o.learning_rate = 1e-3;
      tuned.elit_finetune(input, spacing, elit_rounds_, o);
      atoms = tuned.find_atoms(input, spacing, options_);
    } else {
      atoms = net_->find_atoms(input, spacing, options_);
    }
    const double border = std::max(border_px_, border_spacings_ * spacing);
    drop_atoms_in_regions(atoms, regions_);
    drop_border_atoms(atoms, rows, cols, border);
    if (denoise != "none" || elit_rounds_ > 0) {
      // No self-destruction (issue 15): the Bragg filter and ELIT are kept only where they do not
      // lose more than max_loss of the atoms the shipped ensemble finds on the survey as it is.
      const bool merge = denoise_ == "auto" && elit_rounds_ == 0;
      AtomNetMaps plain_maps;
      auto plain = net_->find_atoms(base, spacing, options_, merge ? &plain_maps : nullptr);
      drop_atoms_in_regions(plain, regions_);
      drop_border_atoms(plain, rows, cols, border);
      const double kept = plain.empty() ? 1.0 : static_cast<double>(atoms.size()) / static_cast<double>(plain.size());
      if (kept < 1.0 - max_loss_) {
        notes_.push_back("dcnn: denoise=" + denoise + ", elit_rounds=" + std::to_string(elit_rounds_) + " found " +
                         std::to_string(atoms.size()) + " atoms where the ensemble finds " +
                         std::to_string(plain.size()) + " on the survey as it is (a loss of " +
                         std::to_string(static_cast<int>(std::lround(100.0 * (1.0 - kept)))) +
                         " %, more than max_loss=" + std::to_string(static_cast<int>(std::lround(100.0 * max_loss_))) +
                         " %): rejected, the atoms without them are returned");
        atoms = std::move(plain);
      } else if (merge) {
        // auto: the filter gives the positions, the unfiltered survey's probability map must
        // support each of them — no atom is invented where the filter continues the lattice
        // (vacancies, thin contamination the region map missed).
        atoms = confirmed_filtered_atoms(atoms, plain_maps, options_.threshold, 0.25 * spacing);
      }
    }
    // otsu: the network gives the positions, Z-contrast the class (0 = bright, 1 = dim)
    if (classify_ == "otsu") split_atoms_by_intensity(survey.data, atoms, 0, 1, std::max(1.0, 0.15 * spacing));
    return atoms;
  }

 private:
  std::string kind_, model_;
  AtomNetFindOptions options_;
  double spacing_px_ = 0;
  std::size_t elit_rounds_ = 0, elit_iterations_ = 60;
  std::string classify_ = "auto";
  std::string denoise_ = kDefaultDenoise;
  double border_px_ = 0;
  double border_spacings_ = kDefaultBorderSpacings;
  double max_loss_ = 0.3;
  double auto_snr_ = auto_bragg_snr;
  std::string mask_ = "auto";
  double clip_percent_ = 0;
  RegionMap regions_;
  std::vector<std::string> notes_;
  Parameters provenance_;
  std::unique_ptr<AtomNet> net_;
};

}  // namespace

const Schema& dcnn_finder_schema() {
  static const Schema s = [] {
    Schema s("atom finder", "dcnn", "U-Net ensemble (LibTorch, docs/dcnn.md)");
    s.text("model", "", "DIR", "model directory (empty = models/atoms/<kind>)");
    s.choice("kind", {"graphene", "perovskite"}, "graphene", "which shipped model when model is empty");
    s.integer("ensemble", 0, "ensemble members to use (0 = all)");
    s.number("threshold", 0.5, "atom probability threshold").above(0).at_most(1);
    s.number("spacing_px", 0.0, "atom spacing (0 = estimated from the image)").at_least(0).in_unit("px");
    s.integer("elit_rounds", 0, "ELIT self-labelling rounds on the survey (0 = the shipped ensemble)");
    s.integer("elit_iterations", 60, "training iterations per ELIT round").at_least(1);
    s.choice("classify", {"auto", "network", "otsu"}, "auto",
             "network: the network's classes; otsu: Z-contrast classes, 0 = bright, 1 = dim; auto: otsu for a "
             "perovskite model, network otherwise (docs/dcnn.md)");
    s.choice("denoise", {"none", "bragg", "bragg-periodic", "auto"}, kDefaultDenoise,
             "find the atoms in the Bragg-filtered survey (docs/atoms.md \"Bragg filter\"); auto: only when the "
             "lattice's shot-noise SNR is below auto_snr, positions from the filtered survey, each confirmed by the "
             "probability map of the survey as it is (docs/dcnn.md)");
    s.number("border_px", 0.0, "drop atoms closer than this to the image edge (the larger of this and border_spacings)")
        .at_least(0)
        .in_unit("px");
    s.number("border_spacings", kDefaultBorderSpacings,
             "drop atoms closer than this many atom spacings to the image edge (0.1: the network's detections there "
             "are mostly not atoms, validation phantoms, docs/dcnn.md)")
        .at_least(0)
        .below(0.5);
    s.number("auto_snr", auto_bragg_snr,
             "denoise=auto: Bragg-filter when the lattice's shot-noise SNR (lattice_snr) is below this")
        .at_least(0);
    s.number("max_loss", 0.3,
             "reject denoise/ELIT (with a note) when they lose more than this fraction of the atoms found without them")
        .at_least(0)
        .at_most(1);
    s.choice("mask", {"auto", "none"}, "auto",
             "auto: find the regions that are not lattice (contamination, vacuum), report them, find no atoms "
             "there, estimate the spacing and normalise on the lattice only (docs/dcnn.md); none: the whole image");
    s.number("clip_percent", 0.0, "mask=auto: clip the image to these percentiles of the lattice pixels (0 = no clip)")
        .at_least(0)
        .below(50);
    return s;
  }();
  return s;
}

std::string dcnn_finder_help() { return dcnn_finder_schema().help(); }

std::unique_ptr<AtomFinder> make_dcnn_atom_finder(const Parameters& params) {
  return std::make_unique<DcnnAtomFinder>(params);
}

void register_dcnn() {
  register_atom_finder(dcnn_finder_schema(), make_dcnn_atom_finder);
  register_strategy({atom_plan_schema("dcnn", "atoms found by the dcnn U-Net ensemble, measured along a short beam path",
                                      dcnn_finder_schema),
                     [](const Parameters& p) { return make_atom_plan_strategy("dcnn", "dcnn", p); }});
}

}  // namespace autostem::strategies
