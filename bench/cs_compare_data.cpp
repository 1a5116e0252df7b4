// Writes the ground-truth images bench/cs_compare.py compares reconstructions on, as .npy:
//   nanoparticles.npy  the nanoparticles phantom's survey (seed 0, 128×128), datasets::make_phantom
//   sto.npy            SrTiO3 HAADF, haadf/sto_ser/16_STOimage_1.ser: the 256×256 crop of TIA's
//                      first 256 stored rows × first 256 columns, in stored row order — the pixels
//                      docs/compressed-sensing.md was measured on (the SER reader now flips TIA's
//                      bottom-up rows like HyperSpy, so this is its bottom-left crop, rows reversed)
//   graphene.npy       haadf/graphene/G-Si-2nm.npy (256×256)
// usage: cs_compare_data DATA_DIR OUT_DIR

#include <autostem/datasets/npy.hpp>
#include <autostem/datasets/phantoms.hpp>
#include <autostem/datasets/signal.hpp>

#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>

namespace {

using namespace autostem;

void write(const std::filesystem::path& path, const ImageArray& img) {
  datasets::Signal s;
  s.dtype = datasets::DType::float64;
  s.axes = {{"y", "", 0, 1, std::size_t(img.rows()), false},
            {"x", "", 0, 1, std::size_t(img.cols()), false}};
  s.bytes.resize(sizeof(double) * std::size_t(img.size()));
  std::memcpy(s.bytes.data(), img.data(), s.bytes.size());
  datasets::write_npy(path, s);
}

// The top-left rows × cols of a 2-D signal; with from_bottom, its last `rows` rows in reverse order.
ImageArray image_of(const datasets::Signal& s, Eigen::Index rows, Eigen::Index cols, bool from_bottom = false) {
  const auto shape = s.shape();
  const auto v = s.to_double();
  ImageArray img(rows, cols);
  for (Eigen::Index r = 0; r < rows; ++r) {
    const std::size_t src = from_bottom ? shape.front() - 1 - std::size_t(r) : std::size_t(r);
    for (Eigen::Index c = 0; c < cols; ++c) img(r, c) = v[src * shape.back() + std::size_t(c)];
  }
  return img;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: cs_compare_data DATA_DIR OUT_DIR\n");
    return 2;
  }
  try {
    const std::filesystem::path data = argv[1], out = argv[2];
    std::filesystem::create_directories(out);
    write(out / "nanoparticles.npy", datasets::make_phantom("nanoparticles", 0).survey.data);
    write(out / "sto.npy", image_of(datasets::read_signal(data / "haadf/sto_ser/16_STOimage_1.ser"), 256, 256, true));
    write(out / "graphene.npy", image_of(datasets::read_signal(data / "haadf/graphene/G-Si-2nm.npy"), 256, 256));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cs_compare_data: %s\n", e.what());
    return 1;
  }
}
