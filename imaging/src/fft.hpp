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

/// The same transform as fft2 but WITHOUT the 1/(rows·cols) factor on the inverse, with the plan
/// made once per (rows, cols, direction) and kept for the life of the process (FFTW_ESTIMATE |
/// FFTW_UNALIGNED, executed with fftw_execute_dft, which is thread-safe): for transforms repeated
/// many times at one size (registration, issue 16). Throws as fft2.
void fft2_cached(std::complex<double>* data, std::size_t rows, std::size_t cols, bool inverse);

}  // namespace autostem::imaging::detail
