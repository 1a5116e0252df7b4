// libFuzzer target: the TIA .ser reader and the .emi ObjectInfo parser on arbitrary bytes.
#include "formats_internal.hpp"

#include <cstddef>
#include <cstdint>
#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const auto sigs = autostem::datasets::detail::read_ser_bytes(bytes, "fuzz.ser", bytes);
    for (const auto& s : sigs) {
      std::size_t n = 1;
      for (const auto& a : s.axes) n *= a.size;
      if (n * autostem::datasets::dtype_size(s.dtype) != s.bytes.size()) __builtin_trap();
    }
  } catch (const std::exception&) {
  }
  return 0;
}
