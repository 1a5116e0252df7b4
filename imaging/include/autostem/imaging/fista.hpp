#pragma once
// Sparsity-promoting reconstruction in the DCT domain (DESIGN.md §7, compressed sensing):
// atomic lattices and smooth maps are compressible in a cosine basis, so a few percent of the
// pixels determine the image (Stevens et al. 2014, Microscopy 63, 41; Candès, Romberg & Tao
// 2006). FFTW does the transforms; FFTW stays out of this header.

#include <autostem/imaging/reconstruction.hpp>

namespace autostem::reconstruction {

/// Orthonormal 2-D DCT-II (rows then columns; scipy.fft.dctn(x, norm="ortho")) of a (rows, cols)
/// image, via FFTW's REDFT10. ‖dct2(x)‖₂ = ‖x‖₂. Throws std::invalid_argument on an empty image.
ImageArray dct2(const ImageArray& image);

/// Inverse of dct2 (orthonormal DCT-III, FFTW's REDFT01). Throws std::invalid_argument on an
/// empty array.
ImageArray idct2(const ImageArray& coefficients);

/// ℓ1-regularised reconstruction in the orthonormal DCT basis Ψ:
///   min_α F(α) = ½ Σ_{i sampled} w_i ((Ψᵀα)_i − y_i)² + λ Σ_{k≠DC} |α_k|,  result x = Ψᵀα,
/// with the values mapped to [0, 1] by the samples' range, w the data weights (poisson: ∝ 1/max(y,
/// 1), max w = 1, so the gradient's Lipschitz constant is L = 1) and λ = fista_lambda · λ_max,
/// λ_max = ‖∇f‖_∞ over the non-DC coefficients at the best constant image (the smallest λ whose
/// solution is that constant). Solver: the monotone FISTA (MFISTA) of Beck & Teboulle 2009, IEEE
/// Trans. Image Process. 18, 2419, §V.A (FISTA: Beck & Teboulle 2009, SIAM J. Imaging Sci. 2,
/// 183): z_k = soft(y_k − ∇f(y_k)/L, λ/L); x_k = whichever of z_k, x_{k−1} has the lower F;
/// t_{k+1} = (1 + √(1 + 4t_k²))/2; y_{k+1} = x_k + (t_k/t_{k+1})(z_k − x_k) + ((t_k − 1)/t_{k+1})
/// (x_k − x_{k−1}). F(x_k) is non-increasing by construction. Starts from the best constant
/// image. Stopping rule: RMS(Ψᵀz_k − Ψᵀx_{k−1}) < tolerance (normalised units) or
/// max_iterations. Two DCTs per iteration. The objective is reported in the data's units
/// (scaled by range²). Throws as autostem::reconstruct().
ImageArray reconstruct_fista(const PixelSamples& samples, const ReconstructionOptions& options,
                             ReconstructionReport* report = nullptr);

}  // namespace autostem::reconstruction
