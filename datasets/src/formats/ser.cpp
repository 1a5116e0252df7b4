// FEI/TIA SER series files and the ObjectInfo XML of their .emi companions.
//
// Layout (TIA "Series Data File" description, as documented by FEI and re-described by openNCEM
// and HyperSpy): little-endian header { ByteOrder u16 = 0x4949, SeriesID u16 = 0x0197,
// SeriesVersion u16 (0x0210: 32-bit offsets, 0x0220: 64-bit), DataTypeID u32 (0x4120 1-D,
// 0x4122 2-D elements), TagTypeID u32, TotalNumberElements u32, ValidNumberElements u32,
// OffsetArrayOffset u32|u64, NumberDimensions u32 }, then per series dimension { size u32,
// CalibrationOffset f64, CalibrationDelta f64, CalibrationElement i32, description (u32 length +
// chars), units (u32 length + chars) }. At OffsetArrayOffset: TotalNumberElements data offsets
// then as many tag offsets. A 1-D element is { offset f64, delta f64, element i32, DataType u16,
// length u32, data }, a 2-D element { x: offset, delta, element; y: offset, delta, element;
// DataType u16, size_x u32, size_y u32, data } with x fastest. Calibrated value of index i:
// offset + (i − element) × delta.
//
// Presented as HyperSpy (and ncempy) present it: TIA stores the rows of a 2-D element bottom up,
// so they are flipped (row 0 is the top of the image, as TIA displays it); lengths in metres
// become nm (scale and offset; HyperSpy converts only the scale, docs/readers.md).
#include <autostem/datasets/formats.hpp>

#include "byte_cursor.hpp"
#include "formats_internal.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <vector>

