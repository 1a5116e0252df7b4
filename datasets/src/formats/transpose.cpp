#include "transpose.hpp"

#include <algorithm>
#include <cstdint>

namespace autostem::datasets::detail {
namespace {

struct alignas(1) E16 { unsigned char b[16]; };

// Tiles go through a small contiguous buffer: with power-of-two strides (2048 channels × 4 bytes)
// a direct blocked transpose maps every row of a tile to the same L1 set and thrashes; copying
// whole tile rows in, and whole output rows out, touches each cache line once.
template <class T>
void blocked(const T* in, T* out, std::size_t rows, std::size_t cols) {
  constexpr std::size_t B = sizeof(T) <= 4 ? 64 : 32;
  T tile[B][B];
  for (std::size_t r0 = 0; r0 < rows; r0 += B)
    for (std::size_t c0 = 0; c0 < cols; c0 += B) {
      const std::size_t nr = std::min(B, rows - r0), nc = std::min(B, cols - c0);
      for (std::size_t r = 0; r < nr; ++r) std::memcpy(tile[r], in + (r0 + r) * cols + c0, nc * sizeof(T));
      for (std::size_t c = 0; c < nc; ++c) {
        T* dst = out + (c0 + c) * rows + r0;
        for (std::size_t r = 0; r < nr; ++r) dst[r] = tile[r][c];
      }
    }
}

template <class T>
void run(const std::byte* in, std::byte* out, std::size_t rows, std::size_t cols) {
  blocked(reinterpret_cast<const T*>(in), reinterpret_cast<T*>(out), rows, cols);
}

}  // namespace

void transpose_into(const std::byte* in, std::byte* out, std::size_t rows, std::size_t cols,
                    std::size_t esize) {
  if (rows <= 1 || cols <= 1) {
    std::memcpy(out, in, rows * cols * esize);
    return;
  }
  switch (esize) {
    case 1: run<std::uint8_t>(in, out, rows, cols); break;
    case 2: run<std::uint16_t>(in, out, rows, cols); break;
    case 4: run<std::uint32_t>(in, out, rows, cols); break;
    case 8: run<std::uint64_t>(in, out, rows, cols); break;
    case 16: run<E16>(in, out, rows, cols); break;
    default:
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c)
          std::memcpy(out + (c * rows + r) * esize, in + (r * cols + c) * esize, esize);
  }
}

std::vector<std::byte> transpose_first_to_last(const std::vector<std::byte>& in, std::size_t rows,
                                               std::size_t cols, std::size_t esize) {
  std::vector<std::byte> out(in.size());
  transpose_into(in.data(), out.data(), rows, cols, esize);
  return out;
}

}  // namespace autostem::datasets::detail
