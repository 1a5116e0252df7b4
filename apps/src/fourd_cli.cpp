#include "fourd_cli.hpp"

#include "cli.hpp"

#include <autostem/datasets/ground_truth.hpp>

#include <optional>
#include <stdexcept>

namespace autostem::cli {

GroundTruth load_four_d_file(const std::filesystem::path& file) {
  GroundTruth gt = datasets::load_ground_truth(file, std::nullopt);
  if (!gt.four_d)
    throw std::invalid_argument(file.string() + " holds no 4D-STEM data (scan y, x; detector ky, kx); "
                                "autostem info shows what it holds");
  return gt;
}

ScanRotation scan_rotation_option(const std::string& option, const std::string& text) {
  try {
    return parse_scan_rotation(text);
  } catch (const std::invalid_argument& e) {
    throw UsageError(option + ": " + e.what());
  }
}

}  // namespace autostem::cli
