#include <autostem/core/types.hpp>

#include <string>
#include <utility>

namespace autostem {

SpectrumImage::SpectrumImage(std::size_t rows, std::size_t cols, EnergyAxis axis,
                             SpatialCalibration cal)
    : rows_(rows), cols_(cols), energy_(axis), calibration_(cal) {
  if (rows == 0 || cols == 0 || axis.channels == 0)
    throw std::invalid_argument("SpectrumImage: shape " + std::to_string(rows) + "×" +
                                std::to_string(cols) + "×" + std::to_string(axis.channels) +
                                " has a zero extent");
  if (!(axis.dispersion_eV > 0.0) || !std::isfinite(axis.offset_eV))
    throw std::invalid_argument("SpectrumImage: energy dispersion must be > 0 eV/channel, got " +
                                std::to_string(axis.dispersion_eV));
  data_.assign(rows * cols * axis.channels, 0.0f);
}

std::span<const float> SpectrumImage::spectrum(std::size_t row, std::size_t col) const {
  if (row >= rows_ || col >= cols_)
    throw std::out_of_range("SpectrumImage: pixel (" + std::to_string(row) + ", " +
                            std::to_string(col) + ") outside " + std::to_string(rows_) + "×" +
                            std::to_string(cols_));
  return std::span<const float>(data_).subspan((row * cols_ + col) * energy_.channels,
                                               energy_.channels);
}

std::span<float> SpectrumImage::spectrum(std::size_t row, std::size_t col) {
  auto s = std::as_const(*this).spectrum(row, col);
  return {const_cast<float*>(s.data()), s.size()};
}

ImageArray SpectrumImage::total_counts() const {
  ImageArray out(static_cast<Eigen::Index>(rows_), static_cast<Eigen::Index>(cols_));
  for (std::size_t r = 0; r < rows_; ++r)
    for (std::size_t c = 0; c < cols_; ++c) {
      double s = 0.0;
      for (float v : spectrum(r, c)) s += v;
      out(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) = s;
    }
  return out;
}

FourDStem::FourDStem(std::size_t rows, std::size_t cols, std::size_t ky, std::size_t kx,
                     SpatialCalibration cal)
    : rows_(rows), cols_(cols), ky_(ky), kx_(kx), calibration_(cal) {
  const std::string dims = std::to_string(rows) + "×" + std::to_string(cols) + "×" +
                           std::to_string(ky) + "×" + std::to_string(kx);
  if (rows == 0 || cols == 0 || ky == 0 || kx == 0)
    throw std::invalid_argument("FourDStem: shape " + dims + " has a zero extent");
  const double n = static_cast<double>(rows) * static_cast<double>(cols) *
                   static_cast<double>(ky) * static_cast<double>(kx);
  if (n > 1099511627776.0)  // 2^40 values = 4 TiB of float32: a wrong shape, not a dataset
    throw std::invalid_argument("FourDStem: shape " + dims + " holds more than 2^40 values");
  detector_ky = {"ky", "", 0.0, 1.0, ky, false};
  detector_kx = {"kx", "", 0.0, 1.0, kx, false};
  data_.assign(rows * cols * ky * kx, 0.0f);
}

std::span<const float> FourDStem::pattern(std::size_t row, std::size_t col) const {
  if (row >= rows_ || col >= cols_)
    throw std::out_of_range("FourDStem: scan pixel (" + std::to_string(row) + ", " +
                            std::to_string(col) + ") outside " + std::to_string(rows_) + "×" +
                            std::to_string(cols_));
  const std::size_t n = ky_ * kx_;
  return std::span<const float>(data_).subspan((row * cols_ + col) * n, n);
}

std::span<float> FourDStem::pattern(std::size_t row, std::size_t col) {
  auto s = std::as_const(*this).pattern(row, col);
  return {const_cast<float*>(s.data()), s.size()};
}

const char* to_string(SignalKind k) {
  switch (k) {
    case SignalKind::spectrum: return "spectrum";
    case SignalKind::diffraction: return "diffraction";
    case SignalKind::image: return "image";
  }
  return "?";
}

SignalKind signal_kind_from_string(const std::string& text) {
  for (SignalKind k : {SignalKind::spectrum, SignalKind::diffraction, SignalKind::image})
    if (text == to_string(k)) return k;
  throw std::invalid_argument("signal kind '" + text + "' is not one of spectrum, diffraction, image");
}

std::size_t SignalShape::elements() const {
  if (dims.empty()) return 0;
  std::size_t n = 1;
  for (std::size_t d : dims) n *= d;
  return n;
}

std::string SignalShape::describe() const {
  std::string s = std::string(to_string(kind)) + " (";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + ")";
}

SignalShape Measurement::signal_shape() const {
  if (shape.dims.empty()) return SignalShape::spectrum(signal.size());
  if (shape.elements() != signal.size())
    throw std::invalid_argument("measurement " + std::to_string(index) + ": its shape " +
                                shape.describe() + " holds " + std::to_string(shape.elements()) +
                                " values but the signal has " + std::to_string(signal.size()));
  return shape;
}

const char* to_string(AcquisitionMode m) {
  switch (m) {
    case AcquisitionMode::point: return "point";
    case AcquisitionMode::si_scan: return "si_scan";
  }
  return "?";
}

}  // namespace autostem
