#include <autostem/core/ground_truth.hpp>

#include <stdexcept>
#include <string>

namespace autostem {

namespace {
std::string shape(std::size_t r, std::size_t c) {
  return std::to_string(r) + "×" + std::to_string(c);
}
}  // namespace

void GroundTruth::validate() const {
  if (survey.rows() == 0 || survey.cols() == 0)
    throw std::invalid_argument("ground truth '" + source + "': the survey image is empty");
  if (spectrum_image &&
      (spectrum_image->rows() != rows() || spectrum_image->cols() != cols()))
    throw std::invalid_argument("ground truth '" + source + "': spectrum image is " +
                                shape(spectrum_image->rows(), spectrum_image->cols()) +
                                " pixels but the survey is " + shape(rows(), cols()) +
                                "; they must share one pixel grid");
  if (four_d && (four_d->rows() != rows() || four_d->cols() != cols()))
    throw std::invalid_argument("ground truth '" + source + "': 4D-STEM data are " +
                                shape(four_d->rows(), four_d->cols()) +
                                " scan pixels but the survey is " + shape(rows(), cols()) +
                                "; they must share one pixel grid");
  if (four_d && spectrum_image)
    throw std::invalid_argument("ground truth '" + source +
                                "': both a spectrum image and 4D-STEM data; a simulation measures "
                                "one kind of signal, give one of them");
  if (roi_mask && (static_cast<std::size_t>(roi_mask->rows()) != rows() ||
                   static_cast<std::size_t>(roi_mask->cols()) != cols()))
    throw std::invalid_argument("ground truth '" + source + "': region-of-interest mask is " +
                                shape(roi_mask->rows(), roi_mask->cols()) +
                                " but the survey is " + shape(rows(), cols()));
}

}  // namespace autostem
