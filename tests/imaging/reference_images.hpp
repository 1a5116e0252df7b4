#pragma once
// Closed-form test images shared with tests/imaging/reference/ssim_reference.py: keep
// pair_truth / pair_estimate / bimodal in step with truth() / estimate() / bimodal() there.
#include <autostem/core/types.hpp>

#include <cmath>

namespace autostem::testref {

inline ImageArray pair_truth(int rows = 48, int cols = 40) {
  ImageArray t(rows, cols);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      t(r, c) = 100.0 * std::sin(r / 4.0) * std::cos(c / 6.0) + 2.0 * r + 0.5 * c;
  return t;
}

inline ImageArray pair_estimate(int rows = 48, int cols = 40) {
  ImageArray e = pair_truth(rows, cols);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      e(r, c) += 20.0 * std::sin(0.7 * r + 1.3 * c) + 5.0 * std::cos(r * c / 9.0);
  return e;
}

inline ImageArray bimodal(int rows = 64, int cols = 64) {
  ImageArray b(rows, cols);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      b(r, c) = (c < 24 ? 10.0 : 50.0) + 3.0 * std::sin(r * 0.9 + c * 0.4);
  return b;
}

}  // namespace autostem::testref
