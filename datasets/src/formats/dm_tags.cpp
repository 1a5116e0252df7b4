// DM3/DM4 tag-tree parser and JSON printer (see dm_tags.hpp for the layout).
#include <autostem/datasets/dm_tags.hpp>

#include "../json_text.hpp"
#include "byte_cursor.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>

namespace autostem::datasets {
namespace detail {

void byteswap_words(std::byte* data, std::size_t bytes, std::size_t width) {
  if (width <= 1) return;
  const std::size_t n = bytes / width;
  switch (width) {
    case 2: {
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t v;
        std::memcpy(&v, data + 2 * i, 2);
        v = static_cast<std::uint16_t>((v >> 8) | (v << 8));
        std::memcpy(data + 2 * i, &v, 2);
      }
      break;
    }
    case 4: {
      for (std::size_t i = 0; i < n; ++i) {
        std::uint32_t v;
        std::memcpy(&v, data + 4 * i, 4);
        v = __builtin_bswap32(v);
        std::memcpy(data + 4 * i, &v, 4);
      }
      break;
    }
    case 8: {
      for (std::size_t i = 0; i < n; ++i) {
        std::uint64_t v;
        std::memcpy(&v, data + 8 * i, 8);
        v = __builtin_bswap64(v);
        std::memcpy(data + 8 * i, &v, 8);
      }
      break;
    }
    default:
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t k = 0; k < width / 2; ++k) std::swap(data[i * width + k], data[i * width + width - 1 - k]);
  }
}

FileBuffer::~FileBuffer() {
  if (mapped_ && ptr_) ::munmap(const_cast<std::byte*>(ptr_), size_);
}

FileBuffer read_file_bytes(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw std::runtime_error(path.string() + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw std::runtime_error(path.string() + ": not a regular file");
  }
  FileBuffer buf;
  buf.size_ = static_cast<std::size_t>(st.st_size);
  if (buf.size_ >= (std::size_t{1} << 20)) {
    void* p = ::mmap(nullptr, buf.size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (p != MAP_FAILED) {
      ::close(fd);
      buf.ptr_ = static_cast<const std::byte*>(p);
      buf.mapped_ = true;
      return buf;
    }
  }
  buf.heap_ = std::make_unique_for_overwrite<std::byte[]>(buf.size_ ? buf.size_ : 1);
  buf.ptr_ = buf.heap_.get();
  std::size_t done = 0;
  while (done < buf.size_) {
    const ssize_t got = ::read(fd, buf.heap_.get() + done, buf.size_ - done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      const std::string err = got < 0 ? std::strerror(errno) : "unexpected end of file";
      ::close(fd);
      throw std::runtime_error(path.string() + ": read failed at byte " + std::to_string(done) +
                               ": " + err);
    }
    done += static_cast<std::size_t>(got);
  }
  ::close(fd);
  return buf;
}

void resize_for_overwrite_large(std::vector<std::byte>& v, std::size_t n) {
  constexpr std::size_t huge = std::size_t{2} << 20;
  if (n >= 2 * huge && v.capacity() < n) {
    v.clear();
    v.reserve(n);
    // Advise the 2 MiB-aligned interior of the fresh (untouched) allocation.
    const auto begin = reinterpret_cast<std::uintptr_t>(v.data());
    const std::uintptr_t lo = (begin + huge - 1) & ~(huge - 1);
    const std::uintptr_t hi = (begin + n) & ~(huge - 1);
    if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
  }
  v.resize(n);
}

}  // namespace detail

