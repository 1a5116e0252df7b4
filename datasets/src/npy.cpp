#include <autostem/datasets/npy.hpp>

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace autostem::datasets {

namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what) {
  throw std::runtime_error(path.string() + ": " + what);
}

// Value of a key in the header dict, as raw text up to the next top-level comma/brace.
std::string dict_value(const std::string& header, const std::string& key,
                       const std::filesystem::path& path) {
  std::size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) k = header.find("\"" + key + "\"");
  if (k == std::string::npos) fail(path, "npy header has no '" + key + "' entry: " + header);
  std::size_t colon = header.find(':', k + key.size() + 2);
  if (colon == std::string::npos) fail(path, "npy header entry '" + key + "' has no value");
  std::size_t i = colon + 1;
  while (i < header.size() && header[i] == ' ') ++i;
  std::size_t j = i;
  int depth = 0;
  char quote = 0;
  for (; j < header.size(); ++j) {
    const char c = header[j];
    if (quote) {
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '\'' || c == '"') quote = c;
    else if (c == '(' || c == '[') ++depth;
    else if (c == ')' || c == ']') --depth;
    else if ((c == ',' || c == '}') && depth == 0) break;
  }
  std::string v = header.substr(i, j - i);
  while (!v.empty() && v.back() == ' ') v.pop_back();
  return v;
}

struct Descr {
  DType dtype;
  bool swap;
  bool half = false;  // float16 stored; widened to float32
};

Descr parse_descr(std::string d, const std::filesystem::path& path) {
  if (d.size() < 2 || (d.front() != '\'' && d.front() != '"'))
    fail(path, "npy 'descr' " + d + " is not a simple type string (structured dtypes unsupported)");
  d = d.substr(1, d.size() - 2);
  if (d.size() < 2) fail(path, "npy 'descr' '" + d + "' too short");
  const char order = d[0];
  const char kind = d[1];
  const int bytes = std::atoi(d.c_str() + 2);
  const bool little_host = std::endian::native == std::endian::little;
  bool swap = false;
  if (order == '<') swap = !little_host;
  else if (order == '>') swap = little_host;
  else if (order != '|' && order != '=')
    fail(path, "npy 'descr' '" + d + "' has unknown byte order '" + std::string(1, order) + "'");
  auto bad = [&]() -> Descr {
    fail(path, "npy 'descr' '" + d + "' is not supported (expected b1, i1–i8, u1–u8, f2/f4/f8, c8/c16)");
  };
  switch (kind) {
    case 'b':
      if (bytes == 1) return {DType::boolean, false};
      return bad();
    case 'i':
      if (bytes == 1) return {DType::int8, false};
      if (bytes == 2) return {DType::int16, swap};
      if (bytes == 4) return {DType::int32, swap};
      if (bytes == 8) return {DType::int64, swap};
      return bad();
    case 'u':
      if (bytes == 1) return {DType::uint8, false};
      if (bytes == 2) return {DType::uint16, swap};
      if (bytes == 4) return {DType::uint32, swap};
      if (bytes == 8) return {DType::uint64, swap};
      return bad();
    case 'f':
      if (bytes == 2) return {DType::float32, swap, true};
      if (bytes == 4) return {DType::float32, swap};
      if (bytes == 8) return {DType::float64, swap};
      return bad();
    case 'c':
      if (bytes == 8) return {DType::complex64, swap};
      if (bytes == 16) return {DType::complex128, swap};
      return bad();
    default: return bad();
  }
}

