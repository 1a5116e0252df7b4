// libFuzzer target: the EMD reader (Berkeley and Velox) on arbitrary bytes, opened as an HDF5
// file image through the core driver. Only autostem's code is instrumented; libhdf5 is the
// system build, so a crash inside HDF5 shows up as a finding in HDF5 (see docs/robustness.md).
#include "formats_internal.hpp"

#include <cstddef>
#include <cstdint>
#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    (void)autostem::datasets::detail::read_emd_bytes(bytes, "fuzz.emd");
  } catch (const std::exception&) {
  }
  return 0;
}
