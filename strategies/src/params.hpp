#pragma once
// Parsing of strategy parameters (text → typed), shared by the strategies.

#include <autostem/core/strategy.hpp>

#include <cstdint>
#include <initializer_list>
#include <random>
#include <vector>
#include <string>

namespace autostem::strategies::detail {

/// Throws std::invalid_argument if params has a key not in valid, listing the valid keys.
void check_keys(const Parameters& params, std::initializer_list<const char*> valid,
                const std::string& strategy);
/// The value of key, or fallback when absent.
std::string get(const Parameters& params, const std::string& key, const std::string& fallback);
/// Parses a finite double / an unsigned integer; throws std::invalid_argument naming strategy,
/// key and text.
double get_double(const Parameters& params, const std::string& key, double fallback,
                  const std::string& strategy);
std::size_t get_size(const Parameters& params, const std::string& key, std::size_t fallback,
                     const std::string& strategy);

/// Appends to out distinct pixels (row, col) of a rows × cols field, up to out.size() == n, from
/// the 2-D Halton sequence in bases 3 (rows) and 2 (cols) (Halton 1960) with a Cranley–Patterson
/// rotation drawn from rng (two uniform draws). taken (rows·cols, 1 = already used) is updated.
/// The walk is bounded (64 × field), so it may return fewer than n on a nearly full field.
void append_halton_pixels(std::size_t rows, std::size_t cols, std::size_t n, std::mt19937_64& rng,
                          std::vector<char>& taken, std::vector<Position>& out);

}  // namespace autostem::strategies::detail
