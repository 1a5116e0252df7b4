// A minimal DigitalMicrograph writer for test and benchmark fixtures (formats_internal.hpp).
// It writes the same structure DM does for one image — ImageList[thumbnail?, image] with
// ImageData {Calibrations.Dimension, Data, DataType, Dimensions, PixelDepth}, ImageTags, Name —
// in either version and byte order, so the reader's DM3/DM4 and endianness paths can be tested
// on files whose content is known exactly.
#include "byte_cursor.hpp"
#include "formats_internal.hpp"

#include <bit>

namespace autostem::datasets::detail {
namespace {

struct WNode {
  std::string name;
  bool group = false;
  std::vector<WNode> children;
  std::vector<std::uint64_t> info;
  std::vector<std::byte> payload;  // in the file's byte order
};

class Writer {
 public:
  Writer(int version, bool le) : v4_(version == 4), le_(le) {}

  template <class T>
  void put_be(std::vector<std::byte>& out, T v) const {
    if constexpr (std::endian::native == std::endian::little) v = byteswap_value(v);
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    out.insert(out.end(), p, p + sizeof(T));
  }
  void put_count(std::vector<std::byte>& out, std::uint64_t v) const {
    if (v4_) put_be<std::uint64_t>(out, v);
    else put_be<std::uint32_t>(out, static_cast<std::uint32_t>(v));
  }
  template <class T>
  std::vector<std::byte> data_bytes(const T* values, std::size_t n) const {
    std::vector<std::byte> out(n * sizeof(T));
    std::memcpy(out.data(), values, out.size());
    if (le_ != (std::endian::native == std::endian::little)) byteswap_words(out.data(), out.size(), sizeof(T));
    return out;
  }

  std::vector<std::byte> group_body(const WNode& g) const {
    std::vector<std::byte> out;
    out.push_back(std::byte{0});
    out.push_back(std::byte{0});
    put_count(out, g.children.size());
    for (const auto& c : g.children) {
      out.push_back(std::byte{static_cast<unsigned char>(c.group ? 20 : 21)});
      put_be<std::uint16_t>(out, static_cast<std::uint16_t>(c.name.size()));
      const auto* p = reinterpret_cast<const std::byte*>(c.name.data());
      out.insert(out.end(), p, p + c.name.size());
      std::vector<std::byte> body;
      if (c.group) {
        body = group_body(c);
      } else {
        const char* marker = "%%%%";
        body.insert(body.end(), reinterpret_cast<const std::byte*>(marker), reinterpret_cast<const std::byte*>(marker) + 4);
        put_count(body, c.info.size());
        for (auto i : c.info) put_count(body, i);
        body.insert(body.end(), c.payload.begin(), c.payload.end());
      }
      if (v4_) put_be<std::uint64_t>(out, body.size());
      out.insert(out.end(), body.begin(), body.end());
    }
    return out;
  }

  WNode group(std::string name) const {
    WNode n;
    n.name = std::move(name);
    n.group = true;
    return n;
  }
  template <class T>
  WNode scalar(std::string name, std::uint32_t code, T v) const {
    WNode n;
    n.name = std::move(name);
    n.info = {code};
    n.payload = data_bytes(&v, 1);
    return n;
  }
  WNode text(std::string name, const std::string& utf8) const {
    std::vector<std::uint16_t> u16;
    for (std::size_t i = 0; i < utf8.size();) {
      const unsigned char c = static_cast<unsigned char>(utf8[i]);
      if (c < 0x80) {
        u16.push_back(c);
        i += 1;
      } else if ((c >> 5) == 6 && i + 1 < utf8.size()) {
        u16.push_back(static_cast<std::uint16_t>(((c & 0x1F) << 6) | (utf8[i + 1] & 0x3F)));
        i += 2;
      } else if ((c >> 4) == 14 && i + 2 < utf8.size()) {
        u16.push_back(static_cast<std::uint16_t>(((c & 0x0F) << 12) | ((utf8[i + 1] & 0x3F) << 6) | (utf8[i + 2] & 0x3F)));
        i += 3;
      } else {
        u16.push_back(0xFFFD);
        i += 1;
      }
    }
    WNode n;
    n.name = std::move(name);
    n.info = {20, 4, u16.size()};
    n.payload = data_bytes(u16.data(), u16.size());
    return n;
  }
  WNode raw_array(std::string name, std::uint32_t elem, std::uint64_t count, std::span<const std::byte> bytes,
                  std::size_t swap_width) const {
    WNode n;
    n.name = std::move(name);
    n.info = {20, elem, count};
    n.payload.assign(bytes.begin(), bytes.end());
    if (le_ != (std::endian::native == std::endian::little)) byteswap_words(n.payload.data(), n.payload.size(), swap_width);
    return n;
  }

