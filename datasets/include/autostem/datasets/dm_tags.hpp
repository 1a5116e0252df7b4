#pragma once
// The tag tree of a Gatan DigitalMicrograph DM3/DM4 file, as C++ values and as JSON.
//
// Format (reverse-engineered — Gatan publishes no specification; this follows the public
// descriptions of DM3 by Greg Jefferis and of DM3/DM4 in openNCEM's ncempy and RosettaSciIO,
// written from the descriptions, not their code): a 12-byte (DM3) or 16-byte (DM4) big-endian header (version, file
// length, byte order of the data: 1 = little endian), then the root tag group. A group is
// (sorted u8, open u8, count u32|u64) followed by that many tags; a tag is (kind u8: 20 group,
// 21 data; label length u16; label; DM4 only: total length u64) and then either a group or
// "%%%%", an info array (count and entries u32 in DM3, u64 in DM4) describing the type, and the
// data. Structure fields are big-endian; data follows the header's byte order.

#include <autostem/datasets/signal.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace autostem::datasets {

/// DM's type codes inside a tag's info array.
enum class DMType : std::uint32_t {
  int16 = 2, int32 = 3, uint16 = 4, uint32 = 5, float32 = 6, float64 = 7, boolean = 8,
  int8 = 9, uint8 = 10, int64 = 11, uint64 = 12, structure = 15, string = 18, array = 20
};
/// "int16", "float32", ... ("struct", "string", "array" for the composite codes).
const char* dm_type_name(std::uint32_t code);

/// An array tag's payload. The bytes stay in the file image; `values` holds them converted to
/// double when the array is numeric and has at most 4096 elements (small lists such as
/// "Dimensions" data or colour tables), otherwise it is empty.
struct TagArray {
  std::uint32_t element_type = 0;  ///< DMType code of one element (15 for arrays of structs)
  std::uint64_t count = 0;         ///< number of elements
  std::uint64_t offset = 0;        ///< byte offset of the first element in the file
  std::uint64_t byte_size = 0;     ///< count × element size
  std::vector<double> values;
};

enum class TagKind : std::uint8_t {
  group,      ///< children are tags (named, or unnamed list entries)
  scalar,     ///< value holds bool, int64, uint64 or double
  string,     ///< value holds std::string (type-18 strings and uint16 arrays decoded as UTF-16)
  array,      ///< value holds TagArray; for arrays of structs, children are the structs
  structure   ///< children are the fields (scalars, usually unnamed)
};

using TagValue =
    std::variant<std::monostate, bool, std::int64_t, std::uint64_t, double, std::string, TagArray>;

struct TagNode {
  std::string name;  ///< empty for entries of a list (e.g. ImageList's images)
  TagKind kind = TagKind::group;
  std::uint32_t dm_type = 0;  ///< DMType code of a scalar (0 for groups)
  TagValue value;
  std::vector<TagNode> children;

  /// First child with this name, or nullptr.
  const TagNode* child(std::string_view child_name) const;
  /// Follows a dotted path ("ImageList.1.ImageData.Calibrations"); a numeric component selects
  /// the child by position. Returns nullptr when any step is missing.
  const TagNode* find(std::string_view dotted_path) const;
  /// The value as a number (scalars; bool gives 0/1), or nullopt.
  std::optional<double> number() const;
  /// Scalars and strings as text (numbers with up to 17 significant digits); "" otherwise.
  std::string text() const;
};

/// A parsed DM file.
struct DMFile {
  int version = 0;            ///< 3 or 4
  bool little_endian = true;  ///< byte order of the data values
  std::uint64_t declared_size = 0;
  TagNode root;
};

/// Limits that keep hostile files from exhausting the stack or memory.
inline constexpr int kDMMaxDepth = 64;
inline constexpr std::uint64_t kDMMaxTags = 1'000'000;

/// Parses the tag tree of a DM3/DM4 file image. `source` names the file in error messages.
/// Every count and length is checked against the bytes that remain before anything is allocated.
/// Throws std::runtime_error("<source>: at byte N: <problem>") for an unknown version, a
/// truncated file, an unknown type code, nesting deeper than kDMMaxDepth or more than kDMMaxTags.
DMFile parse_dm_tags(std::span<const std::byte> file, const std::string& source);
/// Reads and parses a file; throws as parse_dm_tags, or if the file cannot be read.
DMFile read_dm_tags(const std::filesystem::path& path);

/// The tree as JSON: a group becomes an object (an array when all its children are unnamed), a
/// struct an array of its fields, an array its values (or {"type", "count", "offset"} when large).
/// Non-finite numbers become null.
std::string tags_to_json(const TagNode& node, int indent = 2);

/// Every image of a DM file image (thumbnail skipped): see read_dm(path) in formats.hpp for the
/// axis conventions. Throws std::runtime_error naming `source` and the offending tag.
std::vector<Signal> read_dm_bytes(std::span<const std::byte> file, const std::string& source);

}  // namespace autostem::datasets
