#include <autostem/core/statistics.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace autostem {

double percentile(std::span<const double> values, double p) {
  if (!(p >= 0.0 && p <= 100.0))
    throw std::invalid_argument("percentile: p = " + std::to_string(p) + "; expected [0, 100]");
  if (values.empty()) return 0.0;
  std::vector<double> v(values.begin(), values.end());
  for (double x : v)
    if (std::isnan(x)) throw std::invalid_argument("percentile: the sample holds NaN");
  std::sort(v.begin(), v.end());
  const double pos = p / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

LatencyStats latency_stats(std::span<const double> latencies_s) {
  return {percentile(latencies_s, 50.0), percentile(latencies_s, 95.0)};
}

}  // namespace autostem

// ---- Exact first-hit baseline of uniform random sampling without replacement (first_hit.hpp)

#include <autostem/core/first_hit.hpp>

namespace autostem {

namespace {

void check_field(FirstHitField f) {
  if (f.pixels == 0) throw std::invalid_argument("first_hit: the field has no pixels");
  if (f.targets > f.pixels)
    throw std::invalid_argument("first_hit: " + std::to_string(f.targets) + " targets among only " +
                                std::to_string(f.pixels) + " pixels");
}

}  // namespace

double first_hit_survival(FirstHitField f, std::size_t t) {
  check_field(f);
  if (f.targets == 0) return 1.0;
  if (t > f.pixels - f.targets) return 0.0;
  // Π (N − K − i)/(N − i) as a sum of logs: stays accurate for N in the millions.
  double log_s = 0.0;
  for (std::size_t i = 0; i < t; ++i)
    log_s += std::log(static_cast<double>(f.pixels - f.targets - i)) - std::log(static_cast<double>(f.pixels - i));
  return std::exp(log_s);
}

double first_hit_cdf(std::span<const FirstHitField> fields, std::size_t t) {
  if (fields.empty()) throw std::invalid_argument("first_hit_cdf: no fields");
  double s = 0.0;
  for (const FirstHitField& f : fields) s += first_hit_survival(f, t);
  return 1.0 - s / static_cast<double>(fields.size());
}

std::size_t first_hit_quantile(std::span<const FirstHitField> fields, double p) {
  if (!(p > 0.0 && p <= 1.0))
    throw std::invalid_argument("first_hit_quantile: p = " + std::to_string(p) + "; expected (0, 1]");
  if (fields.empty()) throw std::invalid_argument("first_hit_quantile: no fields");
  std::size_t t_max = 0;
  for (const FirstHitField& f : fields) {
    check_field(f);
    if (f.targets > 0) t_max = std::max(t_max, f.pixels - f.targets + 1);
  }
  // Running survival products, one per field (O(fields × t), no recomputation).
  std::vector<double> surv(fields.size(), 1.0);
  const double eps = 1e-12;  // P(T ≤ t) ≥ p up to rounding of the products
  for (std::size_t t = 1; t <= t_max; ++t) {
    double s = 0.0;
    for (std::size_t i = 0; i < fields.size(); ++i) {
      const FirstHitField& f = fields[i];
      if (f.targets > 0) {
        const std::size_t j = t - 1;  // factor (N − K − j)/(N − j)
        surv[i] = j <= f.pixels - f.targets
                      ? surv[i] * static_cast<double>(f.pixels - f.targets - j) / static_cast<double>(f.pixels - j)
                      : 0.0;
      }
      s += surv[i];
    }
    // P(T ≤ t) ≥ p ⇔ mean survival ≤ 1 − p (compared on the survival side: 1 − 1e-300 rounds to 1).
    if (s / static_cast<double>(fields.size()) <= (1.0 - p) + (p < 1.0 ? eps : 0.0)) return t;
  }
  return kFirstHitNever;
}

}  // namespace autostem