std::vector<std::size_t> parse_shape(const std::string& s, const std::filesystem::path& path) {
  if (s.size() < 2 || s.front() != '(' || s.back() != ')')
    fail(path, "npy 'shape' " + s + " is not a tuple");
  std::vector<std::size_t> shape;
  std::size_t i = 1;
  while (i < s.size() - 1) {
    while (i < s.size() - 1 && (s[i] == ' ' || s[i] == ',')) ++i;
    if (i >= s.size() - 1) break;
    std::size_t j = i;
    while (j < s.size() - 1 && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (j == i) fail(path, "npy 'shape' " + s + " has a non-integer entry");
    shape.push_back(std::stoull(s.substr(i, j - i)));
    i = j;
    if (s[i] == 'L') ++i;  // Python 2 long suffix
  }
  return shape;
}

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = (h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1f;
  std::uint32_t mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0) {
    if (mant == 0) bits = sign;
    else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while (!(mant & 0x400u)) { mant <<= 1; --exp; }
      mant &= 0x3ffu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

Signal read_npy(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, std::filesystem::exists(path) ? "cannot open" : "no such file");
  char magic[8] = {0};
  in.read(magic, 8);
  if (in.gcount() != 8 || static_cast<unsigned char>(magic[0]) != 0x93 ||
      std::memcmp(magic + 1, "NUMPY", 5) != 0)
    fail(path, "not a NumPy .npy file (magic \\x93NUMPY missing)");
  const int major = static_cast<unsigned char>(magic[6]);
  std::uint32_t header_len = 0;
  if (major == 1) {
    unsigned char b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (b[1] << 8);
  } else if (major == 2 || major == 3) {
    unsigned char b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (std::uint32_t(b[3]) << 24);
  } else {
    fail(path, "npy format version " + std::to_string(major) + "." +
                   std::to_string(static_cast<unsigned char>(magic[7])) +
                   " is not supported (expected 1.0, 2.0 or 3.0)");
  }
  if (!in || header_len > (1u << 24)) fail(path, "npy header length unreadable");
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  if (static_cast<std::uint32_t>(in.gcount()) != header_len) fail(path, "npy header truncated");

  const Descr descr = parse_descr(dict_value(header, "descr", path), path);
  const std::string fortran = dict_value(header, "fortran_order", path);
  if (fortran != "True" && fortran != "False")
    fail(path, "npy 'fortran_order' is '" + fortran + "'; expected True or False");
  const bool fortran_order = fortran == "True";
  const std::vector<std::size_t> shape = parse_shape(dict_value(header, "shape", path), path);

  std::size_t n = 1;
  for (auto d : shape) n *= d;
  const std::size_t stored_es = descr.half ? 2 : dtype_size(descr.dtype);
  std::vector<std::byte> raw(n * stored_es);
  in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(raw.size()));
  if (static_cast<std::size_t>(in.gcount()) != raw.size())
    fail(path, "npy data truncated: expected " + std::to_string(raw.size()) + " bytes, found " +
                   std::to_string(in.gcount()));

  // Byte order: swap within each scalar (a complex element is two scalars).
  if (descr.swap) {
    const std::size_t scalar = (descr.dtype == DType::complex64 || descr.dtype == DType::complex128)
                                   ? stored_es / 2
                                   : stored_es;
    for (std::size_t i = 0; i < raw.size(); i += scalar) std::reverse(raw.begin() + i, raw.begin() + i + scalar);
  }
  std::vector<std::byte> native;
  if (descr.half) {
    native.resize(n * 4);
    for (std::size_t i = 0; i < n; ++i) {
      std::uint16_t h;
      std::memcpy(&h, raw.data() + 2 * i, 2);
      const float f = half_to_float(h);
      std::memcpy(native.data() + 4 * i, &f, 4);
    }
  } else {
    native = std::move(raw);
  }

  Signal s;
  s.title = path.stem().string();
  s.dtype = descr.dtype;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    AxisCalibration a;
    a.name = "dim" + std::to_string(i);
    a.size = shape[i];
    s.axes.push_back(a);
  }
  const std::size_t es = dtype_size(s.dtype);
  if (fortran_order && shape.size() > 1) {
    // Element with C index (i0, …, ik) lives at Fortran offset Σ i_d · Π_{e<d} n_e.
    s.bytes.resize(native.size());
    std::vector<std::size_t> idx(shape.size(), 0);
    std::vector<std::size_t> fstride(shape.size(), 1);
    for (std::size_t d = 1; d < shape.size(); ++d) fstride[d] = fstride[d - 1] * shape[d - 1];
    for (std::size_t c = 0; c < n; ++c) {
      std::size_t f = 0;
      for (std::size_t d = 0; d < shape.size(); ++d) f += idx[d] * fstride[d];
      std::memcpy(s.bytes.data() + c * es, native.data() + f * es, es);
      for (std::size_t d = shape.size(); d-- > 0;) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
  } else {
    s.bytes = std::move(native);
  }
  return s;
}

void write_npy(const std::filesystem::path& path, const Signal& signal) {
  const char* descr = nullptr;
  switch (signal.dtype) {
    case DType::boolean: descr = "|b1"; break;
    case DType::int8: descr = "|i1"; break;
    case DType::uint8: descr = "|u1"; break;
    case DType::int16: descr = "<i2"; break;
    case DType::uint16: descr = "<u2"; break;
    case DType::int32: descr = "<i4"; break;
    case DType::uint32: descr = "<u4"; break;
    case DType::int64: descr = "<i8"; break;
    case DType::uint64: descr = "<u8"; break;
    case DType::float32: descr = "<f4"; break;
    case DType::float64: descr = "<f8"; break;
    case DType::complex64: descr = "<c8"; break;
    case DType::complex128: descr = "<c16"; break;
    case DType::rgba8:
      throw std::invalid_argument(path.string() + ": write_npy cannot store rgba8 data");
  }
  if constexpr (std::endian::native != std::endian::little)
    throw std::runtime_error("write_npy: big-endian hosts are not supported");
  std::string shape = "(";
  for (const auto& a : signal.axes) shape += std::to_string(a.size) + ", ";
  if (signal.axes.size() > 1) shape.resize(shape.size() - 2);
  else if (signal.axes.size() == 1) shape.resize(shape.size() - 1);
  shape += ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error(path.string() + ": cannot create");
  const unsigned char pre[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  out.write(reinterpret_cast<const char*>(pre), 8);
  const unsigned char len[2] = {static_cast<unsigned char>(header.size() & 0xff),
                                static_cast<unsigned char>(header.size() >> 8)};
  out.write(reinterpret_cast<const char*>(len), 2);
  out << header;
  out.write(reinterpret_cast<const char*>(signal.bytes.data()),
            static_cast<std::streamsize>(signal.bytes.size()));
  if (!out) throw std::runtime_error(path.string() + ": write failed");
}

}  // namespace autostem::datasets
