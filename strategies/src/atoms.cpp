#include <autostem/strategies/atoms.hpp>

#include <autostem/imaging/bragg.hpp>
#include <autostem/imaging/image_ops.hpp>
#include <autostem/strategies/edge.hpp>

#include <autostem/core/registry.hpp>
#include <autostem/strategies/registry.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>

namespace autostem::strategies {

namespace {

std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

using FinderRegistry = Registry<AtomFinderFactory, Schema>;

FinderRegistry& finder_registry() {
  static FinderRegistry r("atom finder");
  static const bool builtins = [] {
    r.add("log", LogAtomFinder::schema(), [](const Parameters& p) { return std::make_unique<LogAtomFinder>(p); });
    return true;
  }();
  (void)builtins;
  return r;
}

double median_nn(std::span<const Atom> atoms) {
  if (atoms.size() < 2) return 0.0;
  std::vector<double> d;
  d.reserve(atoms.size());
  for (std::size_t i = 0; i < atoms.size(); ++i) {
    double best = std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < atoms.size(); ++j)
      if (i != j)
        best = std::min(best, std::hypot(atoms[i].position.row - atoms[j].position.row,
                                         atoms[i].position.col - atoms[j].position.col));
    d.push_back(best);
  }
  std::nth_element(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(d.size() / 2), d.end());
  return d[d.size() / 2];
}

// The finders' default preprocessing (docs/atoms.md "Bragg filter": chosen by F1 on the two real
// graphene images).
constexpr const char* kDefaultDenoise = "none";

}  // namespace

// ---------------------------------------------------------------------------------------------
std::string parse_denoise(const std::string& value, const std::string& who) {
  if (value != "none" && value != "bragg" && value != "bragg-periodic" && value != "auto")
    throw std::invalid_argument(who + ": denoise='" + value + "' is not one of none, bragg, bragg-periodic, auto");
  return value;
}

std::string resolve_denoise(const ImageArray& image, const std::string& method, double spacing_px, double* snr,
                            double threshold) {
  if (snr) *snr = std::numeric_limits<double>::quiet_NaN();
  if (method != "auto") {
    (void)parse_denoise(method, "resolve_denoise");
    return method;
  }
  const double v = lattice_snr(image, spacing_px);
  if (snr) *snr = v;
  return v < threshold ? "bragg" : "none";
}

ImageArray denoise_survey(const ImageArray& image, const std::string& method_in, double spacing_px) {
  const std::string method = method_in == "auto" ? resolve_denoise(image, method_in, spacing_px) : method_in;
  if (method == "none") return image;
  if (method != "bragg" && method != "bragg-periodic")
    throw std::invalid_argument("denoise_survey: unknown method '" + method + "' (none, bragg, bragg-periodic, auto)");
  BraggFilterOptions o;
  o.spacing_px = spacing_px;
  o.edge = method == "bragg-periodic" ? BraggEdge::periodic : BraggEdge::normalized;
  return bragg_filter(image, o);
}

PreparedSurvey prepare_survey(const ImageArray& image, const std::string& mask, double spacing_px,
                              double clip_percent) {
  PreparedSurvey p;
  if (mask == "none") {
    p.image = image;
    p.spacing_px = spacing_px;
    if (p.spacing_px <= 0) {
      try {
        p.spacing_px = estimate_atom_spacing_px(image);
      } catch (const std::runtime_error&) {
        p.spacing_px = 0;  // no lattice periodicity
      }
    }
    return p;
  }
  if (mask != "auto") throw std::invalid_argument("prepare_survey: mask='" + mask + "' is not one of auto, none");
  LatticeRegionOptions o;
  o.spacing_px = spacing_px;
  o.clip_percent = clip_percent;
  auto region = find_lattice_region(image, o);
  p.image = std::move(region.image);
  p.spacing_px = region.spacing_px;
  p.regions = std::move(region.kind);
  return p;
}

void drop_atoms_in_regions(std::vector<Atom>& atoms, const RegionMap& regions) {
  if (regions.size() == 0) return;
  std::erase_if(atoms, [&](const Atom& a) { return in_non_lattice_region(regions, a.position); });
}

