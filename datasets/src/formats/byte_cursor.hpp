#pragma once
// Bounds-checked reading of a file image held in memory. Every read checks the remaining length
// first, so a truncated or hostile file produces a std::runtime_error naming the source and the
// byte offset instead of reading past the end. Private to the format readers.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace autostem::datasets::detail {

[[noreturn]] inline void format_error(const std::string& source, std::uint64_t offset,
                                      const std::string& what) {
  throw std::runtime_error(source + ": at byte " + std::to_string(offset) + ": " + what);
}

template <class T>
T byteswap_value(T v) {
  static_assert(std::is_trivially_copyable_v<T>);
  unsigned char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  for (std::size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(b[i], b[sizeof(T) - 1 - i]);
  std::memcpy(&v, b, sizeof(T));
  return v;
}

/// Reverses the bytes of each `width`-byte word of `data` in place (width 1 is a no-op).
void byteswap_words(std::byte* data, std::size_t bytes, std::size_t width);

class ByteCursor {
 public:
  ByteCursor(std::span<const std::byte> data, const std::string& source)
      : data_(data), source_(source) {}

  std::uint64_t pos() const { return pos_; }
  std::uint64_t size() const { return data_.size(); }
  std::uint64_t remaining() const { return data_.size() - pos_; }
  const std::string& source() const { return source_; }
  std::span<const std::byte> data() const { return data_; }

  void need(std::uint64_t n, const char* what) const {
    if (n > remaining())
      format_error(source_, pos_,
                   std::string(what) + " needs " + std::to_string(n) + " bytes but only " +
                       std::to_string(remaining()) + " remain (truncated or corrupt file)");
  }
  void seek(std::uint64_t p, const char* what) {
    if (p > data_.size())
      format_error(source_, pos_,
                   std::string(what) + " points to byte " + std::to_string(p) +
                       " beyond the end of the file (" + std::to_string(data_.size()) + " bytes)");
    pos_ = p;
  }
  void skip(std::uint64_t n, const char* what) {
    need(n, what);
    pos_ += n;
  }
  const std::byte* take(std::uint64_t n, const char* what) {
    need(n, what);
    const std::byte* p = data_.data() + pos_;
    pos_ += n;
    return p;
  }
  template <class T>
  T read(bool little_endian, const char* what) {
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));
    if (little_endian != (std::endian::native == std::endian::little)) v = byteswap_value(v);
    return v;
  }
  template <class T>
  T be(const char* what) { return read<T>(false, what); }
  template <class T>
  T le(const char* what) { return read<T>(true, what); }

  [[noreturn]] void fail(const std::string& what) const { format_error(source_, pos_, what); }

 private:
  std::span<const std::byte> data_;
  std::string source_;
  std::uint64_t pos_ = 0;
};

/// A whole file, mapped read-only (MAP_POPULATE, so the page-cache pages are mapped in one go
/// instead of one fault per page) or, for small files and where mapping fails, read once into
/// memory. The parsers then work on its span.
class FileBuffer {
 public:
  FileBuffer() = default;
  FileBuffer(FileBuffer&& o) noexcept { swap(o); }
  FileBuffer& operator=(FileBuffer&& o) noexcept {
    FileBuffer tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  FileBuffer(const FileBuffer&) = delete;
  FileBuffer& operator=(const FileBuffer&) = delete;
  ~FileBuffer();
  std::span<const std::byte> span() const { return {ptr_, size_}; }

 private:
  friend FileBuffer read_file_bytes(const std::filesystem::path& path);
  void swap(FileBuffer& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(size_, o.size_);
    std::swap(mapped_, o.mapped_);
    std::swap(heap_, o.heap_);
  }
  const std::byte* ptr_ = nullptr;
  std::size_t size_ = 0;
  bool mapped_ = false;
  std::unique_ptr<std::byte[]> heap_;
};
/// Throws std::runtime_error naming the path and the OS error.
FileBuffer read_file_bytes(const std::filesystem::path& path);

/// Resizes `v` to n bytes, asking the kernel for transparent huge pages first when n is large:
/// first-touch page faults dominate reading big files otherwise (one per 4 KiB).
void resize_for_overwrite_large(std::vector<std::byte>& v, std::size_t n);

}  // namespace autostem::datasets::detail
