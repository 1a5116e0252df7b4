#pragma once
// Helpers shared by the strategies (their parameters are parsed by schema.hpp).

#include <autostem/core/strategy.hpp>

#include <cstdint>
#include <random>
#include <vector>
#include <string>

namespace autostem::strategies::detail {

/// Appends to out distinct pixels (row, col) of a rows × cols field, up to out.size() == n, from
/// the 2-D Halton sequence in bases 3 (rows) and 2 (cols) (Halton 1960) with a Cranley–Patterson
/// rotation drawn from rng (two uniform draws). taken (rows·cols, 1 = already used) is updated.
/// The walk is bounded (64 × field), so it may return fewer than n on a nearly full field.
void append_halton_pixels(std::size_t rows, std::size_t cols, std::size_t n, std::mt19937_64& rng,
                          std::vector<char>& taken, std::vector<Position>& out);

}  // namespace autostem::strategies::detail
