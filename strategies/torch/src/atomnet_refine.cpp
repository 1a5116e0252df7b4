// Sub-pixel refinement of atom positions on the input image (no LibTorch here).
#include <autostem/imaging/image_ops.hpp>
#include <autostem/strategies/atomnet.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace autostem::strategies {

void refine_atoms_centroid(const ImageArray& image, std::vector<Atom>& atoms, double spacing_px) {
  if (image.size() == 0) throw std::invalid_argument("refine_atoms_centroid: the image is empty");
  if (!(spacing_px > 0.0)) throw std::invalid_argument("refine_atoms_centroid: spacing_px must be > 0");
  const ImageArray g = gaussian_blur(image, std::max(0.5, 0.1 * spacing_px));
  const double radius = std::max(1.5, 0.25 * spacing_px);
  const auto rows = g.rows(), cols = g.cols();
  for (auto& a : atoms) {
    Position p = a.position;
    bool ok = true;
    for (int it = 0; it < 3 && ok; ++it) {
      const auto r0 = std::max<Eigen::Index>(0, static_cast<Eigen::Index>(std::floor(p.row - radius)));
      const auto r1 = std::min<Eigen::Index>(rows - 1, static_cast<Eigen::Index>(std::ceil(p.row + radius)));
      const auto c0 = std::max<Eigen::Index>(0, static_cast<Eigen::Index>(std::floor(p.col - radius)));
      const auto c1 = std::min<Eigen::Index>(cols - 1, static_cast<Eigen::Index>(std::ceil(p.col + radius)));
      double lo = std::numeric_limits<double>::infinity();
      for (auto i = r0; i <= r1; ++i)
        for (auto j = c0; j <= c1; ++j)
          if ((i - p.row) * (i - p.row) + (j - p.col) * (j - p.col) <= radius * radius) lo = std::min(lo, g(i, j));
      double sw = 0, sr = 0, sc = 0;
      for (auto i = r0; i <= r1; ++i)
        for (auto j = c0; j <= c1; ++j)
          if ((i - p.row) * (i - p.row) + (j - p.col) * (j - p.col) <= radius * radius) {
            const double w = g(i, j) - lo;
            sw += w;
            sr += w * static_cast<double>(i);
            sc += w * static_cast<double>(j);
          }
      if (!(sw > 0)) { ok = false; break; }
      p = {sr / sw, sc / sw};
    }
    const double shift = std::hypot(p.row - a.position.row, p.col - a.position.col);
    if (ok && shift <= 0.5 * spacing_px) a.position = p;
  }
}

}  // namespace autostem::strategies
