#pragma once
// The scanned field's bounds, in one place: pixel centres sit at integer (row, col), and the field
// spans half a pixel beyond them, [-0.5, rows - 0.5) x [-0.5, cols - 0.5) (DESIGN.md §3). Every
// layer that accepts a probe position (Session, the simulated and DM instruments, strategies
// that draw continuous positions) checks it through these functions.

#include <autostem/core/types.hpp>

#include <cstddef>
#include <string>

namespace autostem {

/// True when p (pixel units) is finite and inside [-0.5, rows - 0.5) x [-0.5, cols - 0.5).
/// rows, cols: the field's size in pixels (an empty field contains nothing).
bool inside_field(const Position& p, std::size_t rows, std::size_t cols);

/// The message for a position outside the field (or not finite), e.g. with prefix "proposed
/// position": "proposed position (row 3, col 70) is outside the field [-0.5, 63.5) x [-0.5, 63.5)"
/// or "proposed position (row nan, col 2) is not finite". Numbers as printf's %.6g.
std::string outside_field_message(const std::string& prefix, const Position& p, std::size_t rows,
                                  std::size_t cols);

/// Throws std::invalid_argument(outside_field_message(prefix, p, rows, cols)) unless
/// inside_field(p, rows, cols).
void check_inside_field(const std::string& prefix, const Position& p, std::size_t rows,
                        std::size_t cols);

}  // namespace autostem
