// libFuzzer target: the DM3/DM4 tag parser, signal extraction and JSON printer on arbitrary bytes.
// Contract: a result or a std::exception; ASan/UBSan flag anything else. See docs/robustness.md.
#include <autostem/datasets/dm_tags.hpp>

#include <cstddef>
#include <cstdint>
#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const auto dm = autostem::datasets::parse_dm_tags(bytes, "fuzz.dm");
    (void)autostem::datasets::tags_to_json(dm.root);
  } catch (const std::exception&) {
  }
  try {
    const auto sigs = autostem::datasets::read_dm_bytes(bytes, "fuzz.dm");
    for (const auto& s : sigs) {
      std::size_t n = 1;
      for (const auto& a : s.axes) n *= a.size;
      if (n * autostem::datasets::dtype_size(s.dtype) != s.bytes.size()) __builtin_trap();
      if (n > 0) (void)s.value(n - 1);
    }
  } catch (const std::exception&) {
  }
  return 0;
}