namespace {

/// DM writes tag labels and 8-bit strings in the Windows code page (e.g. "Emission Current (µA)"
/// with µ = 0xB5). Text that is already valid UTF-8 is kept; otherwise each byte is read as
/// Latin-1 and re-encoded, so labels reach JSON and HDF5 attribute names as valid UTF-8.
std::string to_utf8(const char* p, std::size_t n) {
  std::size_t i = 0;
  bool valid = true;
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  while (i < n && valid) {
    const unsigned char c = u[i];
    const std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > n) { valid = false; break; }
    for (std::size_t k = 1; k < len; ++k)
      if ((u[i + k] & 0xC0) != 0x80) valid = false;
    i += len;
  }
  if (valid) return std::string(p, n);
  std::string out;
  out.reserve(n + n / 4);
  for (std::size_t k = 0; k < n; ++k) {
    const unsigned char c = u[k];
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}


using detail::ByteCursor;

std::size_t simple_size(std::uint32_t code) {
  switch (code) {
    case 2: case 4: return 2;
    case 3: case 5: case 6: return 4;
    case 7: case 11: case 12: return 8;
    case 8: case 9: case 10: return 1;
    default: return 0;
  }
}

// Decodes one simple value at p (byte order `le`) to a TagValue.
TagValue decode_simple(const std::byte* p, std::uint32_t code, bool le) {
  auto get = [&](auto tag) {
    using T = decltype(tag);
    T v;
    std::memcpy(&v, p, sizeof(T));
    if (le != (std::endian::native == std::endian::little)) v = detail::byteswap_value(v);
    return v;
  };
  switch (code) {
    case 2: return std::int64_t{get(std::int16_t{})};
    case 3: return std::int64_t{get(std::int32_t{})};
    case 4: return std::uint64_t{get(std::uint16_t{})};
    case 5: return std::uint64_t{get(std::uint32_t{})};
    case 6: return double{get(float{})};
    case 7: return get(double{});
    case 8: return get(std::uint8_t{}) != 0;
    case 9: return std::int64_t{get(std::int8_t{})};
    case 10: return std::uint64_t{get(std::uint8_t{})};
    case 11: return get(std::int64_t{});
    case 12: return get(std::uint64_t{});
    default: return std::monostate{};
  }
}

double as_double(const TagValue& v) {
  if (auto* b = std::get_if<bool>(&v)) return *b ? 1.0 : 0.0;
  if (auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  if (auto* u = std::get_if<std::uint64_t>(&v)) return static_cast<double>(*u);
  if (auto* d = std::get_if<double>(&v)) return *d;
  return 0.0;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string utf16_to_utf8(const std::byte* p, std::uint64_t count, bool le) {
  std::string out;
  out.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint16_t u;
    std::memcpy(&u, p + 2 * i, 2);
    if (le != (std::endian::native == std::endian::little)) u = detail::byteswap_value(u);
    std::uint32_t cp = u;
    if (u >= 0xD800 && u < 0xDC00 && i + 1 < count) {
      std::uint16_t lo;
      std::memcpy(&lo, p + 2 * (i + 1), 2);
      if (le != (std::endian::native == std::endian::little)) lo = detail::byteswap_value(lo);
      if (lo >= 0xDC00 && lo < 0xE000) {
        cp = 0x10000 + ((u - 0xD800u) << 10) + (lo - 0xDC00u);
        ++i;
      }
    } else if (u >= 0xD800 && u < 0xE000) {
      cp = 0xFFFD;
    }
    if (cp == 0 && i + 1 == count) break;  // trailing NUL
    append_utf8(out, cp);
  }
  return out;
}

struct Parser {
  ByteCursor cur;
  int version;
  bool le;
  std::uint64_t tags = 0;

  std::uint64_t count_field(const char* what) {
    return version == 4 ? cur.be<std::uint64_t>(what) : cur.be<std::uint32_t>(what);
  }

  void bump_tags() {
    if (++tags > kDMMaxTags)
      cur.fail("more than " + std::to_string(kDMMaxTags) + " tags (hostile or corrupt file)");
  }

  void parse_group(TagNode& node, int depth) {
    if (depth > kDMMaxDepth)
      cur.fail("tag groups nested deeper than " + std::to_string(kDMMaxDepth) + " levels");
    node.kind = TagKind::group;
    cur.skip(2, "group header (sorted, open)");
    const std::uint64_t n = count_field("group tag count");
    // Every tag takes at least 3 bytes (kind + label length), so a count beyond that is a lie.
    if (n > cur.remaining() / 3)
      cur.fail("group '" + node.name + "' declares " + std::to_string(n) +
               " tags, more than the remaining " + std::to_string(cur.remaining()) + " bytes can hold");
    node.children.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(n, 4096)));
    for (std::uint64_t i = 0; i < n; ++i) {
      bump_tags();
      const std::uint64_t tag_pos = cur.pos();
      const auto kind = cur.be<std::uint8_t>("tag kind");
      if (kind == 0) {
        // Some writers end the root early with a zero tag; nothing follows.
        break;
      }
      const auto label_len = cur.be<std::uint16_t>("tag label length");
      const auto* label = cur.take(label_len, "tag label");
      TagNode child;
      child.name = to_utf8(reinterpret_cast<const char*>(label), label_len);
      std::uint64_t end = 0;
      if (version == 4) {
        const std::uint64_t len = cur.be<std::uint64_t>("DM4 tag length");
        if (len > cur.remaining())
          cur.fail("tag '" + child.name + "' declares length " + std::to_string(len) +
                   " beyond the end of the file");
        end = cur.pos() + len;
      }
      if (kind == 20) {
        parse_group(child, depth + 1);
      } else if (kind == 21) {
        parse_data(child, depth);
      } else {
        detail::format_error(cur.source(), tag_pos,
                             "tag kind " + std::to_string(kind) + " (expected 20 = group or 21 = data) in group '" +
                                 node.name + "'");
      }
      (void)end;
      node.children.push_back(std::move(child));
    }
  }

