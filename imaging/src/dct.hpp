#pragma once
// Orthonormal 2-D DCT-II / DCT-III pair on FFTW plans (private to autostem::reconstruction).
// FFTW's REDFT10 computes Y_k = 2 Σ_n x_n cos(πk(2n+1)/2N) per axis and REDFT01 its unnormalised
// inverse (REDFT01(REDFT10(x)) = 2N·x per axis; FFTW manual §4.8.3). The orthonormal DCT-II is
// X_k = c_k Y_k / √(2N) with c_0 = 1/√2, c_k = 1 otherwise; the inverse pre-scales X by
// 1/√N (k = 0) or 1/√(2N) before REDFT01.

#include <cstddef>
#include <vector>

namespace autostem::reconstruction::detail {

class Dct2Plan {
 public:
  /// Uses the process-wide plans for (rows, cols) (made on first use with FFTW_MEASURE, or
  /// FFTW_ESTIMATE below 64×64; planning is serialised by a mutex because FFTW's planner is not
  /// thread-safe) and allocates its own aligned buffers.
  Dct2Plan(std::size_t rows, std::size_t cols);
  ~Dct2Plan();
  Dct2Plan(const Dct2Plan&) = delete;
  Dct2Plan& operator=(const Dct2Plan&) = delete;

  /// out = orthonormal DCT-II of in; both rows × cols, row-major; in is not modified.
  void forward(const double* in, double* out);
  /// out = orthonormal DCT-III (inverse) of in; in is not modified.
  void inverse(const double* in, double* out);

 private:
  std::size_t rows_, cols_;
  void* fwd_ = nullptr;
  void* inv_ = nullptr;
  double* buf_in_ = nullptr;
  double* buf_out_ = nullptr;
  std::vector<double> sr_, sc_, tr_, tc_;
};

}  // namespace autostem::reconstruction::detail
