// Quantum Detectors Merlin .mib reader (see mib.hpp for the format and its sources).
#include <autostem/datasets/mib.hpp>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <stdexcept>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace autostem::datasets {

namespace {

std::string trim(std::string_view s) {
  std::size_t a = 0, b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r' || s[a] == '\n' || s[a] == '\0')) ++a;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r' || s[b - 1] == '\n' ||
                   s[b - 1] == '\0'))
    --b;
  return std::string(s.substr(a, b - a));
}

std::vector<std::string> split_commas(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == ',') {
      out.push_back(trim(text.substr(start, i - start)));
      start = i + 1;
    }
  }
  return out;
}

std::size_t to_size(const std::string& field, const char* what) {
  std::size_t v = 0;
  const auto r = std::from_chars(field.data(), field.data() + field.size(), v);
  if (r.ec != std::errc() || r.ptr != field.data() + field.size())
    throw std::invalid_argument(std::string("Merlin frame header: ") + what + " '" + field +
                                "' is not a non-negative integer");
  return v;
}

std::uint16_t be16(const std::byte* p) {
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(p[0]) << 8) | std::to_integer<unsigned>(p[1]));
}
std::uint32_t be32(const std::byte* p) {
  return (std::uint32_t(std::to_integer<unsigned>(p[0])) << 24) |
         (std::uint32_t(std::to_integer<unsigned>(p[1])) << 16) |
         (std::uint32_t(std::to_integer<unsigned>(p[2])) << 8) | std::uint32_t(std::to_integer<unsigned>(p[3]));
}
std::uint64_t be64(const std::byte* p) {
  return (std::uint64_t(be32(p)) << 32) | be32(p + 4);
}

// Seconds since the epoch of "YYYY-MM-DD hh:mm:ss.ffffff" or "YYYY-MM-DDThh:mm:ss.fffffffffZ"
// (the date part only matters through differences, so timegm on either is fine).
// Returned as (whole seconds of the minute's start, seconds within the minute) so differences
// keep the ns resolution.
std::optional<std::pair<std::time_t, double>> parse_time(const std::string& t) {
  int Y, M, D, h, m;
  double s;
  char sep;
  if (std::sscanf(t.c_str(), "%d-%d-%d%c%d:%d:%lf", &Y, &M, &D, &sep, &h, &m, &s) != 7) return std::nullopt;
  std::tm tm{};
  tm.tm_year = Y - 1900;
  tm.tm_mon = M - 1;
  tm.tm_mday = D;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = 0;
  const std::time_t base = timegm(&tm);
  return std::make_pair(base, s);
}

}  // namespace

MibFrameHeader parse_mib_frame_header(std::string_view text) {
  const auto f = split_commas(text);
  if (f.empty() || f[0] != "MQ1")
    throw std::invalid_argument("Merlin frame header: does not start with 'MQ1,' (got '" +
                                (f.empty() ? std::string() : f[0].substr(0, 16)) + "')");
  if (f.size() < 11)
    throw std::invalid_argument("Merlin frame header: " + std::to_string(f.size()) +
                                " fields, expected at least 11");
  MibFrameHeader h;
  h.sequence = to_size(f[1], "sequence number");
  h.header_bytes = to_size(f[2], "header size");
  h.chips = static_cast<int>(to_size(f[3], "chip count"));
  h.width = to_size(f[4], "width");
  h.height = to_size(f[5], "height");
  h.pixel_type = f[6];
  h.layout = f[7];
  h.timestamp = f[9];
  char* end = nullptr;
  h.shutter_s = std::strtod(f[10].c_str(), &end);
  if (h.pixel_type != "U08" && h.pixel_type != "U16" && h.pixel_type != "U32" && h.pixel_type != "R64")
    throw std::invalid_argument("Merlin frame header: pixel type '" + h.pixel_type +
                                "' is not one of U08, U16, U32, R64");
  if (h.header_bytes < 16 || h.width == 0 || h.height == 0)
    throw std::invalid_argument("Merlin frame header: header size " + std::to_string(h.header_bytes) +
                                ", frame " + std::to_string(h.width) + "×" + std::to_string(h.height) +
                                " is not a frame");
  for (std::size_t i = 11; i + 3 < f.size(); ++i) {
    if (f[i] == "MQ1A") {
      h.timestamp_iso = f[i + 1];
      std::size_t depth = 0;
      const auto& d = f[i + 3];
      if (std::from_chars(d.data(), d.data() + d.size(), depth).ec == std::errc())
        h.counter_depth = static_cast<int>(depth);
      break;
    }
  }
  if (h.counter_depth == 0) {
    if (h.pixel_type == "U16") h.counter_depth = 12;
    else if (h.pixel_type == "U32") h.counter_depth = 24;
  }
  return h;
}