 private:
  bool v4_, le_;
};

// Inserts a value at a dotted path under `root`, creating groups on the way.
void insert_at(WNode& root, const std::string& path, WNode leaf) {
  WNode* g = &root;
  std::size_t start = 0;
  for (;;) {
    const auto dot = path.find('.', start);
    if (dot == std::string::npos) break;
    const std::string part = path.substr(start, dot - start);
    WNode* next = nullptr;
    for (auto& c : g->children)
      if (c.group && c.name == part) next = &c;
    if (!next) {
      WNode n;
      n.name = part;
      n.group = true;
      g->children.push_back(std::move(n));
      next = &g->children.back();
    }
    g = next;
    start = dot + 1;
  }
  leaf.name = path.substr(start);
  g->children.push_back(std::move(leaf));
}

WNode image_group(const Writer& w, int data_type, const std::vector<std::uint64_t>& dims,
                  std::span<const std::byte> data, std::size_t swap_width, const DMWriteImage* full) {
  WNode img = w.group("");
  WNode idata = w.group("ImageData");
  WNode cal = w.group("Calibrations");
  WNode bright = w.group("Brightness");
  bright.children.push_back(w.scalar<float>("Origin", 6, 0.0f));
  bright.children.push_back(w.scalar<float>("Scale", 6, 1.0f));
  bright.children.push_back(w.text("Units", ""));
  cal.children.push_back(std::move(bright));
  WNode dimcal = w.group("Dimension");
  for (std::size_t i = 0; i < dims.size(); ++i) {
    WNode d = w.group("");
    const double o = full && i < full->origins.size() ? full->origins[i] : 0.0;
    const double s = full && i < full->scales.size() ? full->scales[i] : 1.0;
    d.children.push_back(w.scalar<float>("Origin", 6, static_cast<float>(o)));
    d.children.push_back(w.scalar<float>("Scale", 6, static_cast<float>(s)));
    d.children.push_back(w.text("Units", full && i < full->units.size() ? full->units[i] : ""));
    dimcal.children.push_back(std::move(d));
  }
  cal.children.push_back(std::move(dimcal));
  idata.children.push_back(std::move(cal));
  // The Data array's element type matters only to other readers; pick the natural one.
  std::uint32_t elem = 10;
  std::uint64_t count = data.size();
  switch (swap_width) {
    case 2: elem = 4; count = data.size() / 2; break;
    case 4: elem = data_type == 2 || data_type == 3 || data_type == 5 || data_type == 27 ? 6 : 5; count = data.size() / 4; break;
    case 8: elem = 7; count = data.size() / 8; break;
    default: break;
  }
  if (data_type == 1 || data_type == 9 || data_type == 7) elem = data_type == 1 ? 2 : data_type == 9 ? 9 : 3;
  idata.children.push_back(w.raw_array("Data", elem, count, data, swap_width));
  idata.children.push_back(w.scalar<std::int32_t>("DataType", 3, data_type));
  WNode dg = w.group("Dimensions");
  for (auto d : dims) dg.children.push_back(w.scalar<std::uint32_t>("", 5, static_cast<std::uint32_t>(d)));
  idata.children.push_back(std::move(dg));
  idata.children.push_back(w.scalar<std::int32_t>("PixelDepth", 3, static_cast<std::int32_t>(swap_width)));
  img.children.push_back(std::move(idata));
  WNode tags = w.group("ImageTags");
  if (full) {
    if (!full->format.empty()) insert_at(tags, "Meta Data.Format", w.text("", full->format));
    if (!full->signal.empty()) insert_at(tags, "Meta Data.Signal", w.text("", full->signal));
    for (const auto& [k, v] : full->number_tags) insert_at(tags, k, w.scalar<double>("", 7, v));
    for (const auto& [k, v] : full->string_tags) insert_at(tags, k, w.text("", v));
  }
  img.children.push_back(std::move(tags));
  img.children.push_back(w.text("Name", full ? full->name : "thumbnail"));
  return img;
}

}  // namespace

std::vector<std::byte> write_dm(const DMWriteImage& image, int version, bool little_endian, bool thumbnail) {
  if (version != 3 && version != 4) throw std::invalid_argument("write_dm: version must be 3 or 4");
  const Writer w(version, little_endian);
  WNode root = w.group("");
  WNode list = w.group("ImageList");
  if (thumbnail) {
    const std::uint32_t pixel = 0xFF808080u;
    list.children.push_back(image_group(w, 23, {1, 1}, {reinterpret_cast<const std::byte*>(&pixel), 4}, 4, nullptr));
  }
  list.children.push_back(image_group(w, image.dm_data_type, image.dims, image.data, image.element_swap_width, &image));
  root.children.push_back(std::move(list));
  const std::vector<std::byte> body = w.group_body(root);
  std::vector<std::byte> out;
  w.put_be<std::uint32_t>(out, static_cast<std::uint32_t>(version));
  if (version == 4) w.put_be<std::uint64_t>(out, body.size() + 8);
  else w.put_be<std::uint32_t>(out, static_cast<std::uint32_t>(body.size() + 8));
  w.put_be<std::uint32_t>(out, little_endian ? 1u : 0u);
  out.insert(out.end(), body.begin(), body.end());
  out.insert(out.end(), 8, std::byte{0});  // DM ends files with 8 zero bytes
  return out;
}

}  // namespace autostem::datasets::detail
