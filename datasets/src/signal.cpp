#include <autostem/datasets/formats.hpp>
#include <autostem/datasets/hspy.hpp>
#include <autostem/datasets/mib.hpp>
#include <autostem/datasets/npy.hpp>
#include <autostem/datasets/signal.hpp>

#include "h5.hpp"
#include "isolate.hpp"
#include "readers.hpp"

#include <array>
#include <cstdint>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace autostem::datasets {

std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::boolean:
    case DType::int8:
    case DType::uint8: return 1;
    case DType::int16:
    case DType::uint16: return 2;
    case DType::int32:
    case DType::uint32:
    case DType::float32:
    case DType::rgba8: return 4;
    case DType::int64:
    case DType::uint64:
    case DType::float64:
    case DType::complex64: return 8;
    case DType::complex128: return 16;
  }
  throw std::invalid_argument("dtype_size: unknown dtype");
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::boolean: return "bool";
    case DType::int8: return "int8";
    case DType::uint8: return "uint8";
    case DType::int16: return "int16";
    case DType::uint16: return "uint16";
    case DType::int32: return "int32";
    case DType::uint32: return "uint32";
    case DType::int64: return "int64";
    case DType::uint64: return "uint64";
    case DType::float32: return "float32";
    case DType::float64: return "float64";
    case DType::complex64: return "complex64";
    case DType::complex128: return "complex128";
    case DType::rgba8: return "rgba8";
  }
  return "?";
}

std::vector<std::size_t> Signal::shape() const {
  std::vector<std::size_t> s;
  s.reserve(axes.size());
  for (const auto& a : axes) s.push_back(a.size);
  return s;
}

std::size_t Signal::size() const {
  if (axes.empty()) return bytes.empty() ? 0 : bytes.size() / dtype_size(dtype);
  std::size_t n = 1;
  for (const auto& a : axes) n *= a.size;
  return n;
}

namespace {
template <class T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
}  // namespace

double Signal::value(std::size_t flat) const {
  const std::size_t es = dtype_size(dtype);
  if (flat >= size() || (flat + 1) * es > bytes.size())
    throw std::out_of_range("Signal '" + title + "': element " + std::to_string(flat) +
                            " outside " + std::to_string(size()) + " elements");
  const std::byte* p = bytes.data() + flat * es;
  switch (dtype) {
    case DType::boolean: return load<std::uint8_t>(p) ? 1.0 : 0.0;
    case DType::int8: return load<std::int8_t>(p);
    case DType::uint8: return load<std::uint8_t>(p);
    case DType::int16: return load<std::int16_t>(p);
    case DType::uint16: return load<std::uint16_t>(p);
    case DType::int32: return load<std::int32_t>(p);
    case DType::uint32: return load<std::uint32_t>(p);
    case DType::int64: return static_cast<double>(load<std::int64_t>(p));
    case DType::uint64: return static_cast<double>(load<std::uint64_t>(p));
    case DType::float32: return load<float>(p);
    case DType::float64: return load<double>(p);
    case DType::complex64: return load<float>(p);
    case DType::complex128: return load<double>(p);
    case DType::rgba8: return load<std::uint8_t>(p);
  }
  return 0.0;
}

std::vector<double> Signal::to_double() const {
  const std::size_t n = size();
  std::vector<double> out(n);
  if (dtype == DType::float64 && bytes.size() >= n * 8) {
    std::memcpy(out.data(), bytes.data(), n * 8);
    return out;
  }
  for (std::size_t i = 0; i < n; ++i) out[i] = value(i);
  return out;
}

std::vector<float> Signal::to_float() const {
  const std::size_t n = size();
  std::vector<float> out(n);
  if (dtype == DType::float32 && bytes.size() >= n * 4) {
    std::memcpy(out.data(), bytes.data(), n * 4);
    return out;
  }
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(value(i));
  return out;
}

