#include <autostem/strategies/atoms.hpp>

#include <autostem/imaging/bragg.hpp>
#include <autostem/imaging/image_ops.hpp>
#include <autostem/strategies/edge.hpp>

#include "params.hpp"

#include <algorithm>
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

struct FinderEntry {
  AtomFinderFactory make;
  std::string help;
};

std::map<std::string, FinderEntry>& finder_registry() {
  static std::map<std::string, FinderEntry> r = {
      {"log",
       {[](const Parameters& p) { return std::make_unique<LogAtomFinder>(p); },
        "classical Laplacian-of-Gaussian peaks with sub-pixel centroids (atomap's approach without a "
        "network); sigma_px, min_distance_px, threshold, spacing_px (0 = from the estimated spacing), "
        "refine=true|false, classify=none|outlier|otsu, outlier_z, denoise=none|bragg|bragg-periodic, border_px"}},
  };
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

bool parse_bool(const std::string& v, const std::string& key, const std::string& who) {
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  throw std::invalid_argument(who + ": " + key + "='" + v + "' is not true or false");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
std::string parse_denoise(const std::string& value, const std::string& who) {
  if (value != "none" && value != "bragg" && value != "bragg-periodic")
    throw std::invalid_argument(who + ": denoise='" + value + "' is not one of none, bragg, bragg-periodic");
  return value;
}

ImageArray denoise_survey(const ImageArray& image, const std::string& method, double spacing_px) {
  if (method == "none") return image;
  if (method != "bragg" && method != "bragg-periodic")
    throw std::invalid_argument("denoise_survey: unknown method '" + method + "' (none, bragg, bragg-periodic)");
  BraggFilterOptions o;
  o.spacing_px = spacing_px;
  o.edge = method == "bragg-periodic" ? BraggEdge::periodic : BraggEdge::normalized;
  return bragg_filter(image, o);
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
void register_atom_finder(const std::string& name, const std::string& help, AtomFinderFactory make) {
  if (name.empty()) throw std::invalid_argument("register_atom_finder: empty finder name");
  if (!make) throw std::invalid_argument("register_atom_finder: finder '" + name + "' has no factory");
  finder_registry()[name] = FinderEntry{std::move(make), help};
}

std::vector<std::string> atom_finder_names() {
  std::vector<std::string> n;
  for (const auto& [k, e] : finder_registry()) n.push_back(k);
  return n;
}

std::string atom_finder_help(const std::string& name) {
  auto it = finder_registry().find(name);
  return it == finder_registry().end() ? std::string() : it->second.help;
}

std::unique_ptr<AtomFinder> make_atom_finder(const std::string& name, const Parameters& params) {
  auto it = finder_registry().find(name);
  if (it == finder_registry().end()) {
    std::string known;
    for (const auto& n : atom_finder_names()) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown atom finder '" + name + "'; known finders: " + known +
                                (name == "dcnn" ? " (dcnn needs autostem built with LibTorch)" : ""));
  }
  return it->second.make(params);
}

// ---------------------------------------------------------------------------------------------
LogAtomFinder::LogAtomFinder(const Parameters& params) {
  const std::string s = "atom finder 'log'";
  detail::check_keys(params,
                     {"sigma_px", "min_distance_px", "threshold", "spacing_px", "refine", "classify", "outlier_z", "denoise",
                      "border_px"},
                     "log");
  options_.sigma_px = detail::get_double(params, "sigma_px", 0.0, "log");
  options_.min_distance_px = detail::get_double(params, "min_distance_px", 0.0, "log");
  options_.threshold = detail::get_double(params, "threshold", 0.0, "log");
  options_.spacing_px = detail::get_double(params, "spacing_px", 0.0, "log");
  for (double v : {options_.sigma_px, options_.min_distance_px, options_.threshold, options_.spacing_px})
    if (v < 0.0)
      throw std::invalid_argument(s + ": sigma_px, min_distance_px, threshold and spacing_px must be ≥ 0");
  options_.refine = parse_bool(detail::get(params, "refine", "true"), "refine", s);
  classify_ = detail::get(params, "classify", "outlier");
  if (classify_ != "none" && classify_ != "outlier" && classify_ != "otsu")
    throw std::invalid_argument(s + ": classify='" + classify_ + "' is not one of none, outlier, otsu");
  outlier_z_ = detail::get_double(params, "outlier_z", 5.0, "log");
  if (!(outlier_z_ > 0.0)) throw std::invalid_argument(s + ": outlier_z=" + num(outlier_z_) + " must be > 0");
  denoise_ = parse_denoise(detail::get(params, "denoise", kDefaultDenoise), s);
  border_px_ = detail::get_double(params, "border_px", 0.0, "log");
  if (!(border_px_ >= 0.0)) throw std::invalid_argument(s + ": border_px=" + num(border_px_) + " must be ≥ 0");
}

Parameters LogAtomFinder::parameters() const {
  return {{"sigma_px", num(options_.sigma_px)},       {"min_distance_px", num(options_.min_distance_px)},
          {"threshold", num(options_.threshold)},     {"spacing_px", num(options_.spacing_px)},
          {"refine", options_.refine ? "true" : "false"}, {"classify", classify_},
          {"outlier_z", num(outlier_z_)},  {"denoise", denoise_},
          {"border_px", num(border_px_)}};
}

std::vector<Atom> LogAtomFinder::find(const Image& survey) {
  std::vector<Atom> atoms;
  if (denoise_ == "none") {
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
                                      std::vector<Position>* vacancy_sites) {
  if (vacancy_sites) vacancy_sites->clear();
  if (atoms.size() < 3) return {};
  const double s = spacing_px > 0 ? spacing_px : median_nn(atoms);
  if (!(s > 0)) return {};
  const auto n = neighbour_counts(atoms, neighbour_factor * s);
  const double margin = 1.0 * s;
  auto interior = [&](const Atom& a) {
    return a.position.row >= margin && a.position.col >= margin &&
           a.position.row <= static_cast<double>(rows) - 1 - margin &&
           a.position.col <= static_cast<double>(cols) - 1 - margin;
  };
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
    const bool rare = static_cast<double>(class_hist[atoms[i].cls]) < 0.2 * static_cast<double>(atoms.size());
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
      if (!on_atom) vacancy_sites->push_back({v.r, v.c});
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
AtomPlanStrategy::AtomPlanStrategy(std::string name, const Parameters& params, std::unique_ptr<AtomFinder> finder)
    : name_(std::move(name)), finder_(std::move(finder)) {
  const std::string s = "strategy '" + name_ + "'";
  if (!finder_) throw std::invalid_argument(s + ": no atom finder");
  Parameters own;
  for (const auto& [k, v] : params)
    if (k.rfind("finder.", 0) != 0) own[k] = v;
  detail::check_keys(own, {"target", "max_points", "fraction", "neighbour_factor", "two_opt_passes"}, name_);
  target_ = detail::get(own, "target", "all");
  if (target_.rfind("class:", 0) == 0) {
    const std::string k = target_.substr(6);
    try {
      std::size_t used = 0;
      target_class_ = std::stoi(k, &used);
      if (used != k.size()) throw std::invalid_argument("trailing text");
    } catch (const std::exception&) {
      throw std::invalid_argument(s + ": target='" + target_ + "': class:K needs an integer K");
    }
  } else if (target_ != "all" && target_ != "defects" && target_ != "uncertain") {
    throw std::invalid_argument(s + ": target='" + target_ + "' is not one of all, class:K, defects, uncertain");
  }
  max_points_ = detail::get_size(own, "max_points", 0, name_);
  fraction_ = detail::get_double(own, "fraction", 0.0, name_);
  if (!(fraction_ >= 0.0 && fraction_ <= 1.0))
    throw std::invalid_argument(s + ": fraction=" + num(fraction_) + " must be in (0, 1] (0 = no limit)");
  neighbour_factor_ = detail::get_double(own, "neighbour_factor", 1.3, name_);
  if (!(neighbour_factor_ > 1.0))
    throw std::invalid_argument(s + ": neighbour_factor=" + num(neighbour_factor_) + " must be > 1");
  two_opt_passes_ = detail::get_size(own, "two_opt_passes", 50, name_);
}

Parameters AtomPlanStrategy::parameters() const {
  Parameters p{{"target", target_},
               {"max_points", std::to_string(max_points_)},
               {"fraction", num(fraction_)},
               {"neighbour_factor", num(neighbour_factor_)},
               {"two_opt_passes", std::to_string(two_opt_passes_)},
               {"finder", finder_->name()}};
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
    sel = defect_atoms(atoms_, img.rows(), img.cols(), neighbour_factor_, spacing_px_, &vac);
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

}  // namespace autostem::strategies