void drop_border_atoms(std::vector<Atom>& atoms, std::size_t rows, std::size_t cols, double border_px) {
  if (!(border_px >= 0)) throw std::invalid_argument("drop_border_atoms: border_px must be ≥ 0");
  if (border_px == 0) return;
  const double r1 = static_cast<double>(rows) - 1 - border_px, c1 = static_cast<double>(cols) - 1 - border_px;
  std::erase_if(atoms, [&](const Atom& a) {
    return a.position.row < border_px || a.position.col < border_px || a.position.row > r1 || a.position.col > c1;
  });
}

// ---------------------------------------------------------------------------------------------
void register_atom_finder(Schema schema, AtomFinderFactory make) {
  const std::string name = schema.name();
  finder_registry().add(name, std::move(schema), std::move(make));
}

void register_atom_finder(const std::string& name, const std::string& help, AtomFinderFactory make) {
  register_atom_finder(Schema("atom finder", name, help), std::move(make));
}

std::vector<std::string> atom_finder_names() { return finder_registry().names(); }

std::string atom_finder_help(const std::string& name) {
  const auto e = finder_registry().find(name);
  return e ? e->info.help() : std::string();
}

Schema atom_finder_schema(const std::string& name) { return finder_registry().at(name).info; }

std::unique_ptr<AtomFinder> make_atom_finder(const std::string& name, const Parameters& params) {
  const auto e = finder_registry().find(name);
  if (!e)
    throw std::invalid_argument(finder_registry().unknown_message(name) +
                                (name == "dcnn" ? " (dcnn needs autostem built with LibTorch)" : ""));
  return e->make(params);
}

// ---------------------------------------------------------------------------------------------
const Schema& LogAtomFinder::schema() {
  static const Schema s = [] {
    Schema s("atom finder", "log",
             "classical Laplacian-of-Gaussian peaks with sub-pixel centroids (atomap's approach without a network)");
    const auto px = [&](const char* key, const char* doc) -> ParamSpec& {
      return s.number(key, 0.0, doc).at_least(0).in_unit("px").written(NumberText::general6);
    };
    px("sigma_px", "LoG scale (0 = from the spacing)");
    px("min_distance_px", "minimum distance between two atoms (0 = from the spacing)");
    s.number("threshold", 0.0, "minimum scale-normalised LoG response, image units (0 = automatic)")
        .at_least(0).written(NumberText::general6);
    px("spacing_px", "atom spacing (0 = estimated from the image)");
    s.boolean("refine", true, "sub-pixel refinement by an intensity-weighted centroid");
    s.choice("classify", {"none", "outlier", "otsu"}, "outlier",
             "none: class 0; outlier: class 1 above median + outlier_z × 1.4826 MAD of the intensities (a "
             "heavy dopant); otsu: two populations, 0 = bright, 1 = dim");
    s.number("outlier_z", 5.0, "robust z-score of classify=outlier").above(0).written(NumberText::general6);
    s.choice("denoise", {"none", "bragg", "bragg-periodic", "auto"}, kDefaultDenoise,
             "find the atoms in the Bragg-filtered survey (docs/atoms.md \"Bragg filter\"); auto: only when "
             "the lattice's shot-noise SNR is low (docs/dcnn.md)");
    px("border_px", "drop atoms closer than this to the image edge");
    s.choice("mask", {"auto", "none"}, "auto",
             "auto: find the regions that are not lattice (contamination, vacuum), report them, find no atoms "
             "there, estimate the spacing on the lattice only (docs/atoms.md); none: the whole image as it is");
    s.number("clip_percent", 0.0, "mask=auto: clip the image to these percentiles of the lattice pixels (0 = no clip)")
        .at_least(0).below(50).written(NumberText::general6);
    return s;
  }();
  return s;
}

