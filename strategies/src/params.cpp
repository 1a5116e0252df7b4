#include "params.hpp"

#include <autostem/core/random.hpp>
#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace autostem::strategies::detail {

namespace {

/// Radical inverse of i in base b (van der Corput), a coordinate of the Halton sequence.
double radical_inverse(std::uint64_t i, std::uint64_t b) {
  double f = 1.0, r = 0.0;
  while (i > 0) {
    f /= static_cast<double>(b);
    r += f * static_cast<double>(i % b);
    i /= b;
  }
  return r;
}

}  // namespace

void append_halton_pixels(std::size_t rows, std::size_t cols, std::size_t n, std::mt19937_64& rng,
                          std::vector<char>& taken, std::vector<Position>& out) {
  const double shift_r = random::uniform_real(rng, 0.0, 1.0);
  const double shift_c = random::uniform_real(rng, 0.0, 1.0);
  const std::uint64_t limit = 64 * static_cast<std::uint64_t>(rows * cols) + 1024;
  for (std::uint64_t i = 1; out.size() < n && i < limit; ++i) {
    const double y = std::fmod(radical_inverse(i, 3) + shift_r, 1.0);
    const double x = std::fmod(radical_inverse(i, 2) + shift_c, 1.0);
    const auto r = std::min(rows - 1, static_cast<std::size_t>(y * static_cast<double>(rows)));
    const auto c = std::min(cols - 1, static_cast<std::size_t>(x * static_cast<double>(cols)));
    if (taken[r * cols + c]) continue;
    taken[r * cols + c] = 1;
    out.push_back({static_cast<double>(r), static_cast<double>(c)});
  }
}

}  // namespace autostem::strategies::detail
