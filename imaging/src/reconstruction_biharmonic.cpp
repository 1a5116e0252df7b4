// Biharmonic inpainting, discretised exactly as scikit-image 0.19.3's
// skimage.restoration.inpaint_biharmonic (restoration/inpaint.py, single-region path):
//  - for every unknown pixel, the coefficients are laplace(laplace(δ)) evaluated on the 5×5
//    window around it truncated to the image, with scipy.ndimage.laplace's default "reflect"
//    edges (in the interior: the 13-point stencil 20, −8, 2, 1);
//  - known pixels move to the right-hand side, unknown ones form the square sparse system,
//    solved directly (skimage: SuperLU with MMD_ATA; here Eigen::SparseLU with COLAMD — a direct
//    solver, so the solutions agree to rounding);
//  - the result is clipped to [min, max] of the known values.
// Source: Damelin & Hoang 2018, Int. J. Math. Math. Sci. 2018, 3950312 (cited by skimage).

#include <autostem/imaging/reconstruction.hpp>

#include <Eigen/SparseCore>
#include <Eigen/SparseLU>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <tuple>
#include <vector>

namespace autostem {

namespace {

/// scipy.ndimage.laplace on a small (h, w) array, mode "reflect" (d c b a | a b c d): the sum
/// over both axes of the [1, −2, 1] correlation.
std::vector<double> laplace_reflect(const std::vector<double>& a, int h, int w) {
  std::vector<double> out(a.size(), 0.0);
  auto at = [&](int r, int c) {
    r = r < 0 ? 0 : (r >= h ? h - 1 : r);  // one step past the edge reflects onto the edge
    c = c < 0 ? 0 : (c >= w ? w - 1 : c);
    return a[static_cast<std::size_t>(r * w + c)];
  };
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c)
      out[static_cast<std::size_t>(r * w + c)] =
          at(r - 1, c) + at(r + 1, c) + at(r, c - 1) + at(r, c + 1) - 4.0 * at(r, c);
  return out;
}

struct Stencil {
  int h, w, r0, c0;  // window shape and the centre's position in it
  std::vector<double> coef;
};

/// laplace(laplace(δ_centre)) on an (h, w) window: skimage's _get_neigh_coef.
Stencil make_stencil(int h, int w, int r0, int c0) {
  std::vector<double> d(static_cast<std::size_t>(h * w), 0.0);
  d[static_cast<std::size_t>(r0 * w + c0)] = 1.0;
  return {h, w, r0, c0, laplace_reflect(laplace_reflect(d, h, w), h, w)};
}

}  // namespace

ImageArray reconstruct_biharmonic(const PixelSamples& s) {
  const int rows = static_cast<int>(s.rows), cols = static_cast<int>(s.cols);
  const std::size_t npx = s.rows * s.cols;
  ImageArray out = ImageArray::Zero(rows, cols);
  std::vector<int> unknown_id(npx, 0);
  for (std::size_t i = 0; i < s.size(); ++i) {
    out.data()[s.index[i]] = s.value[i];
    unknown_id[s.index[i]] = -1;
  }
  int n_unknown = 0;
  for (std::size_t p = 0; p < npx; ++p)
    if (unknown_id[p] == 0) unknown_id[p] = n_unknown++;
    else unknown_id[p] = -1;
  if (n_unknown == 0) return out;

  constexpr int R = 2;
  std::map<std::tuple<int, int, int, int>, Stencil> cache;
  std::vector<Eigen::Triplet<double>> trip;
  trip.reserve(static_cast<std::size_t>(n_unknown) * 13);
  Eigen::VectorXd rhs = Eigen::VectorXd::Zero(n_unknown);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const int row = unknown_id[static_cast<std::size_t>(r * cols + c)];
      if (row < 0) continue;
      const int rlo = std::max(r - R, 0), rhi = std::min(r + R + 1, rows);
      const int clo = std::max(c - R, 0), chi = std::min(c + R + 1, cols);
      const auto key = std::make_tuple(rhi - rlo, chi - clo, r - rlo, c - clo);
      auto it = cache.find(key);
      if (it == cache.end())
        it = cache.emplace(key, make_stencil(rhi - rlo, chi - clo, r - rlo, c - clo)).first;
      const Stencil& st = it->second;
      for (int wr = 0; wr < st.h; ++wr)
        for (int wc = 0; wc < st.w; ++wc) {
          const double a = st.coef[static_cast<std::size_t>(wr * st.w + wc)];
          if (a == 0.0) continue;
          const std::size_t q = static_cast<std::size_t>((rlo + wr) * cols + (clo + wc));
          if (unknown_id[q] >= 0) trip.emplace_back(row, unknown_id[q], a);
          else rhs(row) -= a * out.data()[q];
        }
    }
  Eigen::SparseMatrix<double> A(n_unknown, n_unknown);
  A.setFromTriplets(trip.begin(), trip.end());
  A.makeCompressed();
  Eigen::SparseLU<Eigen::SparseMatrix<double>, Eigen::COLAMDOrdering<int>> lu;
  lu.analyzePattern(A);
  lu.factorize(A);
  if (lu.info() != Eigen::Success)
    throw std::runtime_error("reconstruct_biharmonic: sparse LU factorisation failed (" +
                             lu.lastErrorMessage() + ")");
  const Eigen::VectorXd u = lu.solve(rhs);
  const auto [lo_it, hi_it] = std::minmax_element(s.value.begin(), s.value.end());
  const double lo = *lo_it, hi = *hi_it;
  for (std::size_t p = 0; p < npx; ++p)
    if (unknown_id[p] >= 0) out.data()[p] = std::clamp(u(unknown_id[p]), lo, hi);
  return out;
}

}  // namespace autostem
