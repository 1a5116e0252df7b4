#include "fft.hpp"

#include <fftw3.h>

#include <mutex>
#include <stdexcept>
#include <string>

namespace autostem::imaging::detail {

namespace {

std::mutex& planner_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

void fft2(std::complex<double>* data, std::size_t rows, std::size_t cols, bool inverse) {
  if (rows == 0 || cols == 0)
    throw std::invalid_argument("fft2: array " + std::to_string(rows) + "×" +
                                std::to_string(cols) + " has a zero extent");
  auto* p = reinterpret_cast<fftw_complex*>(data);
  fftw_plan plan = nullptr;
  {
    std::lock_guard lock(planner_mutex());
    plan = fftw_plan_dft_2d(static_cast<int>(rows), static_cast<int>(cols), p, p,
                            inverse ? FFTW_BACKWARD : FFTW_FORWARD, FFTW_ESTIMATE);
  }
  if (!plan) throw std::runtime_error("fft2: FFTW could not plan a " + std::to_string(rows) + "×" +
                                      std::to_string(cols) + " transform");
  fftw_execute(plan);
  {
    std::lock_guard lock(planner_mutex());
    fftw_destroy_plan(plan);
  }
  if (inverse) {
    const double scale = 1.0 / static_cast<double>(rows * cols);
    for (std::size_t i = 0; i < rows * cols; ++i) data[i] *= scale;
  }
}

}  // namespace autostem::imaging::detail
