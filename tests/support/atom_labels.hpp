#pragma once
// Shared by the atom-finding tests (imaging/test_atoms, torch/test_atomnet, test_atomnet_unseen):
// a 2-D Signal as an image, and the published atom labels of MANIFEST's graphene images
// (CSV: row_px,col_px,class with a header row).

#include <autostem/core/types.hpp>
#include <autostem/datasets/signal.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace autostem::testing {

/// The (rows, cols) image of a 2-D signal, values as doubles. Throws std::invalid_argument for
/// any other number of dimensions.
inline ImageArray to_image(const datasets::Signal& s) {
  const auto shape = s.shape();
  if (shape.size() != 2) throw std::invalid_argument("expected a 2-D image");
  ImageArray a(static_cast<Eigen::Index>(shape[0]), static_cast<Eigen::Index>(shape[1]));
  const auto v = s.to_double();
  std::copy(v.begin(), v.end(), a.data());
  return a;
}

/// Atom positions (row, col px) of a labels CSV; the header row and empty lines are skipped.
inline std::vector<Position> read_atoms_csv(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);  // header row_px,col_px,class
  std::vector<Position> out;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::stringstream ss(line);
    std::string a, b;
    std::getline(ss, a, ',');
    std::getline(ss, b, ',');
    out.push_back({std::stod(a), std::stod(b)});
  }
  return out;
}

}  // namespace autostem::testing