std::map<std::string, std::string> read_mib_hdr(const std::filesystem::path& hdr) {
  std::ifstream in(hdr, std::ios::binary);
  if (!in) throw std::runtime_error(hdr.string() + ": cannot open the Merlin .hdr");
  std::string line;
  std::map<std::string, std::string> out;
  bool first = true;
  while (std::getline(in, line)) {
    if (first) {
      if (line.rfind("HDR,", 0) != 0)
        throw std::runtime_error(hdr.string() + ": not a Merlin .hdr (does not start with 'HDR,')");
      first = false;
      continue;
    }
    if (line.rfind("End", 0) == 0) break;
    const auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    std::string key = trim(std::string_view(line).substr(0, tab));
    if (!key.empty() && key.back() == ':') key.pop_back();
    out[key] = trim(std::string_view(line).substr(tab + 1));
  }
  if (first) throw std::runtime_error(hdr.string() + ": empty Merlin .hdr");
  return out;
}

MibFile::MibFile(const std::filesystem::path& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(path.string() + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw std::runtime_error(path.string() + ": not a regular file");
  }
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ < 16) {
    ::close(fd);
    throw std::runtime_error(path.string() + ": " + std::to_string(size_) +
                             " bytes, too short for a Merlin frame header");
  }
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) throw std::runtime_error(path.string() + ": cannot map (" + std::strerror(errno) + ")");
  map_ = static_cast<const std::byte*>(p);
  ::madvise(p, size_, MADV_SEQUENTIAL);
  try {
    // The header size is field 3; read enough text for either header size.
    const std::size_t probe = std::min<std::size_t>(size_, 768);
    const std::string_view head(reinterpret_cast<const char*>(map_), probe);
    const MibFrameHeader h0 = parse_mib_frame_header(head.substr(0, std::min<std::size_t>(probe, 384)));
    header_ = parse_mib_frame_header(head.substr(0, std::min(probe, h0.header_bytes)));
    if (header_.pixel_type == "U08") dtype_ = DType::uint8, data_bytes_ = header_.width * header_.height;
    else if (header_.pixel_type == "U16") dtype_ = DType::uint16, data_bytes_ = 2 * header_.width * header_.height;
    else if (header_.pixel_type == "U32") dtype_ = DType::uint32, data_bytes_ = 4 * header_.width * header_.height;
    else {  // R64
      if (header_.counter_depth != 1)
        throw std::runtime_error("raw (R64) frames at counter depth " +
                                 std::to_string(header_.counter_depth) +
                                 " bit are not supported (only 1-bit raw)");
      dtype_ = DType::uint8;
      if ((header_.width * header_.height) % 64 != 0)
        throw std::runtime_error("raw 1-bit frame of " + std::to_string(header_.width) + "×" +
                                 std::to_string(header_.height) + " pixels is not whole 64-bit words");
      data_bytes_ = header_.width * header_.height / 8;
    }
    ky_ = header_.height;
    kx_ = header_.width;
    if (header_.pixel_type == "R64" && header_.chips == 4) {
      if (header_.layout != "2x2" || header_.width % 4 != 0)
        throw std::runtime_error("raw quad frames with layout '" + header_.layout + "' and width " +
                                 std::to_string(header_.width) + " are not supported (2x2 only)");
      ky_ = 2 * header_.height;
      kx_ = header_.width / 2;
    }
    stride_ = header_.header_bytes + data_bytes_;
    frames_ = size_ / stride_;
    if (frames_ == 0)
      throw std::runtime_error(std::to_string(size_) + " bytes, shorter than one frame of " +
                               std::to_string(stride_) + " bytes");
    auto hdr_path = path;
    hdr_path.replace_extension(".hdr");
    std::error_code ec;
    if (std::filesystem::exists(hdr_path, ec)) hdr_ = read_mib_hdr(hdr_path);
  } catch (const std::exception& e) {
    ::munmap(const_cast<std::byte*>(map_), size_);
    map_ = nullptr;
    const std::string what = e.what();
    if (what.rfind(path.string(), 0) == 0) throw;
    throw std::runtime_error(path.string() + ": " + what);
  }
}

