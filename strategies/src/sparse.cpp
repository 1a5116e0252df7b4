#include <autostem/strategies/sparse.hpp>

#include <autostem/strategies/registry.hpp>
#include <autostem/core/field.hpp>
#include <autostem/core/random.hpp>

#include "params.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>

namespace autostem::strategies {

namespace {


Position pixel(std::size_t flat, std::size_t cols) {
  return {static_cast<double>(flat / cols), static_cast<double>(flat % cols)};
}

/// Appends uniformly random pixels not yet taken until out holds n.
void fill_random(std::vector<Position>& out, std::vector<char>& taken, std::size_t cols,
                 std::size_t n, std::mt19937_64& rng) {
  std::vector<std::size_t> free;
  for (std::size_t i = 0; i < taken.size(); ++i)
    if (!taken[i]) free.push_back(i);
  for (std::size_t i = 0; out.size() < n && i < free.size(); ++i) {
    std::swap(free[i], free[random::uniform_int(rng, i, free.size() - 1)]);
    taken[free[i]] = 1;
    out.push_back(pixel(free[i], cols));
  }
}

/// Bridson's Poisson-disc sampling in the continuous field [−½, rows−½) × [−½, cols−½), growing
/// from the points already in pts (all at mutual distance ≥ radius).
void bridson(std::vector<std::array<double, 2>>& pts, double radius, std::size_t rows,
             std::size_t cols, std::mt19937_64& rng) {
  const double cell = radius / std::sqrt(2.0);
  const auto gr = static_cast<std::size_t>(std::ceil(static_cast<double>(rows) / cell)) + 1;
  const auto gc = static_cast<std::size_t>(std::ceil(static_cast<double>(cols) / cell)) + 1;
  std::vector<int> grid(gr * gc, -1);
  auto cell_of = [&](const std::array<double, 2>& p) {
    return std::pair<std::size_t, std::size_t>(static_cast<std::size_t>((p[0] + 0.5) / cell),
                                               static_cast<std::size_t>((p[1] + 0.5) / cell));
  };
  std::vector<int> active;
  for (std::size_t i = 0; i < pts.size(); ++i) {
    const auto [a, b] = cell_of(pts[i]);
    grid[a * gc + b] = static_cast<int>(i);
    active.push_back(static_cast<int>(i));
  }
  auto u = [](std::mt19937_64& g) { return random::uniform_real(g, 0.0, 1.0); };
  auto fits = [&](const std::array<double, 2>& q) {
    if (!inside_field(Position{q[0], q[1]}, rows, cols)) return false;
    const auto [a, b] = cell_of(q);
    for (std::size_t i = a >= 2 ? a - 2 : 0; i <= std::min(a + 2, gr - 1); ++i)
      for (std::size_t j = b >= 2 ? b - 2 : 0; j <= std::min(b + 2, gc - 1); ++j) {
        const int k = grid[i * gc + j];
        if (k < 0) continue;
        const double dr = pts[static_cast<std::size_t>(k)][0] - q[0];
        const double dc = pts[static_cast<std::size_t>(k)][1] - q[1];
        if (dr * dr + dc * dc < radius * radius) return false;
      }
    return true;
  };
  if (pts.empty()) {
    const std::array<double, 2> first{u(rng) * static_cast<double>(rows) - 0.5,
                                      u(rng) * static_cast<double>(cols) - 0.5};
    pts.push_back(first);
    const auto [a, b] = cell_of(first);
    grid[a * gc + b] = 0;
    active.push_back(0);
  }
  constexpr int kCandidates = 30;
  constexpr double kTwoPi = 6.283185307179586;
  while (!active.empty()) {
    const std::size_t ai = random::uniform_int(rng, 0, active.size() - 1);
    const auto base = pts[static_cast<std::size_t>(active[ai])];
    bool placed = false;
    for (int k = 0; k < kCandidates && !placed; ++k) {
      const double rho = radius * std::sqrt(1.0 + 3.0 * u(rng));  // uniform over the annulus
      const double phi = kTwoPi * u(rng);
      const std::array<double, 2> q{base[0] + rho * std::sin(phi), base[1] + rho * std::cos(phi)};
      if (!fits(q)) continue;
      pts.push_back(q);
      const auto [a, b] = cell_of(q);
      grid[a * gc + b] = static_cast<int>(pts.size() - 1);
      active.push_back(static_cast<int>(pts.size() - 1));
      placed = true;
    }
    if (!placed) {
      active[ai] = active.back();
      active.pop_back();
    }
  }
}

}  // namespace

std::vector<Position> sampling_pattern(const std::string& pattern, std::size_t rows,
                                       std::size_t cols, std::size_t n, std::uint64_t seed,
                                       std::size_t segment) {
  if (rows == 0 || cols == 0)
    throw std::invalid_argument("sampling_pattern: field " + std::to_string(rows) + "×" +
                                std::to_string(cols) + " is empty");
  if (segment == 0) throw std::invalid_argument("sampling_pattern: segment must be at least 1 px");
  const std::size_t field = rows * cols;
  n = std::min(n, field);
  std::mt19937_64 rng(seed);
  std::vector<Position> out;
  out.reserve(n);
  std::vector<char> taken(field, 0);
  if (pattern == "random") {
    fill_random(out, taken, cols, n, rng);
  } else if (pattern == "halton") {
    detail::append_halton_pixels(rows, cols, n, rng, taken, out);
    fill_random(out, taken, cols, n, rng);
  } else if (pattern == "poisson") {
    if (n > 0) {
      const double density = static_cast<double>(n) / static_cast<double>(field);
      double radius = std::sqrt(0.65 / density);
      std::vector<std::array<double, 2>> pts;
      while (radius >= 1.0) {
        bridson(pts, radius, rows, cols, rng);
        if (pts.size() >= n) break;
        radius *= 0.9;
      }
      // A random n of them (keeps the minimum distance), in random order.
      for (std::size_t i = 0; i < std::min(n, pts.size()); ++i) {
        std::swap(pts[i], pts[random::uniform_int(rng, i, pts.size() - 1)]);
      }
      for (std::size_t i = 0; i < pts.size() && out.size() < n; ++i) {
        const auto r = static_cast<std::size_t>(std::clamp(std::round(pts[i][0]), 0.0,
                                                           static_cast<double>(rows - 1)));
        const auto c = static_cast<std::size_t>(std::clamp(std::round(pts[i][1]), 0.0,
                                                           static_cast<double>(cols - 1)));
        if (taken[r * cols + c]) continue;
        taken[r * cols + c] = 1;
        out.push_back({static_cast<double>(r), static_cast<double>(c)});
      }
      fill_random(out, taken, cols, n, rng);
    }
  } else if (pattern == "lines") {
    // Overlaps make late segments short; after many tries fall back to single pixels.
    const std::size_t tries = 20 * (n / segment + 1) + 1000;
    for (std::size_t t = 0; out.size() < n && t < tries; ++t) {
      const std::size_t r = random::uniform_int(rng, 0, rows - 1);
      const std::size_t c0 = random::uniform_int(rng, 0, cols - 1);
      for (std::size_t c = c0; c < std::min(cols, c0 + segment) && out.size() < n; ++c) {
        if (taken[r * cols + c]) continue;
        taken[r * cols + c] = 1;
        out.push_back({static_cast<double>(r), static_cast<double>(c)});
      }
    }
    fill_random(out, taken, cols, n, rng);
  } else {
    throw std::invalid_argument("sampling_pattern: pattern='" + pattern +
                                "' is not one of random, halton, poisson, lines");
  }
  return out;
}

std::vector<Position> order_path(std::vector<Position> pts, const std::string& order,
                                 std::size_t band_rows) {
  if (order == "serpentine") {
    if (pts.empty()) return pts;
    double rmin = pts[0].row, rmax = pts[0].row, cmin = pts[0].col, cmax = pts[0].col;
    for (const auto& p : pts) {
      rmin = std::min(rmin, p.row);
      rmax = std::max(rmax, p.row);
      cmin = std::min(cmin, p.col);
      cmax = std::max(cmax, p.col);
    }
    double band = static_cast<double>(band_rows);
    if (band_rows == 0) {
      const double area = (rmax - rmin + 1) * (cmax - cmin + 1);
      band = std::max(1.0, std::round(std::sqrt(3.0 * area / static_cast<double>(pts.size()))));
    }
    auto band_of = [&](const Position& p) {
      return static_cast<long long>(std::floor((p.row - rmin) / band));
    };
    std::stable_sort(pts.begin(), pts.end(), [&](const Position& a, const Position& b) {
      const long long ba = band_of(a), bb = band_of(b);
      if (ba != bb) return ba < bb;
      const bool odd = ba % 2 != 0;
      if (a.col != b.col) return odd ? a.col > b.col : a.col < b.col;
      return odd ? a.row > b.row : a.row < b.row;
    });
    return pts;
  }
  if (order != "nearest")
    throw std::invalid_argument("order_path: order='" + order +
                                "' is not one of serpentine, nearest");
  const std::size_t n = pts.size();
  if (n < 2) return pts;
  double rmax = 0, cmax = 0, rmin = 0, cmin = 0;
  for (const auto& p : pts) {
    rmax = std::max(rmax, p.row);
    cmax = std::max(cmax, p.col);
    rmin = std::min(rmin, p.row);
    cmin = std::min(cmin, p.col);
  }
  // Buckets of about 2 points each.
  const double area = (rmax - rmin + 1) * (cmax - cmin + 1);
  const double cell = std::max(1.0, std::sqrt(2.0 * area / static_cast<double>(n)));
  const auto gr = static_cast<long>((rmax - rmin) / cell) + 1, gc = static_cast<long>((cmax - cmin) / cell) + 1;
  std::vector<std::vector<std::size_t>> bucket(static_cast<std::size_t>(gr * gc));
  auto cell_r = [&](const Position& p) { return static_cast<long>((p.row - rmin) / cell); };
  auto cell_c = [&](const Position& p) { return static_cast<long>((p.col - cmin) / cell); };
  for (std::size_t i = 0; i < n; ++i)
    bucket[static_cast<std::size_t>(cell_r(pts[i]) * gc + cell_c(pts[i]))].push_back(i);
  std::vector<char> used(n, 0);
  std::size_t cur = 0;
  for (std::size_t i = 1; i < n; ++i)
    if (pts[i].row + pts[i].col < pts[cur].row + pts[cur].col) cur = i;
  std::vector<Position> out;
  out.reserve(n);
  for (std::size_t k = 0; k < n; ++k) {
    used[cur] = 1;
    out.push_back(pts[cur]);
    auto& b = bucket[static_cast<std::size_t>(cell_r(pts[cur]) * gc + cell_c(pts[cur]))];
    b.erase(std::find(b.begin(), b.end(), cur));
    if (k + 1 == n) break;
    // Search rings of buckets until the best candidate is closer than the ring's inner edge.
    const long r0 = cell_r(pts[cur]), c0 = cell_c(pts[cur]);
    double best = std::numeric_limits<double>::infinity();
    std::size_t best_i = n;
    for (long ring = 0; ring <= std::max(gr, gc); ++ring) {
      if (best_i < n && (static_cast<double>(ring) - 1.0) * cell > std::sqrt(best)) break;
      for (long r = r0 - ring; r <= r0 + ring; ++r)
        for (long c = c0 - ring; c <= c0 + ring; ++c) {
          if (std::max(std::labs(r - r0), std::labs(c - c0)) != ring) continue;
          if (r < 0 || c < 0 || r >= gr || c >= gc) continue;
          for (std::size_t j : bucket[static_cast<std::size_t>(r * gc + c)]) {
            const double dr = pts[j].row - pts[cur].row, dc = pts[j].col - pts[cur].col;
            const double d = dr * dr + dc * dc;
            if (d < best || (d == best && j < best_i)) {
              best = d;
              best_i = j;
            }
          }
        }
    }
    cur = best_i;
  }
  return out;
}

double path_length(std::span<const Position> p) {
  double len = 0.0;
  for (std::size_t i = 1; i < p.size(); ++i) len += std::hypot(p[i].row - p[i - 1].row, p[i].col - p[i - 1].col);
  return len;
}

const Schema& CompressedSensingStrategy::schema() {
  static const Schema s = [] {
    Schema s("strategy", "cs",
             "compressed sensing: a sparse pattern, then reconstruction of the rest (Stevens et al. 2014; "
             "docs/compressed-sensing.md)");
    s.number("fraction", 0.1, "share of the field to measure").above(0).at_most(1);
    s.choice("pattern", {"random", "halton", "poisson", "lines"}, "random", "sparse pattern (see sampling_pattern)");
    s.integer("segment", 8, "line length for pattern=lines").at_least(1).in_unit("px");
    s.choice("order", {"serpentine", "nearest"}, "serpentine",
             "beam path through the pattern (see order_path; pattern=lines sweeps row by row)");
    s.choice("reconstruction", {}, "biharmonic", "reconstruct() method of the prediction map")
        .dynamic_choices = [] { return reconstruction_methods(); };
    return s;
  }();
  return s;
}

CompressedSensingStrategy::CompressedSensingStrategy(const Parameters& params) : values_(schema().parse(params)) {
  fraction_ = values_.number("fraction");
  pattern_ = values_.text("pattern");
  segment_ = values_.size("segment");
  order_ = values_.text("order");
  recon_.method = values_.text("reconstruction");
}

Parameters CompressedSensingStrategy::parameters() const { return values_.provenance(); }

void CompressedSensingStrategy::begin(const Survey&, const StrategyContext& context) {
  rows_ = context.instrument.field_rows;
  cols_ = context.instrument.field_cols;
  next_ = 0;
  measured_.clear();
  totals_.clear();
  cached_n_ = 0;
  cached_ = ImageArray();
  std::size_t n =
      static_cast<std::size_t>(std::ceil(fraction_ * static_cast<double>(rows_ * cols_)));
  if (context.budget_points > 0) n = std::min(n, context.budget_points);
  plan_ = rows_ * cols_ == 0
              ? std::vector<Position>{}
              : order_path(sampling_pattern(pattern_, rows_, cols_, n, context.seed, segment_), order_,
                           pattern_ == "lines" ? 1 : 0);  // lines: keep each segment one sweep
}

std::vector<Position> CompressedSensingStrategy::propose(std::size_t max_points) {
  const std::size_t n = std::min(max_points, plan_.size() - next_);
  std::vector<Position> out(plan_.begin() + static_cast<std::ptrdiff_t>(next_),
                            plan_.begin() + static_cast<std::ptrdiff_t>(next_ + n));
  next_ += n;
  return out;
}

void CompressedSensingStrategy::observe(std::span<const Measurement> measurements) {
  for (const auto& m : measurements) {
    double total = 0.0;
    for (float v : m.signal) total += v;
    // The actual (drifted) position where the instrument reports one inside the field.
    const bool actual_ok = is_finite(m.actual) && std::round(m.actual.row) >= 0 &&
                           std::round(m.actual.col) >= 0 &&
                           std::round(m.actual.row) < static_cast<double>(rows_) &&
                           std::round(m.actual.col) < static_cast<double>(cols_);
    measured_.push_back(actual_ok ? m.actual : m.requested);
    totals_.push_back(total);
  }
}

std::optional<Prediction> CompressedSensingStrategy::prediction() const {
  if (totals_.empty() || rows_ == 0 || cols_ == 0) return std::nullopt;
  if (cached_n_ != totals_.size()) {
    cached_ = reconstruct(measured_, totals_, rows_, cols_, recon_);
    cached_n_ = totals_.size();
  }
  Prediction p;
  p.mean = cached_;
  return p;
}

StrategyInfo cs_strategy() {
  return {CompressedSensingStrategy::schema(),
          [](const Parameters& p) { return std::make_unique<CompressedSensingStrategy>(p); }};
}

}  // namespace autostem::strategies