  struct TypeInfo {
    std::uint32_t code = 0;
    std::vector<std::uint32_t> fields;  // struct field codes
    std::uint32_t elem = 0;             // array element code
    std::uint64_t count = 0;            // array length or string length
  };

  std::uint64_t struct_size(const std::vector<std::uint32_t>& fields) const {
    std::uint64_t s = 0;
    for (auto f : fields) s += simple_size(f);
    return s;
  }

  // Reads the struct description that follows code 15 in an info array.
  void read_struct_info(const std::vector<std::uint64_t>& info, std::size_t& k, TypeInfo& t,
                        const std::string& name) {
    if (k + 2 > info.size()) cur.fail("tag '" + name + "': struct description truncated");
    k++;  // struct name length (unused; always 0 in practice)
    const std::uint64_t nf = info[k++];
    if (nf == 0 || nf > (info.size() - k) / 2)
      cur.fail("tag '" + name + "': struct declares " + std::to_string(nf) +
               " fields but its description has room for " + std::to_string((info.size() - k) / 2));
    for (std::uint64_t f = 0; f < nf; ++f) {
      k++;  // field name length
      const std::uint64_t code = info[k++];
      if (simple_size(static_cast<std::uint32_t>(code)) == 0 || code > 12)
        cur.fail("tag '" + name + "': struct field " + std::to_string(f) + " has type " +
                 std::to_string(code) + "; expected a simple type (2–12)");
      t.fields.push_back(static_cast<std::uint32_t>(code));
    }
  }

  void parse_data(TagNode& node, int depth) {
    if (depth > kDMMaxDepth) cur.fail("tags nested deeper than " + std::to_string(kDMMaxDepth));
    const auto* magic = cur.take(4, "data tag marker '%%%%'");
    if (std::memcmp(magic, "%%%%", 4) != 0)
      detail::format_error(cur.source(), cur.pos() - 4,
                           "data tag '" + node.name + "' lacks the '%%%%' marker");
    const std::uint64_t ninfo = count_field("info array length");
    const std::uint64_t width = version == 4 ? 8 : 4;
    if (ninfo == 0 || ninfo > cur.remaining() / width)
      cur.fail("tag '" + node.name + "' declares an info array of " + std::to_string(ninfo) +
               " entries; the file has " + std::to_string(cur.remaining()) + " bytes left");
    std::vector<std::uint64_t> info(static_cast<std::size_t>(ninfo));
    for (auto& v : info) v = count_field("info entry");
    std::size_t k = 0;
    const std::uint64_t code = info[k++];
    const std::uint64_t info_pos = cur.pos();
    if (code >= 2 && code <= 12) {
      const auto* p = cur.take(simple_size(static_cast<std::uint32_t>(code)), "scalar value");
      node.kind = TagKind::scalar;
      node.dm_type = static_cast<std::uint32_t>(code);
      node.value = decode_simple(p, node.dm_type, le);
    } else if (code == 18) {
      if (k >= info.size()) cur.fail("tag '" + node.name + "': string without a length");
      const std::uint64_t len = info[k];
      const auto* p = cur.take(len, "string value");
      node.kind = TagKind::string;
      node.dm_type = 18;
      node.value = to_utf8(reinterpret_cast<const char*>(p), static_cast<std::size_t>(len));
    } else if (code == 15) {
      TypeInfo t;
      read_struct_info(info, k, t, node.name);
      node.kind = TagKind::structure;
      node.dm_type = 15;
      read_struct_values(node, t.fields);
    } else if (code == 20) {
      if (k >= info.size()) cur.fail("tag '" + node.name + "': array without element type");
      TypeInfo t;
      t.elem = static_cast<std::uint32_t>(info[k++]);
      if (t.elem == 15) {
        read_struct_info(info, k, t, node.name);
      } else if (simple_size(t.elem) == 0) {
        cur.fail("tag '" + node.name + "': array of type " + std::to_string(t.elem) +
                 "; expected a simple type (2–12) or a struct (15)");
      }
      if (k >= info.size()) cur.fail("tag '" + node.name + "': array without a length");
      t.count = info[k++];
      const std::uint64_t esize = t.elem == 15 ? struct_size(t.fields) : simple_size(t.elem);
      if (esize == 0 || t.count > cur.remaining() / esize)
        cur.fail("tag '" + node.name + "': array of " + std::to_string(t.count) + " × " +
                 std::to_string(esize) + " bytes exceeds the " + std::to_string(cur.remaining()) +
                 " bytes left in the file");
      TagArray arr;
      arr.element_type = t.elem;
      arr.count = t.count;
      arr.offset = cur.pos();
      arr.byte_size = t.count * esize;
      node.dm_type = 20;
      if (t.elem == 4 && node.name != "Data" && t.count <= (1u << 20)) {
        // DM stores text as arrays of UTF-16 code units.
        const auto* p = cur.take(arr.byte_size, "string array");
        node.kind = TagKind::string;
        node.value = utf16_to_utf8(p, t.count, le);
      } else if (t.elem == 15) {
        node.kind = TagKind::array;
        const std::uint64_t start = cur.pos();
        if (t.count <= 4096) {
          node.children.reserve(static_cast<std::size_t>(t.count));
          for (std::uint64_t i = 0; i < t.count; ++i) {
            bump_tags();
            TagNode s;
            s.kind = TagKind::structure;
            s.dm_type = 15;
            read_struct_values(s, t.fields);
            node.children.push_back(std::move(s));
          }
        }
        cur.seek(start + arr.byte_size, "end of struct array");
        node.value = std::move(arr);
      } else {
        node.kind = TagKind::array;
        const auto* p = cur.take(arr.byte_size, "array data");
        if (t.count <= 4096) {
          arr.values.reserve(static_cast<std::size_t>(t.count));
          for (std::uint64_t i = 0; i < t.count; ++i)
            arr.values.push_back(as_double(decode_simple(p + i * esize, t.elem, le)));
        }
        node.value = std::move(arr);
      }
    } else {
      detail::format_error(cur.source(), info_pos,
                           "tag '" + node.name + "' has type code " + std::to_string(code) +
                               "; expected 2–12, 15, 18 or 20");
    }
  }