MibFile::~MibFile() {
  if (map_) ::munmap(const_cast<std::byte*>(map_), size_);
}

MibFrameHeader MibFile::frame_header(std::size_t i) const {
  if (i >= frames_)
    throw std::out_of_range(path_.string() + ": frame " + std::to_string(i) + " of " + std::to_string(frames_));
  const std::string_view text(reinterpret_cast<const char*>(map_ + i * stride_), header_.header_bytes);
  try {
    return parse_mib_frame_header(text);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(path_.string() + ": frame " + std::to_string(i) + ": " + e.what());
  }
}

namespace {

template <class T>
void decode_frame(const std::byte* src, const MibFrameHeader& h, std::size_t kx, T* out) {
  if (h.pixel_type == "U08") {
    const std::size_t n = h.width * h.height;
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<T>(std::to_integer<unsigned>(src[i]));
  } else if (h.pixel_type == "U16") {
    const std::size_t n = h.width * h.height;
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<T>(be16(src + 2 * i));
  } else if (h.pixel_type == "U32") {
    const std::size_t n = h.width * h.height;
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<T>(be32(src + 4 * i));
  } else {
    // R64 1-bit: each big-endian 64-bit word holds 64 consecutive pixels, pixel k of the word in
    // bit k (LiberTEM's decode_r1_swap: bytes taken from the end of the word, bits LSB first).
    auto bit = [&](std::size_t raw_row, std::size_t raw_col) -> T {
      const std::size_t p = raw_row * h.width + raw_col;
      const std::uint64_t w = be64(src + 8 * (p / 64));
      return static_cast<T>((w >> (p % 64)) & 1u);
    };
    if (h.chips != 4) {
      for (std::size_t r = 0; r < h.height; ++r)
        for (std::size_t c = 0; c < h.width; ++c) out[r * kx + c] = bit(r, c);
    } else {
      // Quad 2×2 raw: each stored row of 4·q pixels (q = width/4) is [chip 4 | chip 3 | chip 2 |
      // chip 1]. Output rows 0…height−1 = stored row y: chip 1 left, chip 2 right; output rows
      // height…2·height−1 = stored row 2·height−1−y, chips 3 (left) and 4 (right), both flipped
      // in x (and so, by the row order, in y) — LiberTEM's _mib_2x2_tile_block.
      const std::size_t q = h.width / 4;
      for (std::size_t y = 0; y < 2 * h.height; ++y) {
        T* row = out + y * kx;
        if (y < h.height) {
          for (std::size_t c = 0; c < q; ++c) {
            row[c] = bit(y, 3 * q + c);
            row[q + c] = bit(y, 2 * q + c);
          }
        } else {
          const std::size_t r = 2 * h.height - 1 - y;
          for (std::size_t c = 0; c < q; ++c) {
            row[c] = bit(r, 1 * q + (q - 1 - c));
            row[q + c] = bit(r, 0 * q + (q - 1 - c));
          }
        }
      }
    }
  }
}

}  // namespace

