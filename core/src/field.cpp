#include <autostem/core/field.hpp>

#include <cstdio>
#include <stdexcept>

namespace autostem {

namespace {

std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

bool inside_field(const Position& p, std::size_t rows, std::size_t cols) {
  if (!is_finite(p)) return false;
  return p.row >= -0.5 && p.row < static_cast<double>(rows) - 0.5 && p.col >= -0.5 &&
         p.col < static_cast<double>(cols) - 0.5;
}

std::string outside_field_message(const std::string& prefix, const Position& p, std::size_t rows,
                                  std::size_t cols) {
  const std::string where = prefix + " (row " + fmt(p.row) + ", col " + fmt(p.col) + ")";
  if (!is_finite(p)) return where + " is not finite";
  return where + " is outside the field [-0.5, " + fmt(static_cast<double>(rows) - 0.5) +
         ") x [-0.5, " + fmt(static_cast<double>(cols) - 0.5) + ")";
}

void check_inside_field(const std::string& prefix, const Position& p, std::size_t rows,
                        std::size_t cols) {
  if (!inside_field(p, rows, cols))
    throw std::invalid_argument(outside_field_message(prefix, p, rows, cols));
}

}  // namespace autostem
