// Internal: the side of a square diffraction pattern handed over as a flat signal (the pattern
// scalarizers' evaluate_unshaped, diffraction.cpp and strain.cpp).
#pragma once

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

namespace autostem::detail {

/// side with side² = values (a flat ky = kx pattern). Throws std::invalid_argument naming the
/// scalarizer spec when values is 0 or not a square.
inline std::size_t square_pattern_side(std::size_t values, const std::string& spec) {
  const auto side = static_cast<std::size_t>(std::llround(std::sqrt(static_cast<double>(values))));
  if (side == 0 || side * side != values)
    throw std::invalid_argument(spec + ": a signal of " + std::to_string(values) +
                                " values is not a square pattern; call evaluate(pattern, ky, kx)");
  return side;
}

}  // namespace autostem::detail
