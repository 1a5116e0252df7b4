#pragma once
// The one FFT of autostem (private to the imaging library): FFTW 3 plans behind a small
// interface, so that no public header includes fftw3.h. The DCT pair of the FISTA
// reconstruction (dct.hpp) uses the same library.

#include <complex>
#include <cstddef>

namespace autostem::imaging::detail {

/// In-place 2-D DFT of a row-major (rows, cols) complex array: forward X_k = Σ_n x_n e^{−2πi kn/N}
/// per axis (FFTW's sign convention, FFTW manual §4.8.1); inverse includes the 1/(rows·cols)
/// factor, so fft2(fft2(x), inverse) = x. Any sizes. Plans are made with FFTW_ESTIMATE (the same
/// algorithm on every run, so results are reproducible bit for bit) under a process-wide mutex
/// (FFTW's planner is not thread-safe); execution is thread-safe. Throws std::invalid_argument
/// on a zero extent and std::runtime_error if FFTW cannot plan.
void fft2(std::complex<double>* data, std::size_t rows, std::size_t cols, bool inverse);

}  // namespace autostem::imaging::detail
