#pragma once
// Small image operations on ImageArray (rows, cols), used by the edge strategy and the metrics.
// Borders use scipy.ndimage's "reflect" mode (d c b a | a b c d | d c b a: the edge pixel is
// repeated), so results match scipy/skimage where they are compared.

#include <autostem/core/types.hpp>

#include <cstddef>
#include <span>
#include <vector>

namespace autostem {

/// Normalised 1-D Gaussian taps exp(−x²/2σ²), x = −R…R with R = int(truncate·σ + 0.5) (scipy's
/// radius rule). sigma_px > 0. Throws std::invalid_argument on sigma_px ≤ 0 or truncate ≤ 0.
std::vector<double> gaussian_kernel(double sigma_px, double truncate = 4.0);

/// Separable Gaussian smoothing, σ in pixels, kernel truncated at `truncate`·σ (scipy's
/// gaussian_filter with mode='reflect'). sigma_px = 0 returns the image unchanged. Throws
/// std::invalid_argument on sigma_px < 0 or not finite.
ImageArray gaussian_blur(const ImageArray& image, double sigma_px, double truncate = 4.0);

/// Sobel gradient magnitude sqrt(Gr² + Gc²) with the un-normalised 3×3 kernels
/// ([1 2 1]ᵀ ⊗ [−1 0 1] and its transpose), reflect borders: a ramp of slope s per pixel gives 8·s.
/// Same shape as the input; an image with < 1 pixel gives an empty array.
ImageArray sobel_magnitude(const ImageArray& image);

/// Otsu's threshold (Otsu 1979, IEEE Trans. SMC 9, 62): the value t maximising the between-class
/// variance of {v ≤ t} and {v > t} over a `bins`-bin histogram spanning [min, max]; t is a bin
/// centre, as in skimage.filters.threshold_otsu. A constant image returns its value. Throws
/// std::invalid_argument on an empty image, non-finite values or bins < 2.
double otsu_threshold(const ImageArray& image, int bins = 256);

/// Bilinear interpolation at a sub-pixel (row, col), pixel centres at integers; coordinates are
/// clamped to the image (the border value extends outwards). Throws std::invalid_argument on an
/// empty image or a non-finite coordinate.
double sample_bilinear(const ImageArray& image, double row, double col);

/// Boolean (rows, cols) mask in ImageArray's row-major layout.
using MaskArray = Eigen::Array<bool, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// 8-connected components of a mask: fills `labels` (rows·cols, row-major) with 0 outside and
/// ids 1…n inside, numbered in raster order of each component's first pixel; returns n.
std::size_t label_components(const MaskArray& mask, std::vector<std::size_t>& labels);

/// sample_bilinear at every position: (n,) values.
std::vector<double> sample_bilinear(const ImageArray& image, std::span<const Position> positions);

}  // namespace autostem
