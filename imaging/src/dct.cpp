#include "dct.hpp"

#include <autostem/imaging/fista.hpp>

#include <fftw3.h>

#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>

namespace autostem::reconstruction {

namespace detail {

namespace {

std::mutex& planner_mutex() {
  static std::mutex m;
  return m;
}

/// Plans are made once per shape and process with FFTW_MEASURE (about twice as fast to execute
/// as FFTW_ESTIMATE at 512² here, for ~1 s of planning), then executed on any fftw_malloc'd
/// arrays with the new-array interface, which is thread-safe (FFTW manual §4.6, §5.4).
struct Plans {
  fftw_plan fwd = nullptr, inv = nullptr;
};

const Plans& plans_for(std::size_t rows, std::size_t cols) {
  static std::map<std::pair<std::size_t, std::size_t>, Plans> cache;
  std::lock_guard lock(planner_mutex());
  auto it = cache.find({rows, cols});
  if (it != cache.end()) return it->second;
  double* a = static_cast<double*>(fftw_malloc(sizeof(double) * rows * cols));
  double* b = static_cast<double*>(fftw_malloc(sizeof(double) * rows * cols));
  const unsigned flags = rows * cols >= 64 * 64 ? FFTW_MEASURE : FFTW_ESTIMATE;
  Plans p;
  p.fwd = fftw_plan_r2r_2d(static_cast<int>(rows), static_cast<int>(cols), a, b, FFTW_REDFT10,
                           FFTW_REDFT10, flags);
  p.inv = fftw_plan_r2r_2d(static_cast<int>(rows), static_cast<int>(cols), a, b, FFTW_REDFT01,
                           FFTW_REDFT01, flags);
  fftw_free(a);
  fftw_free(b);
  if (!p.fwd || !p.inv) throw std::runtime_error("dct2: FFTW could not plan the transform");
  return cache.emplace(std::make_pair(rows, cols), p).first->second;
}

/// Per-axis factors: s (forward, after REDFT10) and t (inverse, before REDFT01).
void axis_factors(std::size_t n, std::vector<double>& s, std::vector<double>& t) {
  const double N = static_cast<double>(n);
  s.assign(n, 1.0 / std::sqrt(2.0 * N));
  t.assign(n, 1.0 / std::sqrt(2.0 * N));
  s[0] = 1.0 / (2.0 * std::sqrt(N));
  t[0] = 1.0 / std::sqrt(N);
}

}  // namespace

Dct2Plan::Dct2Plan(std::size_t rows, std::size_t cols) : rows_(rows), cols_(cols) {
  if (rows == 0 || cols == 0) throw std::invalid_argument("dct2: empty array");
  axis_factors(rows, sr_, tr_);
  axis_factors(cols, sc_, tc_);
  const Plans& p = plans_for(rows, cols);
  fwd_ = p.fwd;
  inv_ = p.inv;
  buf_in_ = static_cast<double*>(fftw_malloc(sizeof(double) * rows * cols));
  buf_out_ = static_cast<double*>(fftw_malloc(sizeof(double) * rows * cols));
}

Dct2Plan::~Dct2Plan() {
  fftw_free(buf_in_);
  fftw_free(buf_out_);
}

void Dct2Plan::forward(const double* in, double* out) {
  std::memcpy(buf_in_, in, sizeof(double) * rows_ * cols_);
  fftw_execute_r2r(static_cast<fftw_plan>(fwd_), buf_in_, buf_out_);
  for (std::size_t r = 0; r < rows_; ++r) {
    const double f = sr_[r];
    const double* b = buf_out_ + r * cols_;
    double* o = out + r * cols_;
    for (std::size_t c = 0; c < cols_; ++c) o[c] = b[c] * f * sc_[c];
  }
}

void Dct2Plan::inverse(const double* in, double* out) {
  for (std::size_t r = 0; r < rows_; ++r) {
    const double f = tr_[r];
    const double* i = in + r * cols_;
    double* b = buf_in_ + r * cols_;
    for (std::size_t c = 0; c < cols_; ++c) b[c] = i[c] * f * tc_[c];
  }
  fftw_execute_r2r(static_cast<fftw_plan>(inv_), buf_in_, buf_out_);
  std::memcpy(out, buf_out_, sizeof(double) * rows_ * cols_);
}

}  // namespace detail

ImageArray dct2(const ImageArray& image) {
  if (image.size() == 0) throw std::invalid_argument("dct2: empty image");
  detail::Dct2Plan plan(static_cast<std::size_t>(image.rows()), static_cast<std::size_t>(image.cols()));
  ImageArray out(image.rows(), image.cols());
  plan.forward(image.data(), out.data());
  return out;
}

ImageArray idct2(const ImageArray& coefficients) {
  if (coefficients.size() == 0) throw std::invalid_argument("idct2: empty array");
  detail::Dct2Plan plan(static_cast<std::size_t>(coefficients.rows()),
                        static_cast<std::size_t>(coefficients.cols()));
  ImageArray out(coefficients.rows(), coefficients.cols());
  plan.inverse(coefficients.data(), out.data());
  return out;
}

}  // namespace autostem::reconstruction
