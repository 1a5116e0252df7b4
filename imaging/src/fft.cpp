#include "fft.hpp"

#include <fftw3.h>

#include <map>
#include <mutex>
#include <tuple>
#include <vector>
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

void fft2_cached(std::complex<double>* data, std::size_t rows, std::size_t cols, bool inverse) {
  if (rows == 0 || cols == 0)
    throw std::invalid_argument("fft2_cached: array " + std::to_string(rows) + "×" +
                                std::to_string(cols) + " has a zero extent");
  auto* p = reinterpret_cast<fftw_complex*>(data);
  fftw_plan plan = nullptr;
  {
    // Plans live until the process ends (a handful of sizes in practice); the map is guarded by
    // the planner mutex because planning must be serialised anyway.
    static std::map<std::tuple<std::size_t, std::size_t, bool>, fftw_plan> plans;
    std::lock_guard lock(planner_mutex());
    auto& slot = plans[{rows, cols, inverse}];
    if (!slot) {
      std::vector<std::complex<double>> scratch(rows * cols);
      auto* s = reinterpret_cast<fftw_complex*>(scratch.data());
      slot = fftw_plan_dft_2d(static_cast<int>(rows), static_cast<int>(cols), s, s,
                              inverse ? FFTW_BACKWARD : FFTW_FORWARD,
                              FFTW_ESTIMATE | FFTW_UNALIGNED);
    }
    plan = slot;
  }
  if (!plan) throw std::runtime_error("fft2_cached: FFTW could not plan a " + std::to_string(rows) +
                                      "×" + std::to_string(cols) + " transform");
  fftw_execute_dft(plan, p, p);
}

}  // namespace autostem::imaging::detail
