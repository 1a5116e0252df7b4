// Internal: reading a scalarizer spec such as "com_mag:0:20:32:32" (scalarizer.cpp, the pattern
// scalarizers of diffraction.cpp, strain.cpp), and the side of a flat square pattern.
#pragma once

#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace autostem::detail {

/// The fields of spec between the separators: "a:b::c" → {"a", "b", "", "c"}; never empty.
inline std::vector<std::string> split_spec(const std::string& spec, char sep = ':') {
  std::vector<std::string> out;
  for (std::size_t start = 0;;) {
    const std::size_t p = spec.find(sep, start);
    out.push_back(spec.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) return out;
    start = p + 1;
  }
}

/// Field `index` (1-based after the name) of spec as a finite number. Throws
/// std::invalid_argument naming the spec, the field and its text otherwise.
inline double spec_number(const std::string& spec, const std::string& field, std::size_t index) {
  const char* b = field.c_str();
  char* e = nullptr;
  const double v = std::strtod(b, &e);
  if (field.empty() || e == b || *e != '\0' || !std::isfinite(v) ||
      std::isspace(static_cast<unsigned char>(field.front())))
    throw std::invalid_argument("scalarizer '" + spec + "': field " + std::to_string(index) + " is '" + field +
                                "'; expected a finite number");
  return v;
}

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
