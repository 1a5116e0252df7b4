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

const char* to_string(AcquisitionMode m) {
  switch (m) {
    case AcquisitionMode::point: return "point";
    case AcquisitionMode::si_scan: return "si_scan";
  }
  return "?";
}

}  // namespace autostem
