#pragma once
// Parsing of strategy parameters (text → typed), shared by the strategies.

#include <autostem/core/strategy.hpp>

#include <cstdint>
#include <initializer_list>
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

/// Radical inverse of i in base b (van der Corput): a coordinate of the Halton sequence
/// (Halton 1960), in [0, 1).
double radical_inverse(std::uint64_t i, std::uint64_t b);

}  // namespace autostem::strategies::detail