LogAtomFinder::LogAtomFinder(const Parameters& params) {
  const ParamValues v = schema().parse(params);
  options_.sigma_px = v.number("sigma_px");
  options_.min_distance_px = v.number("min_distance_px");
  options_.threshold = v.number("threshold");
  options_.spacing_px = v.number("spacing_px");
  options_.refine = v.flag("refine");
  classify_ = v.text("classify");
  outlier_z_ = v.number("outlier_z");
  denoise_ = v.text("denoise");
  border_px_ = v.number("border_px");
  mask_ = v.text("mask");
  clip_percent_ = v.number("clip_percent");
  provenance_ = v.provenance();
}

Parameters LogAtomFinder::parameters() const { return provenance_; }

std::vector<Atom> LogAtomFinder::find(const Image& survey) {
  std::vector<Atom> atoms;
  regions_ = RegionMap();
  if (mask_ == "auto") {
    if (survey.data.size() == 0) throw std::invalid_argument("log finder: the survey image is empty");
    if (!survey.data.isFinite().all())
      throw std::invalid_argument("log finder: the survey image has NaN or infinite values");
    if (survey.data.rows() < 16 || survey.data.cols() < 16) return {};  // as find_atoms_log
    auto prep = prepare_survey(survey.data, mask_, options_.spacing_px, clip_percent_);
    regions_ = std::move(prep.regions);
    if (prep.spacing_px <= 0) return {};  // no lattice periodicity: no atoms
    LogPeakOptions o = options_;
    o.spacing_px = prep.spacing_px;
    atoms = find_atoms_log(denoise_survey(prep.image, denoise_, o.spacing_px), o);
    drop_atoms_in_regions(atoms, regions_);
  } else if (denoise_ == "none") {
    atoms = find_atoms_log(survey.data, options_);
  } else {
    LogPeakOptions o = options_;
    try {
      if (o.spacing_px <= 0) o.spacing_px = estimate_atom_spacing_px(survey.data);
    } catch (const std::runtime_error&) {
      return {};  // no lattice periodicity: no atoms, as find_atoms_log
    }
    atoms = find_atoms_log(denoise_survey(survey.data, denoise_, o.spacing_px), o);
  }
  drop_border_atoms(atoms, static_cast<std::size_t>(survey.data.rows()), static_cast<std::size_t>(survey.data.cols()),
                    border_px_);
  if (atoms.size() < 2 || classify_ == "none") return atoms;
  const double spacing = options_.spacing_px > 0 ? options_.spacing_px : median_nn(atoms);
  const double sigma = std::max(1.0, 0.15 * spacing);
  if (classify_ == "otsu") {
    split_atoms_by_intensity(survey.data, atoms, 0, 1, sigma);
    return atoms;
  }
  const ImageArray sm = gaussian_blur(survey.data, sigma);
  std::vector<double> v;
  v.reserve(atoms.size());
  for (const auto& a : atoms) v.push_back(sample_bilinear(sm, a.position.row, a.position.col));
  std::vector<double> tmp = v;
  auto mid = tmp.begin() + static_cast<std::ptrdiff_t>(tmp.size() / 2);
  std::nth_element(tmp.begin(), mid, tmp.end());
  const double med = *mid;
  for (double& x : tmp) x = std::abs(x - med);
  std::nth_element(tmp.begin(), tmp.begin() + static_cast<std::ptrdiff_t>(tmp.size() / 2), tmp.end());
  const double mad = 1.4826 * tmp[tmp.size() / 2];
  for (std::size_t i = 0; i < atoms.size(); ++i) atoms[i].cls = v[i] > med + outlier_z_ * mad ? 1 : 0;
  return atoms;
}