void Signal::check_view(std::size_t elem_size, int kind) const {
  int have = 0;
  switch (dtype) {
    case DType::float32:
    case DType::float64: have = 1; break;
    case DType::complex64:
    case DType::complex128: have = 2; break;
    default: have = 0;
  }
  if (dtype == DType::rgba8) {
    // rgba8 may be viewed as 4-byte integers (one pixel) only.
    have = 0;
  }
  if (elem_size != dtype_size(dtype) || kind != have)
    throw std::invalid_argument("Signal '" + title + "': cannot view " + dtype_name(dtype) +
                                " data as a " + std::to_string(elem_size) + "-byte " +
                                (kind == 2 ? "complex" : kind == 1 ? "floating-point" : "integer") +
                                " type");
  if (bytes.size() < size() * elem_size)
    throw std::invalid_argument("Signal '" + title + "': holds " + std::to_string(bytes.size()) +
                                " bytes, fewer than its shape needs");
}

const char* format_name(FileFormat f) {
  switch (f) {
    case FileFormat::hspy: return "HyperSpy HDF5";
    case FileFormat::emd_berkeley: return "EMD (Berkeley)";
    case FileFormat::emd_velox: return "EMD (Velox)";
    case FileFormat::hdf5_other: return "HDF5";
    case FileFormat::npy: return "NumPy .npy";
    case FileFormat::dm3: return "DigitalMicrograph DM3";
    case FileFormat::dm4: return "DigitalMicrograph DM4";
    case FileFormat::ser: return "FEI SER";
    case FileFormat::mib: return "Merlin MIB";
    case FileFormat::unknown: return "unknown";
  }
  return "unknown";
}