namespace autostem::datasets {
namespace detail {
namespace {

std::optional<DType> ser_dtype(std::uint16_t t) {
  switch (t) {
    case 1: return DType::uint8;
    case 2: return DType::uint16;
    case 3: return DType::uint32;
    case 4: return DType::int8;
    case 5: return DType::int16;
    case 6: return DType::int32;
    case 7: return DType::float32;
    case 8: return DType::float64;
    case 9: return DType::complex64;
    case 10: return DType::complex128;
    default: return std::nullopt;
  }
}

struct SerDim {
  std::uint32_t size;
  double offset, delta;
  std::int32_t element;
  std::string description, units;
};

std::string read_counted_string(ByteCursor& c, const char* what) {
  const auto len = c.le<std::uint32_t>(what);
  const auto* p = c.take(len, what);
  return std::string(reinterpret_cast<const char*>(p), len);
}

AxisCalibration make_axis(std::size_t size, double offset, double delta, std::int32_t element,
                          std::string name, std::string units) {
  AxisCalibration a;
  a.size = size;
  a.scale = delta;
  a.offset = offset - static_cast<double>(element) * delta;
  a.name = std::move(name);
  a.units = std::move(units);
  // TIA writes SI lengths; microscopists (and HyperSpy) read nm.
  if (a.units == "m" || a.units == "meters") {
    a.units = "nm";
    a.scale *= 1e9;
    a.offset *= 1e9;
  } else if (a.units == "1/m" || a.units == "1/meters") {
    a.units = "1 / nm";
    a.scale *= 1e-9;
    a.offset *= 1e-9;
  }
  return a;
}

/// Reverses the row order of one (rows, cols) element in place: TIA stores rows bottom up.
void flip_rows(std::byte* data, std::size_t rows, std::size_t row_bytes) {
  std::vector<std::byte> tmp(row_bytes);
  for (std::size_t top = 0, bottom = rows; top + 1 < bottom; ++top) {
    --bottom;
    std::memcpy(tmp.data(), data + top * row_bytes, row_bytes);
    std::memcpy(data + top * row_bytes, data + bottom * row_bytes, row_bytes);
    std::memcpy(data + bottom * row_bytes, tmp.data(), row_bytes);
  }
}

}  // namespace

std::map<std::string, std::string> parse_emi_object_info(std::span<const std::byte> emi) {
  std::map<std::string, std::string> out;
  const std::string_view text(reinterpret_cast<const char*>(emi.data()), emi.size());
  const auto begin = text.find("<ObjectInfo>");
  if (begin == std::string_view::npos) return out;
  const auto end = text.find("</ObjectInfo>", begin);
  if (end == std::string_view::npos) return out;
  const std::string_view xml = text.substr(begin, end - begin + 13);
  // A tiny XML walk: element names form the path, leaf text becomes the value. Enough for TIA's
  // attribute-free ObjectInfo; anything odd is skipped, never trusted.
  std::vector<std::string> path;
  std::string label, value, unit;
  std::size_t i = 0;
  int entries = 0;
  while (i < xml.size() && entries < 10000) {
    const auto lt = xml.find('<', i);
    if (lt == std::string_view::npos) break;
    const auto gt = xml.find('>', lt);
    if (gt == std::string_view::npos) break;
    std::string_view tag = xml.substr(lt + 1, gt - lt - 1);
    if (!tag.empty() && tag.back() == '/') {  // <Empty/>
      i = gt + 1;
      continue;
    }
    if (!tag.empty() && tag.front() == '/') {
      const std::string_view closing = tag.substr(1);
      if (!path.empty() && path.back() == closing) {
        if (closing == "Data" && !label.empty()) {
          std::string key = "ObjectInfo.ExperimentalDescription." + label;
          if (!unit.empty()) key += " (" + unit + ")";
          out[key] = value;
          label.clear(), value.clear(), unit.clear();
          ++entries;
        }
        path.pop_back();
      }
      i = gt + 1;
      continue;
    }
    if (tag.find_first_of(" ?!") != std::string_view::npos || path.size() > 32) {
      i = gt + 1;
      continue;
    }
    path.emplace_back(tag);
    const auto next = xml.find('<', gt + 1);
    if (next == std::string_view::npos) break;
    if (xml.substr(next, 2) == "</") {
      std::string leaf(xml.substr(gt + 1, next - gt - 1));
      if (path.back() == "Label") label = leaf;
      else if (path.back() == "Value") value = leaf;
      else if (path.back() == "Unit") unit = leaf;
      else if (std::find(path.begin(), path.end(), "ExperimentalDescription") == path.end()) {
        std::string key;
        for (const auto& p : path) key += (key.empty() ? "" : ".") + p;
        out[key] = leaf;
        ++entries;
      }
    }
    i = gt + 1;
  }
  return out;
}

std::vector<Signal> read_ser_bytes(std::span<const std::byte> ser, const std::string& source,
                                   std::span<const std::byte> emi) {
  ByteCursor c(ser, source);
  const auto order = c.le<std::uint16_t>("ByteOrder");
  const auto series_id = c.le<std::uint16_t>("SeriesID");
  if (order != 0x4949 || series_id != 0x0197)
    format_error(source, 0, "not a TIA .ser file (ByteOrder/SeriesID = 0x" +
                                std::to_string(order) + "/" + std::to_string(series_id) +
                                "; expected 0x4949/0x0197)");
  const auto version = c.le<std::uint16_t>("SeriesVersion");
  const bool wide = version >= 0x0220;
  const auto data_type_id = c.le<std::uint32_t>("DataTypeID");
  if (data_type_id != 0x4120 && data_type_id != 0x4122)
    format_error(source, 6, "DataTypeID 0x" + std::to_string(data_type_id) +
                                " (expected 0x4120 = 1-D or 0x4122 = 2-D elements)");
  c.le<std::uint32_t>("TagTypeID");
  const auto total = c.le<std::uint32_t>("TotalNumberElements");
  const auto valid = c.le<std::uint32_t>("ValidNumberElements");
  const std::uint64_t offsets_at = wide ? c.le<std::uint64_t>("OffsetArrayOffset")
                                        : c.le<std::uint32_t>("OffsetArrayOffset");
  const auto ndims = c.le<std::uint32_t>("NumberDimensions");
  if (valid > total) format_error(source, 18, "ValidNumberElements > TotalNumberElements");
  if (ndims > 8) format_error(source, c.pos() - 4, "NumberDimensions = " + std::to_string(ndims) + " (expected ≤ 8)");
  std::vector<SerDim> dims;
  std::uint64_t nav_total = 1;
  for (std::uint32_t d = 0; d < ndims; ++d) {
    SerDim sd;
    sd.size = c.le<std::uint32_t>("DimensionSize");
    sd.offset = c.le<double>("CalibrationOffset");
    sd.delta = c.le<double>("CalibrationDelta");
    sd.element = c.le<std::int32_t>("CalibrationElement");
    sd.description = read_counted_string(c, "dimension description");
    sd.units = read_counted_string(c, "dimension units");
    if (sd.size == 0) format_error(source, c.pos(), "series dimension " + std::to_string(d) + " has size 0");
    nav_total *= sd.size;
    if (nav_total > total) format_error(source, c.pos(), "series dimensions multiply to more than TotalNumberElements");
    dims.push_back(std::move(sd));
  }
  if (valid == 0) format_error(source, 14, "the series holds no valid elements");
  const std::uint64_t width = wide ? 8 : 4;
  c.seek(offsets_at, "OffsetArrayOffset");
  c.need(std::uint64_t{total} * width, "data offset array");
  std::vector<std::uint64_t> offsets(valid);
  for (auto& o : offsets) o = wide ? c.le<std::uint64_t>("data offset") : c.le<std::uint32_t>("data offset");

  const bool two_d = data_type_id == 0x4122;
  Signal s;
  std::vector<AxisCalibration> elem_axes;
  std::size_t elem_bytes = 0;
  for (std::uint32_t e = 0; e < valid; ++e) {
    c.seek(offsets[e], "data element offset");
    std::vector<AxisCalibration> axes;
    if (two_d) {
      const double ox = c.le<double>("CalibrationOffsetX"), dx = c.le<double>("CalibrationDeltaX");
      const auto ex = c.le<std::int32_t>("CalibrationElementX");
      const double oy = c.le<double>("CalibrationOffsetY"), dy = c.le<double>("CalibrationDeltaY");
      const auto ey = c.le<std::int32_t>("CalibrationElementY");
      const auto type = c.le<std::uint16_t>("DataType");
      const auto nx = c.le<std::uint32_t>("ArraySizeX"), ny = c.le<std::uint32_t>("ArraySizeY");
      const auto dt = ser_dtype(type);
      if (!dt) format_error(source, c.pos() - 10, "element DataType " + std::to_string(type) + " (expected 1–10)");
      if (e == 0) s.dtype = *dt;
      else if (*dt != s.dtype) format_error(source, c.pos() - 10, "elements of different data types");
      axes.push_back(make_axis(ny, oy, dy, ey, "y", "m"));
      axes.push_back(make_axis(nx, ox, dx, ex, "x", "m"));
    } else {
      const double o = c.le<double>("CalibrationOffset"), d = c.le<double>("CalibrationDelta");
      const auto el = c.le<std::int32_t>("CalibrationElement");
      const auto type = c.le<std::uint16_t>("DataType");
      const auto n = c.le<std::uint32_t>("ArrayLength");
      const auto dt = ser_dtype(type);
      if (!dt) format_error(source, c.pos() - 6, "element DataType " + std::to_string(type) + " (expected 1–10)");
      if (e == 0) s.dtype = *dt;
      else if (*dt != s.dtype) format_error(source, c.pos() - 6, "elements of different data types");
      axes.push_back(make_axis(n, o, d, el, "Energy", "eV"));
    }
    std::uint64_t count = 1;
    for (const auto& a : axes) {
      if (a.size == 0) c.fail("element " + std::to_string(e) + " has an empty dimension");
      count *= a.size;  // ≤ 2^64 since both factors < 2^32
    }
    const std::size_t es = dtype_size(s.dtype);
    if (count > c.remaining() / es)
      c.fail("element " + std::to_string(e) + " declares " + std::to_string(count) + " values; only " +
             std::to_string(c.remaining()) + " bytes remain");
    if (e == 0) {
      elem_axes = axes;
      elem_bytes = static_cast<std::size_t>(count * es);
      // Now the element size is known to fit in the file, so is the whole series (each element
      // needs its own bytes, and offsets were bounded): allocate once.
      if (valid > ser.size() / std::max<std::size_t>(elem_bytes, 1))
        c.fail("ValidNumberElements × element size exceeds the file size");
      resize_for_overwrite_large(s.bytes, static_cast<std::size_t>(nav_total < total ? total : nav_total) * elem_bytes);
    } else if (count * es != elem_bytes) {
      c.fail("element " + std::to_string(e) + " differs in size from element 0");
    }
    std::byte* dst = s.bytes.data() + e * elem_bytes;
    std::memcpy(dst, c.take(elem_bytes, "element data"), elem_bytes);
    if (two_d) flip_rows(dst, axes[0].size, axes[1].size * es);
  }
  // Navigation axes: the series dimensions, first one fastest (TIA scans x within y).
  std::vector<AxisCalibration> nav;
  if (!(dims.size() == 1 && dims[0].size == 1)) {
    for (auto it = dims.rbegin(); it != dims.rend(); ++it) {
      auto a = make_axis(it->size, it->offset, it->delta, it->element, it->description, it->units);
      a.navigate = true;
      nav.push_back(a);
    }
  }
  std::uint64_t nav_n = 1;
  for (const auto& a : nav) nav_n *= a.size;
  if (nav_n < valid) {  // dimensions that do not describe the series: index it instead
    AxisCalibration a;
    a.name = "index";
    a.size = valid;
    a.navigate = true;
    nav = {a};
    nav_n = valid;
  }
  s.bytes.resize(static_cast<std::size_t>(nav_n) * elem_bytes);
  s.axes = nav;
  s.axes.insert(s.axes.end(), elem_axes.begin(), elem_axes.end());
  s.title = std::filesystem::path(source).stem().string();
  s.metadata["SER.SeriesVersion"] = std::to_string(version);
  s.metadata["SER.ValidNumberElements"] = std::to_string(valid);
  if (!emi.empty())
    for (auto& [k, v] : parse_emi_object_info(emi)) s.metadata[k] = v;
  return {std::move(s)};
}

}  // namespace detail

std::vector<Signal> read_ser(const std::filesystem::path& path) {
  const auto buf = detail::read_file_bytes(path);
  // The companion: "16_STOimage_1.ser" → "16_STOimage.emi" (TIA numbers each series).
  std::filesystem::path emi_path;
  const std::string stem = path.stem().string();
  if (const auto us = stem.rfind('_'); us != std::string::npos) {
    emi_path = path.parent_path() / (stem.substr(0, us) + ".emi");
  }
  detail::FileBuffer emi;
  if (!emi_path.empty() && std::filesystem::is_regular_file(emi_path)) {
    try {
      emi = detail::read_file_bytes(emi_path);
    } catch (const std::exception&) {
      emi = {};  // the .emi is optional metadata; the data stand on their own
    }
  }
  return detail::read_ser_bytes(buf.span(), path.string(), emi.span());
}

}  // namespace autostem::datasets
