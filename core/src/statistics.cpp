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
