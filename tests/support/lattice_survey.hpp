#pragma once
// A small synthetic atomic-resolution survey for strategy tests (strategies may not link
// datasets/, so these surveys are drawn here): Gaussian columns on a graphene-like honeycomb with
// one vacancy and one bright (Si-like) dopant, on a constant background.

#include <autostem/core/types.hpp>

#include <cmath>
#include <cstddef>
#include <vector>

namespace autostem::testing {

struct Lattice {
  Survey survey;                 ///< image (rows, cols) in counts
  std::vector<Position> atoms;   ///< every drawn column (the vacancy excluded), pixel frame
  Position vacancy, dopant;
};

/// Honeycomb with nearest-neighbour spacing s px over rows × cols (background 5 counts, columns
/// 100 counts at the peak, Gaussian σ = 0.22 s); the atom nearest the centre is removed (vacancy)
/// and the one nearest (rows/3, 2cols/3) is 4.2× brighter (Si in C).
inline Lattice honeycomb(int rows, int cols, double s) {
  Lattice L;
  const double a = std::sqrt(3.0) * s;
  std::vector<Position> all;
  for (int i = -2; i * a * std::sqrt(3.0) / 2.0 < rows + a; ++i)
    for (int j = -2; j * a < cols + 2 * a; ++j)
      for (int b = 0; b < 2; ++b) {
        const double r = 3.1 + i * a * std::sqrt(3.0) / 2.0 + (b ? a / (2.0 * std::sqrt(3.0)) : 0.0);
        const double c = 2.7 + j * a + i * a / 2.0 + (b ? a / 2.0 : 0.0) - std::floor(i / 2.0) * a;
        if (r >= 0 && c >= 0 && r <= rows - 1 && c <= cols - 1) all.push_back({r, c});
      }
  auto nearest = [&](double r, double c) {
    std::size_t best = 0;
    for (std::size_t k = 1; k < all.size(); ++k)
      if (std::hypot(all[k].row - r, all[k].col - c) < std::hypot(all[best].row - r, all[best].col - c)) best = k;
    return best;
  };
  const std::size_t iv = nearest(rows / 2.0, cols / 2.0), id = nearest(rows / 3.0, 2.0 * cols / 3.0);
  L.vacancy = all[iv];
  L.dopant = all[id];
  L.survey.image.data = ImageArray::Constant(rows, cols, 5.0);
  const double sig = 0.22 * s;
  for (std::size_t k = 0; k < all.size(); ++k) {
    if (k == iv) continue;
    L.atoms.push_back(all[k]);
    const double amp = k == id ? 420.0 : 100.0;
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) {
        const double d2 = (r - all[k].row) * (r - all[k].row) + (c - all[k].col) * (c - all[k].col);
        if (d2 < 16 * sig * sig) L.survey.image.data(r, c) += amp * std::exp(-0.5 * d2 / (sig * sig));
      }
  }
  return L;
}

}  // namespace autostem::testing