namespace {

constexpr std::array<unsigned char, 8> hdf5_signature{0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

// Any group (the root or one level below it) carrying the Berkeley EMD marker.
bool has_emd_group(hid_t file) {
  for (const auto& name : h5::children(file)) {
    if (!h5::is_group(file, name)) continue;
    h5::Handle g = h5::open_group(file, name);
    if (h5::has_attr(g, "emd_group_type")) return true;
    for (const auto& sub : h5::children(g)) {
      if (!h5::is_group(g, sub)) continue;
      h5::Handle s = h5::open_group(g, sub);
      if (h5::has_attr(s, "emd_group_type")) return true;
    }
  }
  return false;
}

FileFormat classify_hdf5_in_process(const std::filesystem::path& path) {
  h5::Handle file = h5::open_file(path, false);
  h5::Handle root = h5::open_group(file, "/");
  if (auto ff = h5::attr_string(root, "file_format"); ff && *ff == "HyperSpy") return FileFormat::hspy;
  if (h5::has_attr(root, "version_major") && has_emd_group(file)) return FileFormat::emd_berkeley;
  if (h5::is_dataset(file, "Version") && h5::is_group(file, "Data")) return FileFormat::emd_velox;
  // HyperSpy files from old versions may lack file_format but keep the layout.
  if (h5::is_group(file, "Experiments")) return FileFormat::hspy;
  return FileFormat::hdf5_other;
}

// The HDF5 probe runs in a child process: libhdf5 can crash on a corrupt file (isolate.hpp).
FileFormat classify_hdf5(const std::filesystem::path& path) {
  if (!detail::isolate_hdf5()) return classify_hdf5_in_process(path);
  FileFormat result = FileFormat::unknown;
  detail::run_isolated(
      path.string(),
      [&](detail::PipeWriter& w) {
        const auto f = static_cast<std::uint64_t>(classify_hdf5_in_process(path));
        w.write_u64(f);
      },
      [&](detail::PipeReader& r) {
        const std::uint64_t f = r.read_u64();
        if (f > static_cast<std::uint64_t>(FileFormat::unknown))
          throw std::runtime_error(path.string() + ": the HDF5 probe sent an invalid format");
        result = static_cast<FileFormat>(f);
      });
  return result;
}

void send_signals(detail::PipeWriter& w, const std::vector<Signal>& signals) {
  w.write_u64(signals.size());
  for (const auto& s : signals) {
    w.write_string(s.title);
    w.write_string(s.signal_type);
    w.write_u64(static_cast<std::uint64_t>(s.dtype));
    w.write_u64(s.axes.size());
    for (const auto& a : s.axes) {
      w.write_string(a.name);
      w.write_string(a.units);
      w.write_f64(a.offset);
      w.write_f64(a.scale);
      w.write_u64(a.size);
      w.write_u64(a.navigate ? 1 : 0);
    }
    w.write_u64(s.metadata.size());
    for (const auto& [k, v] : s.metadata) {
      w.write_string(k);
      w.write_string(v);
    }
    w.write_u64(s.bytes.size());
    w.write(s.bytes.data(), s.bytes.size());
  }
}

std::vector<Signal> receive_signals(detail::PipeReader& r) {
  constexpr std::uint64_t kMaxCount = 1u << 20;
  const std::uint64_t n = r.read_u64();
  if (n > kMaxCount) throw std::runtime_error("the reader process sent an invalid signal count");
  std::vector<Signal> out(static_cast<std::size_t>(n));
  for (auto& s : out) {
    s.title = r.read_string();
    s.signal_type = r.read_string();
    const std::uint64_t dtype = r.read_u64();
    if (dtype > static_cast<std::uint64_t>(DType::rgba8))
      throw std::runtime_error("the reader process sent an invalid dtype");
    s.dtype = static_cast<DType>(dtype);
    const std::uint64_t naxes = r.read_u64();
    if (naxes > 64) throw std::runtime_error("the reader process sent an invalid axis count");
    s.axes.resize(static_cast<std::size_t>(naxes));
    for (auto& a : s.axes) {
      a.name = r.read_string();
      a.units = r.read_string();
      a.offset = r.read_f64();
      a.scale = r.read_f64();
      a.size = static_cast<std::size_t>(r.read_u64());
      a.navigate = r.read_u64() != 0;
    }
    const std::uint64_t nmeta = r.read_u64();
    if (nmeta > kMaxCount) throw std::runtime_error("the reader process sent an invalid metadata count");
    for (std::uint64_t i = 0; i < nmeta; ++i) {
      auto k = r.read_string();
      s.metadata[std::move(k)] = r.read_string();
    }
    const std::uint64_t nbytes = r.read_u64();
    if (nbytes != static_cast<std::uint64_t>(s.size()) * dtype_size(s.dtype))
      throw std::runtime_error("the reader process sent a data block of the wrong size");
    s.bytes.resize(static_cast<std::size_t>(nbytes));
    r.read(s.bytes.data(), s.bytes.size());
  }
  return out;
}

}  // namespace

FileFormat detect_format(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw std::runtime_error(path.string() + ": cannot open (" +
                             (std::filesystem::exists(path) ? std::strerror(err)
                                                            : "no such file") +
                             ")");
  }
  std::error_code ec;
  const auto file_size = std::filesystem::file_size(path, ec);
  if (ec) throw std::runtime_error(path.string() + ": cannot read its size (" + ec.message() + ")");

  std::array<unsigned char, 16> head{};
  in.read(reinterpret_cast<char*>(head.data()), head.size());
  const auto got = static_cast<std::size_t>(in.gcount());

  // HDF5: the superblock signature sits at 0 or at a user-block offset 512, 1024, 2048, …
  // (HDF5 File Format Specification, §2.1 "Superblock").
  for (std::uintmax_t off = 0; off + 8 <= file_size; off = off == 0 ? 512 : off * 2) {
    std::array<unsigned char, 8> sig{};
    in.clear();
    in.seekg(static_cast<std::streamoff>(off));
    in.read(reinterpret_cast<char*>(sig.data()), 8);
    if (in.gcount() != 8) break;
    if (sig == hdf5_signature) return classify_hdf5(path);
  }

