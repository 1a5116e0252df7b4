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

const char* kKeys[] = {"model",           "kind",     "ensemble", "threshold", "spacing_px", "elit_rounds",
                       "elit_iterations", "classify", "denoise",  "border_px"};

// The default preprocessing (docs/atoms.md "Bragg filter": chosen by F1 on the two real graphene
// images).
constexpr const char* kDefaultDenoise = "none";

std::string get(const Parameters& p, const std::string& key, const std::string& fallback) {
  auto it = p.find(key);
  return it == p.end() ? fallback : it->second;
}

double get_number(const Parameters& p, const std::string& key, double fallback) {
  auto it = p.find(key);
  if (it == p.end()) return fallback;
  try {
    std::size_t used = 0;
    const double v = std::stod(it->second, &used);
    if (used != it->second.size() || !std::isfinite(v)) throw std::invalid_argument("");
    return v;
  } catch (const std::exception&) {
    throw std::invalid_argument("dcnn finder: parameter " + key + " must be a number, got '" + it->second + "'");
  }
}

class DcnnAtomFinder final : public AtomFinder {
 public:
  explicit DcnnAtomFinder(const Parameters& params) {
    for (const auto& [k, v] : params) {
      bool known = false;
      for (const char* key : kKeys) known = known || k == key;
      if (!known)
        throw std::invalid_argument("dcnn finder: unknown parameter '" + k +
                                    "' (valid: model, kind, ensemble, threshold, spacing_px, elit_rounds, "
                                    "elit_iterations, classify, denoise, border_px)");
    }
    kind_ = get(params, "kind", "graphene");
    model_ = get(params, "model", "");
    if (model_.empty()) {
      if (kind_ != "graphene" && kind_ != "perovskite")
        throw std::invalid_argument("dcnn finder: kind must be graphene or perovskite, got '" + kind_ + "'");
      model_ = default_atomnet_directory(kind_).string();
    }
    const double ens = get_number(params, "ensemble", 0);
    if (ens < 0 || ens != std::floor(ens)) throw std::invalid_argument("dcnn finder: ensemble must be an integer >= 0");
    options_.ensemble = static_cast<std::size_t>(ens);
    options_.threshold = get_number(params, "threshold", 0.5);
    if (!(options_.threshold > 0 && options_.threshold <= 1))
      throw std::invalid_argument("dcnn finder: threshold must be in (0, 1]");
    spacing_px_ = get_number(params, "spacing_px", 0);
    if (spacing_px_ < 0) throw std::invalid_argument("dcnn finder: spacing_px must be >= 0 (0 = estimate)");
    const double rounds = get_number(params, "elit_rounds", 0);
    const double iters = get_number(params, "elit_iterations", 60);
    if (rounds < 0 || iters < 1) throw std::invalid_argument("dcnn finder: elit_rounds >= 0, elit_iterations >= 1");
    elit_rounds_ = static_cast<std::size_t>(rounds);
    classify_ = get(params, "classify", "network");
    if (classify_ != "network" && classify_ != "otsu")
      throw std::invalid_argument("dcnn finder: classify must be network or otsu, got '" + classify_ + "'");
    elit_iterations_ = static_cast<std::size_t>(iters);
    denoise_ = parse_denoise(get(params, "denoise", kDefaultDenoise), "dcnn finder");
    border_px_ = get_number(params, "border_px", 0);
    if (border_px_ < 0) throw std::invalid_argument("dcnn finder: border_px must be >= 0");
    net_ = std::make_unique<AtomNet>(AtomNet::load(model_));  // throws a clear error for a bad directory
    if (options_.ensemble > static_cast<std::size_t>(net_->architecture().ensemble))
      throw std::invalid_argument("dcnn finder: ensemble=" + std::to_string(options_.ensemble) + " but " + model_ +
                                  " holds " + std::to_string(net_->architecture().ensemble) + " models");
  }

  std::string name() const override { return "dcnn"; }

  Parameters parameters() const override {
    return {{"model", model_},
            {"kind", kind_},
            {"ensemble", std::to_string(options_.ensemble)},
            {"threshold", std::to_string(options_.threshold)},
            {"spacing_px", std::to_string(spacing_px_)},
            {"elit_rounds", std::to_string(elit_rounds_)},
            {"elit_iterations", std::to_string(elit_iterations_)},
            {"classify", classify_},
            {"denoise", denoise_},
            {"border_px", std::to_string(border_px_)}};
  }

  std::vector<Atom> find(const Image& survey) override {
    if (survey.data.size() == 0) throw std::invalid_argument("dcnn finder: the survey image is empty");
    if (!survey.data.isFinite().all())
      throw std::invalid_argument("dcnn finder: the survey image has NaN or infinite values");
    double spacing = spacing_px_;
    if (spacing <= 0) {
      try {
        spacing = estimate_atom_spacing_px(survey.data);
      } catch (const std::runtime_error&) {
        return {};  // no lattice periodicity: no atoms (the plan strategy reports "no atoms found")
      }
    }
    // denoise=bragg: the network sees the Bragg-filtered survey (positions); classes by otsu use
    // the unfiltered survey (the filter averages a dopant's contrast away).
    const ImageArray input = denoise_survey(survey.data, denoise_, spacing);
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
    drop_border_atoms(atoms, static_cast<std::size_t>(survey.data.rows()), static_cast<std::size_t>(survey.data.cols()),
                      border_px_);
    // otsu: the network gives the positions, Z-contrast the class (0 = bright, 1 = dim)
    if (classify_ == "otsu") split_atoms_by_intensity(survey.data, atoms, 0, 1, std::max(1.0, 0.15 * spacing));
    return atoms;
  }

 private:
  std::string kind_, model_;
  AtomNetFindOptions options_;
  double spacing_px_ = 0;
  std::size_t elit_rounds_ = 0, elit_iterations_ = 60;
  std::string classify_ = "network";
  std::string denoise_ = kDefaultDenoise;
  double border_px_ = 0;
  std::unique_ptr<AtomNet> net_;
};

}  // namespace

std::string dcnn_finder_help() {
  return "U-Net ensemble (LibTorch, docs/dcnn.md): model=DIR [models/atoms/<kind>], kind=graphene|perovskite "
         "[graphene], ensemble=K [0 = all], threshold [0.5], spacing_px [0 = estimate], elit_rounds [0], "
         "elit_iterations [60], classify=network|otsu [network], denoise=none|bragg|bragg-periodic [" +
         std::string(kDefaultDenoise) + "], border_px [0]";
}

std::unique_ptr<AtomFinder> make_dcnn_atom_finder(const Parameters& params) {
  return std::make_unique<DcnnAtomFinder>(params);
}

void register_dcnn() {
  register_atom_finder("dcnn", dcnn_finder_help(), make_dcnn_atom_finder);
  register_strategy("dcnn",
                    "atoms found by the dcnn U-Net ensemble -> plan (AtomPlanStrategy: target=all|class:K|defects|"
                    "uncertain, max_points, fraction; finder.model, finder.kind, finder.ensemble, ...)",
                    [](const Parameters& p) { return make_atom_plan_strategy("dcnn", "dcnn", p); });
}

}  // namespace autostem::strategies
