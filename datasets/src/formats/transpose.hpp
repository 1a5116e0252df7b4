#pragma once
// Cache-blocked transpose of a C-order (rows, cols) array of fixed-size elements into
// (cols, rows): used to move DM's energy axis from slowest to fastest.
#include <cstddef>
#include <cstring>
#include <vector>

namespace autostem::datasets::detail {

/// in: C-order (rows, cols) elements of esize bytes; returns C-order (cols, rows).
std::vector<std::byte> transpose_first_to_last(const std::vector<std::byte>& in, std::size_t rows,
                                               std::size_t cols, std::size_t esize);
/// The same from `in` into `out` (both rows × cols × esize bytes, not overlapping).
void transpose_into(const std::byte* in, std::byte* out, std::size_t rows, std::size_t cols,
                    std::size_t esize);

}  // namespace autostem::datasets::detail