  void read_struct_values(TagNode& node, const std::vector<std::uint32_t>& fields) {
    node.children.reserve(fields.size());
    for (auto f : fields) {
      bump_tags();
      const auto* p = cur.take(simple_size(f), "struct field");
      TagNode c;
      c.kind = TagKind::scalar;
      c.dm_type = f;
      c.value = decode_simple(p, f, le);
      node.children.push_back(std::move(c));
    }
  }
};

void json_escape(std::string& out, std::string_view s) { out += detail::json_quote(s); }

void json_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  // %.15g is exact for every float32 and for most decimal doubles; fall back to %.17g, which
  // always round-trips.
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  if (std::strtod(buf, nullptr) != v) std::snprintf(buf, sizeof buf, "%.17g", v);
  out += buf;
}

void json_value(std::string& out, const TagValue& v) {
  if (auto* b = std::get_if<bool>(&v)) out += *b ? "true" : "false";
  else if (auto* i = std::get_if<std::int64_t>(&v)) out += std::to_string(*i);
  else if (auto* u = std::get_if<std::uint64_t>(&v)) out += std::to_string(*u);
  else if (auto* d = std::get_if<double>(&v)) json_number(out, *d);
  else if (auto* s = std::get_if<std::string>(&v)) json_escape(out, *s);
  else out += "null";
}

