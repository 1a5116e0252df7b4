#pragma once
// Order statistics the Session itself needs (decision latency) and every layer above reuses.

#include <span>

namespace autostem {

/// The p-th percentile (p in [0, 100]) with linear interpolation between order statistics
/// (numpy's default "linear" method); 0 for an empty sample. Throws std::invalid_argument on p
/// outside [0, 100] or a NaN value.
double percentile(std::span<const double> values, double p);

/// Decision latency summary (seconds): median and 95th percentile, 0 when empty.
struct LatencyStats {
  double median_s = 0.0;
  double p95_s = 0.0;
};
LatencyStats latency_stats(std::span<const double> latencies_s);

}  // namespace autostem
