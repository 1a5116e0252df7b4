#include "params.hpp"

#include <autostem/core/random.hpp>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace autostem::strategies::detail {

void check_keys(const Parameters& params, std::initializer_list<const char*> valid,
                const std::string& strategy) {
  for (const auto& [key, value] : params) {
    bool ok = false;
    for (const char* v : valid) ok = ok || key == v;
    if (!ok) {
      std::string list;
      for (const char* v : valid) list += std::string(list.empty() ? "" : ", ") + v;
      throw std::invalid_argument("strategy '" + strategy + "': unknown parameter '" + key +
                                  "'; valid: " + (list.empty() ? "(none)" : list));
    }
  }
}

std::string get(const Parameters& params, const std::string& key, const std::string& fallback) {
  auto it = params.find(key);
  return it == params.end() ? fallback : it->second;
}

double get_double(const Parameters& params, const std::string& key, double fallback,
                  const std::string& strategy) {
  auto it = params.find(key);
  if (it == params.end()) return fallback;
  double v = 0.0;
  const auto& t = it->second;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || p != t.data() + t.size() || !std::isfinite(v))
    throw std::invalid_argument("strategy '" + strategy + "': parameter " + key + "='" + t +
                                "' is not a finite number");
  return v;
}

std::size_t get_size(const Parameters& params, const std::string& key, std::size_t fallback,
                     const std::string& strategy) {
  auto it = params.find(key);
  if (it == params.end()) return fallback;
  std::size_t v = 0;
  const auto& t = it->second;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || p != t.data() + t.size())
    throw std::invalid_argument("strategy '" + strategy + "': parameter " + key + "='" + t +
                                "' is not a non-negative integer");
  return v;
}

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