void json_node(std::string& out, const TagNode& n, int indent, int level) {
  const std::string pad = indent > 0 ? "\n" + std::string(static_cast<std::size_t>(indent * (level + 1)), ' ') : "";
  const std::string pad_end = indent > 0 ? "\n" + std::string(static_cast<std::size_t>(indent * level), ' ') : "";
  switch (n.kind) {
    case TagKind::scalar:
    case TagKind::string:
      json_value(out, n.value);
      return;
    case TagKind::structure: {
      out += '[';
      for (std::size_t i = 0; i < n.children.size(); ++i) {
        if (i) out += ", ";
        json_node(out, n.children[i], indent, level + 1);
      }
      out += ']';
      return;
    }
    case TagKind::array: {
      const auto& a = std::get<TagArray>(n.value);
      if (!n.children.empty() || a.count == 0) {
        out += '[';
        for (std::size_t i = 0; i < n.children.size(); ++i) {
          if (i) out += ", ";
          json_node(out, n.children[i], indent, level + 1);
        }
        out += ']';
      } else if (!a.values.empty()) {
        out += '[';
        for (std::size_t i = 0; i < a.values.size(); ++i) {
          if (i) out += ", ";
          json_number(out, a.values[i]);
        }
        out += ']';
      } else {
        out += "{\"type\": ";
        json_escape(out, dm_type_name(a.element_type));
        out += ", \"count\": " + std::to_string(a.count) + ", \"offset\": " + std::to_string(a.offset) + "}";
      }
      return;
    }
    case TagKind::group: {
      bool all_unnamed = !n.children.empty();
      for (const auto& c : n.children) all_unnamed = all_unnamed && c.name.empty();
      out += all_unnamed ? '[' : '{';
      for (std::size_t i = 0; i < n.children.size(); ++i) {
        if (i) out += ',';
        out += pad;
        if (!all_unnamed) {
          json_escape(out, n.children[i].name.empty() ? std::to_string(i) : n.children[i].name);
          out += ": ";
        }
        json_node(out, n.children[i], indent, level + 1);
      }
      if (!n.children.empty()) out += pad_end;
      out += all_unnamed ? ']' : '}';
      return;
    }
  }
}

}  // namespace

const char* dm_type_name(std::uint32_t code) {
  switch (code) {
    case 2: return "int16";
    case 3: return "int32";
    case 4: return "uint16";
    case 5: return "uint32";
    case 6: return "float32";
    case 7: return "float64";
    case 8: return "bool";
    case 9: return "int8";
    case 10: return "uint8";
    case 11: return "int64";
    case 12: return "uint64";
    case 15: return "struct";
    case 18: return "string";
    case 20: return "array";
    default: return "unknown";
  }
}

const TagNode* TagNode::child(std::string_view child_name) const {
  for (const auto& c : children)
    if (c.name == child_name) return &c;
  return nullptr;
}

const TagNode* TagNode::find(std::string_view path) const {
  const TagNode* n = this;
  while (n && !path.empty()) {
    const auto dot = path.find('.');
    const std::string_view part = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
    const TagNode* next = n->child(part);
    if (!next) {
      std::size_t idx = 0;
      const auto r = std::from_chars(part.data(), part.data() + part.size(), idx);
      if (r.ec == std::errc{} && r.ptr == part.data() + part.size() && idx < n->children.size())
        next = &n->children[idx];
    }
    n = next;
  }
  return n;
}

std::optional<double> TagNode::number() const {
  if (kind != TagKind::scalar) return std::nullopt;
  return as_double(value);
}

std::string TagNode::text() const {
  if (auto* s = std::get_if<std::string>(&value)) return *s;
  if (kind != TagKind::scalar) return {};
  if (auto* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
  if (auto* i = std::get_if<std::int64_t>(&value)) return std::to_string(*i);
  if (auto* u = std::get_if<std::uint64_t>(&value)) return std::to_string(*u);
  std::string out;
  json_number(out, std::get<double>(value));
  return out == "null" ? "nan" : out;
}

DMFile parse_dm_tags(std::span<const std::byte> file, const std::string& source) {
  ByteCursor cur(file, source);
  DMFile out;
  const auto version = cur.be<std::uint32_t>("DM version");
  if (version != 3 && version != 4)
    detail::format_error(source, 0,
                         "DM version " + std::to_string(version) + "; expected 3 or 4 (not a DM file?)");
  out.version = static_cast<int>(version);
  out.declared_size = version == 4 ? cur.be<std::uint64_t>("DM4 file length")
                                   : cur.be<std::uint32_t>("DM3 file length");
  const auto order = cur.be<std::uint32_t>("byte-order flag");
  if (order > 1)
    detail::format_error(source, cur.pos() - 4,
                         "byte-order flag " + std::to_string(order) + "; expected 0 (big) or 1 (little endian)");
  out.little_endian = order == 1;
  Parser p{cur, out.version, out.little_endian};
  out.root.kind = TagKind::group;
  p.parse_group(out.root, 0);
  return out;
}

DMFile read_dm_tags(const std::filesystem::path& path) {
  const auto buf = detail::read_file_bytes(path);
  return parse_dm_tags(buf.span(), path.string());
}

std::string tags_to_json(const TagNode& node, int indent) {
  std::string out;
  json_node(out, node, indent, 0);
  return out;
}

}  // namespace autostem::datasets