  if (got >= 6 && head[0] == 0x93 && std::memcmp(head.data() + 1, "NUMPY", 5) == 0)
    return FileFormat::npy;
  if (got >= 4) {
    // DM3/DM4: the first field is the big-endian uint32 file version (3 or 4).
    const std::uint32_t version = (std::uint32_t(head[0]) << 24) | (std::uint32_t(head[1]) << 16) |
                                  (std::uint32_t(head[2]) << 8) | std::uint32_t(head[3]);
    if (version == 3) return FileFormat::dm3;
    if (version == 4) return FileFormat::dm4;
    // FEI SER: little-endian ByteOrder 0x4949, SeriesID 0x0197, SeriesVersion 0x0210/0x0220.
    const std::uint16_t order = std::uint16_t(head[0] | (head[1] << 8));
    const std::uint16_t id = std::uint16_t(head[2] | (head[3] << 8));
    if (order == 0x4949 && (id == 0x0197 || id == 0x0220)) return FileFormat::ser;
    // Quantum Detectors Merlin: every frame header starts "MQ1," (mib.hpp).
    if (std::memcmp(head.data(), "MQ1,", 4) == 0) return FileFormat::mib;
  }
  return FileFormat::unknown;
}

#ifndef AUTOSTEM_HAVE_FORMATS
namespace {
[[noreturn]] void reader_not_built(const std::filesystem::path& path, const char* what) {
  throw std::runtime_error(path.string() + ": " + what + " files need the " + what +
                           " reader, which is not built (datasets/formats.cmake missing)");
}
}  // namespace
#endif

namespace {

std::vector<Signal> read_signals_in_process(const std::filesystem::path& path, FileFormat f) {
  switch (f) {
    case FileFormat::hspy: return read_hspy(path);
    case FileFormat::npy: return {read_npy(path)};
    case FileFormat::hdf5_other: return detail::read_hdf5_generic(path);
#ifdef AUTOSTEM_HAVE_FORMATS
    case FileFormat::dm3:
    case FileFormat::dm4: return read_dm(path);
    case FileFormat::ser: return read_ser(path);
    case FileFormat::emd_berkeley:
    case FileFormat::emd_velox: return read_emd(path);
    case FileFormat::mib: return {read_mib(path, mib_scan_from_env())};
#else
    case FileFormat::mib: reader_not_built(path, "Merlin MIB");
    case FileFormat::dm3: reader_not_built(path, "DM3");
    case FileFormat::dm4: reader_not_built(path, "DM4");
    case FileFormat::ser: reader_not_built(path, "SER");
    case FileFormat::emd_berkeley:
    case FileFormat::emd_velox: reader_not_built(path, "EMD");
#endif
    case FileFormat::unknown: break;
  }
  throw std::runtime_error(path.string() +
                           ": not a recognised format (expected HDF5/HyperSpy/EMD, NumPy .npy, "
                           "DM3/DM4, FEI SER or Merlin MIB by content)");
}

bool is_hdf5_format(FileFormat f) {
  return f == FileFormat::hspy || f == FileFormat::hdf5_other || f == FileFormat::emd_berkeley ||
         f == FileFormat::emd_velox;
}

}  // namespace

std::vector<Signal> read_signals(const std::filesystem::path& path) {
  const FileFormat f = detect_format(path);
  if (!is_hdf5_format(f) || !detail::isolate_hdf5()) return read_signals_in_process(path, f);
  // HDF5-based formats are read in a child process: libhdf5 can crash on a corrupt file.
  std::vector<Signal> result;
  detail::run_isolated(
      path.string(),
      [&](detail::PipeWriter& w) { send_signals(w, read_signals_in_process(path, f)); },
      [&](detail::PipeReader& r) { result = receive_signals(r); });
  return result;
}

Signal read_signal(const std::filesystem::path& path) {
  auto all = read_signals(path);
  if (all.empty()) throw std::runtime_error(path.string() + ": contains no data set");
  return std::move(all.front());
}

}  // namespace autostem::datasets
