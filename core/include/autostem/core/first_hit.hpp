#pragma once
// The exact baseline for counts to an event (spectra to the first top-1 % pixel, to the maximum):
// uniform random sampling of pixels WITHOUT replacement, computed in closed form rather than
// estimated from a few sampled random runs (issue 22: a sampled median of 10 random runs, 108.5,
// stood where the exact median is 69).
//
// For a field of N pixels of which K are targets, the number T of draws up to and including the
// first target has the survival function (negative hypergeometric, r = 1)
//     P(T > t) = C(N − K, t) / C(N, t) = Π_{i=0}^{t−1} (N − K − i) / (N − i),   0 ≤ t ≤ N − K,
// and P(T > t) = 0 for t > N − K; E[T] = (N + 1)/(K + 1) (Johnson, Kemp & Kotz, "Univariate
// Discrete Distributions", 3rd ed., §6.2.2, negative hypergeometric).

#include <cstddef>
#include <limits>
#include <span>

namespace autostem {

/// One field: `pixels` candidates (N ≥ 1), `targets` of them events (0 ≤ K ≤ N).
struct FirstHitField {
  std::size_t pixels = 0;
  std::size_t targets = 0;
};

/// "Never": the quantile is not reached (a field without targets carries too much weight).
inline constexpr std::size_t kFirstHitNever = std::numeric_limits<std::size_t>::max();

/// P(T > t) for one field (see above); 1 for t = 0, 1 for every t when K = 0. Throws
/// std::invalid_argument if N = 0 or K > N.
double first_hit_survival(FirstHitField field, std::size_t t);

/// P(T ≤ t) of the equal-weight mixture over `fields` (one per seed: a phantom is a new specimen
/// per seed, so K may differ): 1 − mean_i P(T_i > t). Throws std::invalid_argument on an empty
/// span or a field first_hit_survival rejects.
double first_hit_cdf(std::span<const FirstHitField> fields, std::size_t t);

/// Exact p-quantile (0 < p ≤ 1) of the mixture: the smallest t ≥ 1 with P(T ≤ t) ≥ p
/// (counts, the convention of a discrete quantile; the median is p = 0.5). kFirstHitNever when
/// no t reaches p (fields without targets). Throws std::invalid_argument for p outside (0, 1]
/// or bad fields (as first_hit_cdf).
std::size_t first_hit_quantile(std::span<const FirstHitField> fields, double p);

}  // namespace autostem