void MibFile::read_frame(std::size_t i, std::span<float> out) const {
  if (i >= frames_)
    throw std::out_of_range(path_.string() + ": frame " + std::to_string(i) + " of " + std::to_string(frames_));
  if (out.size() != ky_ * kx_)
    throw std::invalid_argument(path_.string() + ": read_frame needs " + std::to_string(ky_ * kx_) +
                                " values, got " + std::to_string(out.size()));
  decode_frame<float>(map_ + i * stride_ + header_.header_bytes, header_, kx_, out.data());
}

void MibFile::read_frame_bytes(std::size_t i, std::span<std::byte> out) const {
  if (i >= frames_)
    throw std::out_of_range(path_.string() + ": frame " + std::to_string(i) + " of " + std::to_string(frames_));
  const std::size_t n = ky_ * kx_;
  if (out.size() != n * dtype_size(dtype_))
    throw std::invalid_argument(path_.string() + ": read_frame_bytes needs " +
                                std::to_string(n * dtype_size(dtype_)) + " bytes, got " +
                                std::to_string(out.size()));
  const std::byte* src = map_ + i * stride_ + header_.header_bytes;
  switch (dtype_) {
    case DType::uint8: decode_frame<std::uint8_t>(src, header_, kx_, reinterpret_cast<std::uint8_t*>(out.data())); break;
    case DType::uint16: decode_frame<std::uint16_t>(src, header_, kx_, reinterpret_cast<std::uint16_t*>(out.data())); break;
    default: decode_frame<std::uint32_t>(src, header_, kx_, reinterpret_cast<std::uint32_t*>(out.data())); break;
  }
}

std::optional<double> MibFile::frame_period_s() const {
  if (frames_ < 2) return std::nullopt;
  const auto a = frame_header(0), b = frame_header(frames_ - 1);
  std::optional<std::pair<std::time_t, double>> ta, tb;
  if (!a.timestamp_iso.empty() && !b.timestamp_iso.empty()) {
    ta = parse_time(a.timestamp_iso);
    tb = parse_time(b.timestamp_iso);
  }
  if (!ta || !tb) {
    ta = parse_time(a.timestamp);
    tb = parse_time(b.timestamp);
  }
  if (!ta || !tb) return std::nullopt;
  const double dt = static_cast<double>(tb->first - ta->first) + (tb->second - ta->second);
  return dt / static_cast<double>(frames_ - 1);
}

MibScanOptions mib_scan_from_env() {
  MibScanOptions o;
  const char* v = std::getenv("AUTOSTEM_MIB_SCAN");
  if (!v || !*v) return o;
  const std::string t(v);
  const auto x = t.find_first_of("xX");
  std::size_t r = 0, c = 0;
  if (x == std::string::npos ||
      std::from_chars(t.data(), t.data() + x, r).ec != std::errc() ||
      std::from_chars(t.data() + x + 1, t.data() + t.size(), c).ec != std::errc() || r == 0 || c == 0)
    throw std::invalid_argument("AUTOSTEM_MIB_SCAN='" + t + "': expected ROWSxCOLS, e.g. 2x4");
  o.scan_rows = r;
  o.scan_cols = c;
  return o;
}