// ---------------------------------------------------------------------------------------------
std::vector<std::size_t> defect_atoms(std::span<const Atom> atoms, std::size_t rows, std::size_t cols,
                                      double neighbour_factor, double spacing_px,
                                      std::vector<Position>* vacancy_sites, const RegionMap* regions) {
  if (vacancy_sites) vacancy_sites->clear();
  if (atoms.size() < 3) return {};
  const double s = spacing_px > 0 ? spacing_px : median_nn(atoms);
  if (!(s > 0)) return {};
  const auto n = neighbour_counts(atoms, neighbour_factor * s);
  const double margin = 1.0 * s;
  // Non-lattice pixels within `radius` of p (contamination or vacuum cuts neighbours off, issue 15).
  const bool has_regions = regions && regions->size() > 0 && (*regions != std::uint8_t{0}).any();
  auto near_region = [&](const Position& p, double radius) {
    if (!has_regions) return false;
    const auto R = regions->rows(), C = regions->cols();
    const auto r0 = std::max<Eigen::Index>(0, static_cast<Eigen::Index>(std::floor(p.row - radius)));
    const auto r1 = std::min<Eigen::Index>(R - 1, static_cast<Eigen::Index>(std::ceil(p.row + radius)));
    const auto c0 = std::max<Eigen::Index>(0, static_cast<Eigen::Index>(std::floor(p.col - radius)));
    const auto c1 = std::min<Eigen::Index>(C - 1, static_cast<Eigen::Index>(std::ceil(p.col + radius)));
    for (auto r = r0; r <= r1; ++r)
      for (auto c = c0; c <= c1; ++c)
        if ((*regions)(r, c) != 0 &&
            std::hypot(static_cast<double>(r) - p.row, static_cast<double>(c) - p.col) <= radius)
          return true;
    return false;
  };
  std::vector<char> judged(atoms.size()), by_region(atoms.size());
  for (std::size_t i = 0; i < atoms.size(); ++i) {
    const auto& a = atoms[i];
    by_region[i] = near_region(a.position, margin);
    judged[i] = a.position.row >= margin && a.position.col >= margin &&
                a.position.row <= static_cast<double>(rows) - 1 - margin &&
                a.position.col <= static_cast<double>(cols) - 1 - margin && !by_region[i];
  }
  auto interior = [&](const Atom& a) { return judged[static_cast<std::size_t>(&a - atoms.data())] != 0; };
  std::map<std::size_t, std::size_t> count_hist;
  std::map<int, std::size_t> class_hist;
  for (std::size_t i = 0; i < atoms.size(); ++i) {
    if (interior(atoms[i])) ++count_hist[n[i]];
    ++class_hist[atoms[i].cls];
  }
  std::size_t mode = 0, best = 0;
  for (const auto& [k, c] : count_hist)
    if (c > best) {
      best = c;
      mode = k;
    }
  std::vector<std::size_t> out;
  std::vector<std::size_t> under;
  for (std::size_t i = 0; i < atoms.size(); ++i) {
    // next to contamination or vacuum neither the neighbours nor the class (a bright halo) are judged
    const bool rare = !by_region[i] &&
                      static_cast<double>(class_hist[atoms[i].cls]) < 0.2 * static_cast<double>(atoms.size());
    const bool odd = best > 0 && interior(atoms[i]) && n[i] != mode;
    if (rare || odd) out.push_back(i);
    if (odd && n[i] < mode) under.push_back(i);
  }
  if (vacancy_sites) {
    // An atom missing one neighbour: in a lattice whose bond vectors sum to zero (honeycomb,
    // square, hexagonal), the missing bond is −Σ(found bonds). Every such atom votes for a site;
    // votes within 0.5 spacing merge (running mean); a site with ≥ 2 votes that is not on a found
    // atom is a vacancy (graphene: the vacancy's 3 neighbours all vote for it).
    struct Vote {
      double r, c;
      std::size_t n;
    };
    std::vector<Vote> votes;
    const double radius = neighbour_factor * s;
    for (std::size_t i : under) {
      if (n[i] + 1 != mode) continue;
      double sr = 0, sc = 0;
      for (std::size_t j = 0; j < atoms.size(); ++j) {
        if (j == i) continue;
        const double dr = atoms[j].position.row - atoms[i].position.row, dc = atoms[j].position.col - atoms[i].position.col;
        if (std::hypot(dr, dc) <= radius) {
          sr += dr;
          sc += dc;
        }
      }
      const double vr = atoms[i].position.row - sr, vc = atoms[i].position.col - sc;
      bool merged = false;
      for (auto& v : votes)
        if (std::hypot(v.r - vr, v.c - vc) <= 0.5 * s) {
          v.r = (v.r * static_cast<double>(v.n) + vr) / static_cast<double>(v.n + 1);
          v.c = (v.c * static_cast<double>(v.n) + vc) / static_cast<double>(v.n + 1);
          ++v.n;
          merged = true;
          break;
        }
      if (!merged) votes.push_back({vr, vc, 1});
    }
    for (const auto& v : votes) {
      if (v.n < 2) continue;
      bool on_atom = false;
      for (const auto& a : atoms) on_atom |= std::hypot(a.position.row - v.r, a.position.col - v.c) < 0.5 * s;
      if (!on_atom && !near_region({v.r, v.c}, 0.5 * s)) vacancy_sites->push_back({v.r, v.c});
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
Schema atom_plan_schema(const std::string& strategy_name, const std::string& summary,
                        std::function<const Schema&()> finder) {
  Schema s("strategy", strategy_name, summary);
  s.text("target", "all", "all | class:K | defects | uncertain",
         "which atoms: all; those of class K; defects (odd neighbour count, rare class, vacancy sites); "
         "uncertain (every atom, most uncertain first)")
      .normalize = [](const std::string& t) {
        if (t.rfind("class:", 0) == 0) {
          const std::string k = t.substr(6);
          int cls = 0;
          auto [p, ec] = std::from_chars(k.data(), k.data() + k.size(), cls);
          if (k.empty() || ec != std::errc() || p != k.data() + k.size())
            throw std::invalid_argument("class:K needs an integer K");
        } else if (t != "all" && t != "defects" && t != "uncertain") {
          throw std::invalid_argument("is not one of all, class:K, defects, uncertain");
        }
        return t;
      };
  s.integer("max_points", 0, "at most this many points (0 = no limit)");
  s.number("fraction", 0.0, "at most this fraction of the field's pixels (0 = no limit)")
      .at_least(0).at_most(1).written(NumberText::general6);
  s.number("neighbour_factor", 1.3, "neighbours lie within this × the median nearest-neighbour distance")
      .above(1).written(NumberText::general6);
  s.integer("two_opt_passes", 50, "2-opt passes on the nearest-neighbour path");
  s.nest("finder.", std::move(finder));
  s.plans_from_survey("the atoms found in the survey image");
  return s;
}

AtomPlanStrategy::AtomPlanStrategy(std::string name, const Parameters& params, std::unique_ptr<AtomFinder> finder)
    : name_(std::move(name)), finder_(std::move(finder)) {
  if (!finder_) throw std::invalid_argument("strategy '" + name_ + "': no atom finder");
  const ParamValues v = atom_plan_schema(name_, "").parse(params);
  target_ = v.text("target");
  if (target_.rfind("class:", 0) == 0) target_class_ = std::stoi(target_.substr(6));
  max_points_ = v.size("max_points");
  fraction_ = v.number("fraction");
  neighbour_factor_ = v.number("neighbour_factor");
  two_opt_passes_ = v.size("two_opt_passes");
  provenance_ = v.provenance();
}

Parameters AtomPlanStrategy::parameters() const {
  Parameters p = provenance_;
  p["finder"] = finder_->name();
  for (const auto& [k, v] : finder_->parameters()) p["finder." + k] = v;
  return p;
}

void AtomPlanStrategy::begin(const Survey& survey, const StrategyContext& context) {
  atoms_.clear();
  plan_.clear();
  next_ = 0;
  spacing_px_ = 0.0;
  const ImageArray& img = survey.image.data;
  if (img.size() == 0) throw std::invalid_argument("strategy '" + name_ + "': the survey image is empty");
  if (!img.isFinite().all()) throw std::invalid_argument("strategy '" + name_ + "': the survey image holds NaN or ±inf");
  atoms_ = finder_->find(survey.image);
  if (atoms_.empty()) {
    status_ = "no atoms found in the survey (finder " + finder_->name() + "): nothing to measure";
    return;
  }
  spacing_px_ = median_nn(atoms_);
  const double rows = static_cast<double>(img.rows()), cols = static_cast<double>(img.cols());

  std::vector<Position> pts;
  std::vector<double> prob;
  std::vector<std::size_t> sel;
  if (target_ == "all" || target_ == "uncertain") {
    for (std::size_t i = 0; i < atoms_.size(); ++i) sel.push_back(i);
  } else if (target_ == "defects") {
    std::vector<Position> vac;
    const RegionMap regions = finder_->regions();
    sel = defect_atoms(atoms_, img.rows(), img.cols(), neighbour_factor_, spacing_px_, &vac, &regions);
    for (std::size_t i : sel) {
      pts.push_back(atoms_[i].position);
      prob.push_back(atoms_[i].probability);
    }
    for (const auto& v : vac) {
      pts.push_back(v);
      prob.push_back(1.0);  // a vacancy site is as certain as the atoms around it
    }
    sel.clear();
  } else {
    for (std::size_t i = 0; i < atoms_.size(); ++i)
      if (atoms_[i].cls == target_class_) sel.push_back(i);
  }
  if (target_ == "uncertain")
    std::stable_sort(sel.begin(), sel.end(), [&](std::size_t a, std::size_t b) {
      if (atoms_[a].uncertainty != atoms_[b].uncertainty) return atoms_[a].uncertainty > atoms_[b].uncertainty;
      return atoms_[a].probability < atoms_[b].probability;
    });
  for (std::size_t i : sel) {
    pts.push_back(atoms_[i].position);
    prob.push_back(atoms_[i].probability);
  }
  for (auto& p : pts) p = {std::clamp(p.row, 0.0, rows - 1.0), std::clamp(p.col, 0.0, cols - 1.0)};

  std::size_t cap = std::numeric_limits<std::size_t>::max();
  if (max_points_ > 0) cap = max_points_;
  if (fraction_ > 0) cap = std::min(cap, std::max<std::size_t>(1, static_cast<std::size_t>(fraction_ * rows * cols)));
  if (context.budget_points > 0) cap = std::min(cap, context.budget_points);
  const std::size_t candidates = pts.size();
  if (target_ == "uncertain") {
    if (pts.size() > cap) pts.resize(cap);
    plan_ = pts;
  } else {
    if (pts.size() > cap) {
      std::vector<std::size_t> idx(pts.size());
      for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
      std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return prob[a] > prob[b]; });
      idx.resize(cap);
      std::sort(idx.begin(), idx.end());
      std::vector<Position> kept;
      for (std::size_t i : idx) kept.push_back(pts[i]);
      pts = std::move(kept);
    }
    std::vector<std::size_t> order = nearest_neighbour_path(pts);
    two_opt(pts, order, two_opt_passes_);
    for (std::size_t i : order) plan_.push_back(pts[i]);
  }
  status_ = std::to_string(atoms_.size()) + " atoms found (finder " + finder_->name() + ", spacing " +
            num(spacing_px_) + " px), " + std::to_string(candidates) + " targets (" + target_ + "), " +
            std::to_string(plan_.size()) + " planned";
  if (plan_.empty()) status_ += ": nothing to measure";
}

std::vector<Position> AtomPlanStrategy::propose(std::size_t max_points) {
  const std::size_t n = std::min(max_points, plan_.size() - next_);
  std::vector<Position> out(plan_.begin() + static_cast<std::ptrdiff_t>(next_),
                            plan_.begin() + static_cast<std::ptrdiff_t>(next_ + n));
  next_ += n;
  return out;
}

Parameters finder_parameters(const Parameters& params) {
  Parameters out;
  for (const auto& [k, v] : params)
    if (k.rfind("finder.", 0) == 0) out[k.substr(7)] = v;
  return out;
}

std::unique_ptr<Strategy> make_atom_plan_strategy(const std::string& strategy_name, const std::string& finder_name,
                                                  const Parameters& params) {
  return std::make_unique<AtomPlanStrategy>(strategy_name, params,
                                            make_atom_finder(finder_name, finder_parameters(params)));
}

StrategyInfo atoms_strategy() {
  return {atom_plan_schema("atoms",
                           "find the atoms in the survey (classical LoG finder), measure them along a short beam "
                           "path (seed 001/002 Fig. 3)",
                           [] () -> const Schema& { return LogAtomFinder::schema(); }),
          [](const Parameters& p) { return make_atom_plan_strategy("atoms", "log", p); }};
}

}  // namespace autostem::strategies
