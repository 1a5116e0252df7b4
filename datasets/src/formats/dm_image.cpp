// From a DM tag tree to Signals: one per entry of ImageList (the thumbnail skipped).
#include <autostem/datasets/dm_tags.hpp>
#include <autostem/datasets/formats.hpp>

#include "byte_cursor.hpp"
#include "transpose.hpp"

#include <algorithm>
#include <cmath>

namespace autostem::datasets {
namespace {

struct DMDataType {
  DType dtype;
  std::size_t swap_width;  // width of the words to byte-swap when the file is big-endian
  bool rgba = false;       // stored as a uint32 0xAARRGGBB: reorder to R, G, B, A bytes
};

std::optional<DMDataType> dm_image_type(std::int64_t code) {
  switch (code) {
    case 1: return DMDataType{DType::int16, 2};
    case 2: return DMDataType{DType::float32, 4};
    case 3: case 5: case 27: return DMDataType{DType::complex64, 4};
    case 10: return DMDataType{DType::uint16, 2};
    case 6: return DMDataType{DType::uint8, 1};
    case 7: return DMDataType{DType::int32, 4};
    case 8: case 23: return DMDataType{DType::rgba8, 4, true};
    case 9: return DMDataType{DType::int8, 1};
    case 11: return DMDataType{DType::uint32, 4};
    case 12: return DMDataType{DType::float64, 8};
    case 13: case 28: return DMDataType{DType::complex128, 8};
    case 14: return DMDataType{DType::boolean, 1};
    default: return std::nullopt;
  }
}

[[noreturn]] void image_error(const std::string& source, std::size_t index, const std::string& what) {
  throw std::runtime_error(source + ": ImageList entry " + std::to_string(index) + ": " + what);
}

std::int64_t required_int(const TagNode& image, const char* path, const std::string& source,
                          std::size_t index) {
  const TagNode* n = image.find(path);
  if (!n || !n->number()) image_error(source, index, std::string("missing numeric tag '") + path + "'");
  const double v = *n->number();
  if (!std::isfinite(v) || v < -9.2e18 || v > 9.2e18)
    image_error(source, index, std::string("tag '") + path + "' has value out of range");
  return static_cast<std::int64_t>(v);
}

void flatten(const TagNode& n, const std::string& prefix, std::map<std::string, std::string>& out,
             std::size_t& budget) {
  for (std::size_t i = 0; i < n.children.size() && budget > 0; ++i) {
    const auto& c = n.children[i];
    const std::string key = prefix + "." + (c.name.empty() ? std::to_string(i) : c.name);
    switch (c.kind) {
      case TagKind::group:
        flatten(c, key, out, budget);
        break;
      case TagKind::scalar:
      case TagKind::string:
        out[key] = c.text();
        --budget;
        break;
      case TagKind::structure: {
        std::string v;
        for (std::size_t f = 0; f < c.children.size(); ++f) v += (f ? "," : "") + c.children[f].text();
        out[key] = v;
        --budget;
        break;
      }
      case TagKind::array: {
        const auto& a = std::get<TagArray>(c.value);
        if (!a.values.empty() && a.values.size() <= 16) {
          std::string v;
          for (std::size_t f = 0; f < a.values.size(); ++f) {
            TagNode tmp;
            tmp.kind = TagKind::scalar;
            tmp.value = a.values[f];
            v += (f ? "," : "") + tmp.text();
          }
          out[key] = v;
          --budget;
        }
        break;
      }
    }
  }
}

bool is_spectrum_image(const TagNode& image, std::size_t ndim) {
  if (ndim < 2) return false;
  const TagNode* fmt = image.find("ImageTags.Meta Data.Format");
  if (!fmt) return false;
  std::string f = fmt->text();
  std::transform(f.begin(), f.end(), f.begin(), [](unsigned char c) { return std::tolower(c); });
  return f.find("spectrum") != std::string::npos;
}

// Whether an axis is the spectral one: energy for EELS/EDS, wavelength (nm) for CL, where the
// spatial axes are in µm.
bool is_spectral(const AxisCalibration& a, const std::string& signal_type) {
  if (a.units == "eV" || a.units == "keV") return true;
  return signal_type == "CL" && a.units == "nm";
}

// DM's "new" packed complex FFT (types 27/28, and 5 when stored so): the half plane of a real
// image's FFT, C-order (ny, nx/2 + 1), rows already centred (ky = 0 at row ny/2), columns
// kx = 0…nx/2. The full centred array (ky = 0 at row ny/2, kx = 0 at column nx/2) follows from
// Hermitian symmetry F(−ky, −kx) = conj F(ky, kx). esize: 8 (complex64) or 16 (complex128).
template <class C>
std::vector<std::byte> unpack_fft(const std::byte* packed, std::size_t ny, std::size_t nx) {
  const std::size_t pw = nx / 2 + 1, h = ny / 2, w = nx / 2;
  std::vector<std::byte> out(ny * nx * sizeof(C));
  auto at = [&](std::size_t r, std::size_t k) {
    C v;
    std::memcpy(&v, packed + (r * pw + k) * sizeof(C), sizeof(C));
    return v;
  };
  for (std::size_t r = 0; r < ny; ++r) {
    const long ky = static_cast<long>(r) - static_cast<long>(h);
    const std::size_t r_neg = static_cast<std::size_t>(((-ky + static_cast<long>(h)) % static_cast<long>(ny) + static_cast<long>(ny)) % static_cast<long>(ny));
    for (std::size_t c = 0; c < nx; ++c) {
      const long kx = static_cast<long>(c) - static_cast<long>(w);
      const C v = kx >= 0 ? at(r, static_cast<std::size_t>(kx)) : std::conj(at(r_neg, static_cast<std::size_t>(-kx)));
      std::memcpy(out.data() + (r * nx + c) * sizeof(C), &v, sizeof(C));
    }
  }
  return out;
}

// Per-axis calibrations in C order (the reverse of DM's x-first order).
std::vector<AxisCalibration> calibrations(const TagNode& image, const std::vector<std::uint64_t>& dm_dims) {
  const TagNode* cal = image.find("ImageData.Calibrations.Dimension");
  std::vector<AxisCalibration> dm_axes(dm_dims.size());
  for (std::size_t i = 0; i < dm_dims.size(); ++i) {
    auto& ax = dm_axes[i];
    ax.size = static_cast<std::size_t>(dm_dims[i]);
    if (cal && i < cal->children.size()) {
      const TagNode& c = cal->children[i];
      const double origin = c.child("Origin") && c.child("Origin")->number() ? *c.child("Origin")->number() : 0.0;
      const double scale = c.child("Scale") && c.child("Scale")->number() ? *c.child("Scale")->number() : 1.0;
      ax.scale = scale;
      ax.offset = -origin * scale + 0.0;  // value = (index − Origin) × Scale; +0.0 avoids −0
      if (const TagNode* u = c.child("Units")) ax.units = u->text();
    }
  }
  return {dm_axes.rbegin(), dm_axes.rend()};
}

Signal convert_image(const TagNode& image, std::span<const std::byte> file, const std::string& source,
                     std::size_t index, bool little_endian) {
  const TagNode* data = image.find("ImageData.Data");
  if (!data || data->kind != TagKind::array)
    image_error(source, index, "missing array tag 'ImageData.Data'");
  const auto& arr = std::get<TagArray>(data->value);
  const std::int64_t code = required_int(image, "ImageData.DataType", source, index);
  const auto type = dm_image_type(code);
  if (!type) image_error(source, index, "ImageData.DataType = " + std::to_string(code) + " is not a known DM image type");

  const TagNode* dims = image.find("ImageData.Dimensions");
  if (!dims || dims->kind != TagKind::group || dims->children.empty() || dims->children.size() > 4)
    image_error(source, index, "tag 'ImageData.Dimensions' must list 1–4 sizes");
  std::vector<std::uint64_t> dm_dims;  // DM order: x (fastest) first
  std::uint64_t n = 1;
  for (const auto& d : dims->children) {
    const auto v = d.number();
    if (!v || !(*v >= 1) || *v > 1e12)
      image_error(source, index, "tag 'ImageData.Dimensions' has an entry that is not a positive size");
    dm_dims.push_back(static_cast<std::uint64_t>(*v));
    if (dm_dims.back() > arr.byte_size || n > arr.byte_size / dm_dims.back())
      image_error(source, index, "ImageData.Dimensions multiply to more elements than 'Data' holds (" +
                                     std::to_string(arr.byte_size) + " bytes)");
    n *= dm_dims.back();
  }
  const std::size_t esize = dtype_size(type->dtype);
  const bool packed_type = code == 5 || code == 27 || code == 28;
  const std::uint64_t packed_n = dm_dims.size() == 2 ? (dm_dims[0] / 2 + 1) * dm_dims[1] : 0;
  const bool packed = packed_type && n > arr.byte_size / esize && packed_n > 0 &&
                      arr.byte_size / esize == packed_n;
  if (!packed && n > arr.byte_size / esize)
    image_error(source, index, "'Data' holds " + std::to_string(arr.byte_size) + " bytes; " +
                                   std::to_string(n) + " elements of " + dtype_name(type->dtype) +
                                   " need " + std::to_string(n * esize));
  const std::uint64_t stored = packed ? packed_n : n;
  if (arr.offset + stored * esize > file.size()) image_error(source, index, "'Data' extends past the end of the file");

  Signal s;
  s.dtype = type->dtype;
  if (const TagNode* name = image.child("Name")) s.title = name->text();
  // Spectrum images are transposed straight from the file image (one pass over the data).
  const bool si = is_spectrum_image(image, dm_dims.size()) && !packed;
  const TagNode* sig_tag = image.find("ImageTags.Meta Data.Signal");
  if (sig_tag) {
    s.signal_type = sig_tag->text();
    if (s.signal_type == "X-ray") s.signal_type = "EDS";
  }
  detail::resize_for_overwrite_large(s.bytes, static_cast<std::size_t>(stored * esize));
  std::vector<AxisCalibration> axes = calibrations(image, dm_dims);
  // DM writes spectrum images as [x, y, E] (energy slowest in C order); a few writers (MonoCL
  // line scans) put the spectrum first instead, which is already (x, E) in C order.
  if (si && !(is_spectral(axes.back(), s.signal_type) && !is_spectral(axes[0], s.signal_type))) {
    std::size_t rest = 1;
    for (std::size_t i = 1; i < axes.size(); ++i) rest *= axes[i].size;
    detail::transpose_into(file.data() + arr.offset, s.bytes.data(), axes[0].size, rest, esize);
    std::rotate(axes.begin(), axes.begin() + 1, axes.end());
  } else {
    std::memcpy(s.bytes.data(), file.data() + arr.offset, s.bytes.size());
  }
  if (little_endian != (std::endian::native == std::endian::little))
    detail::byteswap_words(s.bytes.data(), s.bytes.size(), type->swap_width);
  if (packed) {
    s.bytes = esize == 8 ? unpack_fft<std::complex<float>>(s.bytes.data(), dm_dims[1], dm_dims[0])
                         : unpack_fft<std::complex<double>>(s.bytes.data(), dm_dims[1], dm_dims[0]);
    s.metadata["autostem.unpacked_fft"] = "true";
  }
  if (type->rgba) {
    // A native uint32 0xAARRGGBB lies in memory as B, G, R, A; Signal wants R, G, B, A.
    for (std::size_t i = 0; i + 3 < s.bytes.size(); i += 4) std::swap(s.bytes[i], s.bytes[i + 2]);
  }

  // Drop length-1 axes (a spectrum stored as 1 × 2048), keeping at least one.
  if (axes.size() > 1) {
    std::vector<AxisCalibration> kept;
    for (const auto& a : axes)
      if (a.size != 1) kept.push_back(a);
    if (kept.empty()) kept.push_back(axes.back());
    axes = std::move(kept);
  }
  const auto is_energy = [](const AxisCalibration& a) { return a.units == "eV" || a.units == "keV"; };
  const auto spectral_name = [&](const AxisCalibration& a) -> std::string {
    if (is_energy(a)) return s.signal_type == "EDS" ? "Energy" : "Energy loss";
    if (s.signal_type == "CL" && a.units == "nm") return "Wavelength";
    return "signal";
  };
  if (si) {
    for (std::size_t i = 0; i + 1 < axes.size(); ++i) axes[i].navigate = true;
    static const char* nav_names[] = {"y", "x"};
    const std::size_t nnav = axes.size() - 1;
    for (std::size_t i = 0; i < nnav; ++i)
      axes[i].name = nnav == 1 ? "x" : (nnav == 2 ? nav_names[i] : "nav" + std::to_string(i));
    axes.back().name = spectral_name(axes.back());
  } else if (axes.size() == 1) {
    axes[0].name = spectral_name(axes[0]) == "signal" ? "x" : spectral_name(axes[0]);
  } else {
    static const char* names[] = {"t", "z", "y", "x"};
    for (std::size_t i = 0; i < axes.size(); ++i) axes[i].name = names[4 - axes.size() + i];
    for (std::size_t i = 0; i + 2 < axes.size(); ++i) axes[i].navigate = true;
  }
  s.axes = std::move(axes);

  std::size_t budget = 4096;
  if (const TagNode* tags = image.child("ImageTags")) flatten(*tags, "ImageTags", s.metadata, budget);
  s.metadata["ImageData.DataType"] = std::to_string(code);
  if (!s.title.empty()) s.metadata["Name"] = s.title;
  return s;
}

}  // namespace

std::vector<Signal> read_dm_bytes(std::span<const std::byte> file, const std::string& source) {
  const DMFile dm = parse_dm_tags(file, source);
  const TagNode* list = dm.root.child("ImageList");
  if (!list || list->kind != TagKind::group || list->children.empty())
    throw std::runtime_error(source + ": no 'ImageList' group with images (not a DM image file?)");
  std::size_t first = 0;
  if (list->children.size() > 1) {
    // ImageList[0] is DM's RGBA preview of the document when there is more than one image.
    const TagNode* t = list->children[0].find("ImageData.DataType");
    if (t && t->number() && (*t->number() == 23 || *t->number() == 8)) first = 1;
  }
  std::vector<Signal> out;
  for (std::size_t i = first; i < list->children.size(); ++i)
    out.push_back(convert_image(list->children[i], file, source, i, dm.little_endian));
  return out;
}

std::vector<Signal> read_dm(const std::filesystem::path& path) {
  const auto buf = detail::read_file_bytes(path);
  return read_dm_bytes(buf.span(), path.string());
}

}  // namespace autostem::datasets