Signal read_mib(const std::filesystem::path& path, const MibScanOptions& options) {
  const MibFile f(path);
  const std::size_t n = f.frames();
  std::size_t rows = options.scan_rows, cols = options.scan_cols;
  std::string source = "caller";
  std::string warning;
  if ((rows == 0) != (cols == 0))
    throw std::runtime_error(path.string() + ": scan shape " + std::to_string(rows) + "×" +
                             std::to_string(cols) + " has a zero extent");
  std::size_t expected = 0;
  auto hdr_number = [&](const char* key) -> std::size_t {
    auto it = f.hdr().find(key);
    if (it == f.hdr().end()) return 0;
    std::size_t v = 0;
    const auto& s = it->second;
    if (std::from_chars(s.data(), s.data() + s.size(), v).ec != std::errc()) return 0;
    return v;
  };
  const std::size_t fpt = hdr_number("Frames per Trigger (Number)");
  const std::size_t fia = hdr_number("Frames in Acquisition (Number)");
  if (rows == 0) {
    if (fpt > 1 && fia >= fpt) {
      cols = fpt;
      rows = fia / fpt;
      source = "hdr";
    } else {
      // No scan shape known: one row of the frames the file holds (an interrupted acquisition
      // without a line trigger keeps every complete frame; the warning says what is missing).
      rows = 1;
      cols = n;
      source = "none";
      if (fia > n)
        warning = "the .hdr announces " + std::to_string(fia) + " frames but the file holds " +
                  std::to_string(n) + " (interrupted acquisition?)";
    }
  }
  expected = rows * cols;
  if (expected > n) {
    const std::string what = "the scan " + std::to_string(rows) + "×" + std::to_string(cols) +
                             " needs " + std::to_string(expected) + " frames but the file holds " +
                             std::to_string(n) + " (interrupted acquisition?)";
    if (!options.allow_partial || n < cols)
      throw std::runtime_error(path.string() + ": " + what +
                               (n < cols ? "; not even one scan row is complete" : ""));
    rows = n / cols;
    warning = what + "; kept the " + std::to_string(rows) + " complete rows";
  } else if (expected < n) {
    warning = "the file holds " + std::to_string(n) + " frames; the scan " + std::to_string(rows) +
              "×" + std::to_string(cols) + " uses the first " + std::to_string(expected);
  }
  Signal s;
  s.title = path.stem().string();
  s.signal_type = "";  // HyperSpy 1.7 knows no 4D-STEM type (pyxem adds "electron_diffraction")
  s.dtype = f.dtype();
  AxisCalibration ay{"y", "", 0.0, 1.0, rows, true}, ax{"x", "", 0.0, 1.0, cols, true};
  AxisCalibration aky{"ky", "", 0.0, 1.0, f.ky(), false}, akx{"kx", "", 0.0, 1.0, f.kx(), false};
  s.axes = {ay, ax, aky, akx};
  const std::size_t frame_bytes = f.ky() * f.kx() * dtype_size(f.dtype());
  s.bytes.resize(rows * cols * frame_bytes);
  for (std::size_t i = 0; i < rows * cols; ++i)
    f.read_frame_bytes(i, std::span<std::byte>(s.bytes.data() + i * frame_bytes, frame_bytes));
  const auto& h = f.header();
  s.metadata["Merlin.pixel_type"] = h.pixel_type;
  s.metadata["Merlin.counter_depth"] = std::to_string(h.counter_depth);
  s.metadata["Merlin.chips"] = std::to_string(h.chips);
  s.metadata["Merlin.layout"] = h.layout;
  s.metadata["Merlin.shutter_s"] = std::to_string(h.shutter_s);
  s.metadata["Merlin.timestamp"] = h.timestamp;
  s.metadata["Merlin.frames_in_file"] = std::to_string(n);
  s.metadata["Merlin.frame_bytes"] = std::to_string(f.frame_stride_bytes());
  s.metadata["Merlin.scan_shape_source"] = source;
  if (auto p = f.frame_period_s()) s.metadata["Merlin.frame_period_s"] = std::to_string(*p);
  if (!warning.empty()) s.metadata["Merlin.warning"] = warning;
  for (const auto& [k, v] : f.hdr()) s.metadata["Merlin.hdr." + k] = v;
  return s;
}

}  // namespace autostem::datasets
