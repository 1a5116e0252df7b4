#pragma once
// Reading untrusted HDF5 files in a child process (docs/robustness.md, "HDF5").
//
// libhdf5 1.10.8 (Debian 12) can crash inside the library on a corrupt file — out-of-bounds
// memcpy in H5HG_read, NULL memcpy in H5F__accum_read, 2^62-byte allocations from H5C_protect —
// which no caller can catch. The HDF5-based readers (HyperSpy, EMD, generic HDF5, and the
// format probe) therefore run in a fork()ed child that sends its result back through a pipe: a
// crash of the library becomes a clear std::runtime_error in the caller, and the caller's
// process (with everything it has already measured) survives.
//
// AUTOSTEM_HDF5_IN_PROCESS=1 in the environment reads in-process instead (for debuggers and
// profilers; a corrupt file can then crash the process).

#include <cstddef>
#include <functional>
#include <span>
#include <string>

namespace autostem::datasets::detail {

/// Where the child writes its result: a buffered writer on the pipe.
class PipeWriter {
 public:
  /// `prefix` (a status byte) is sent before the first byte written, so that a producer that
  /// throws before writing anything can still report an error on a clean stream.
  PipeWriter(int fd, std::string prefix) : fd_(fd), buffer_(std::move(prefix)) {}
  /// True once anything has been written (then the stream can no longer carry an error).
  bool started() const { return started_; }
  void write(const void* data, std::size_t n);
  void write_u64(std::uint64_t v) { write(&v, sizeof v); }
  void write_f64(double v) { write(&v, sizeof v); }
  void write_string(const std::string& s) { write_u64(s.size()); write(s.data(), s.size()); }
  void flush();

 private:
  int fd_;
  std::string buffer_;
  bool started_ = false;
};

/// What the parent reads back. Every read throws std::runtime_error on a short stream.
class PipeReader {
 public:
  explicit PipeReader(int fd) : fd_(fd) {}
  void read(void* data, std::size_t n);
  std::uint64_t read_u64() { std::uint64_t v; read(&v, sizeof v); return v; }
  double read_f64() { double v; read(&v, sizeof v); return v; }
  /// A length-prefixed string of at most max_len bytes.
  std::string read_string(std::size_t max_len = std::size_t(1) << 30);

 private:
  int fd_;
};

/// True unless AUTOSTEM_HDF5_IN_PROCESS is set to a non-empty value other than "0".
bool isolate_hdf5();

/// Seconds the child of run_isolated may take before it sends anything: AUTOSTEM_HDF5_TIMEOUT_S
/// (0 = no limit), default 300. A corrupt file can make libhdf5 1.10.8 loop forever (H5HG_read →
/// H5C_protect on a corrupt global heap, found by fuzz_emd).
double hdf5_timeout_s();

/// Runs produce(writer) in a fork()ed child — which must finish everything that can fail
/// (reading the file) before it writes its result — and consume(reader) in the caller on what it wrote.
/// An exception thrown by produce is rethrown in the caller as std::runtime_error with the same
/// message. If the child dies (a signal, e.g. SIGSEGV inside libhdf5, or an abnormal exit), throws
/// std::runtime_error naming `what` (e.g. the file path), the signal and the likely cause; nothing
/// of the child's partial output is used. If the child sends nothing within hdf5_timeout_s(), it is
/// killed and std::runtime_error names `what` and the limit. Throws std::system_error if pipe() or
/// fork() fails.
void run_isolated(const std::string& what, const std::function<void(PipeWriter&)>& produce,
                  const std::function<void(PipeReader&)>& consume);

}  // namespace autostem::datasets::detail
