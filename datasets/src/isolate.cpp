#include "isolate.hpp"

#include <csignal>
#include <cerrno>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <system_error>

#include <poll.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace autostem::datasets::detail {

namespace {

constexpr unsigned char kOk = 'O';
constexpr unsigned char kError = 'E';

void write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "writing to the parent process");
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

}  // namespace

void PipeWriter::write(const void* data, std::size_t n) {
  started_ = true;
  const char* p = static_cast<const char*>(data);
  if (n >= (1u << 16)) {  // large blocks (the data) go straight to the pipe
    flush();
    write_all(fd_, p, n);
    return;
  }
  buffer_.append(p, n);
  if (buffer_.size() >= (1u << 16)) flush();
}

void PipeWriter::flush() {
  if (buffer_.empty()) return;
  write_all(fd_, buffer_.data(), buffer_.size());
  buffer_.clear();
}

void PipeReader::read(void* data, std::size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t r = ::read(fd_, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "reading from the reader process");
    }
    if (r == 0) throw std::runtime_error("the reader process ended its output early");
    p += r;
    n -= static_cast<std::size_t>(r);
  }
}

std::string PipeReader::read_string(std::size_t max_len) {
  const std::uint64_t n = read_u64();
  if (n > max_len) throw std::runtime_error("the reader process sent an oversized string");
  std::string s(static_cast<std::size_t>(n), '\0');
  read(s.data(), s.size());
  return s;
}

double hdf5_timeout_s() {
  const char* v = std::getenv("AUTOSTEM_HDF5_TIMEOUT_S");
  if (!v || !*v) return 300.0;
  char* end = nullptr;
  const double t = std::strtod(v, &end);
  return end != v && t >= 0 && t < 1e9 ? t : 300.0;
}

bool isolate_hdf5() {
  const char* v = std::getenv("AUTOSTEM_HDF5_IN_PROCESS");
  return !(v && *v && std::strcmp(v, "0") != 0);
}

void run_isolated(const std::string& what, const std::function<void(PipeWriter&)>& produce,
                  const std::function<void(PipeReader&)>& consume) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::system_error(errno, std::generic_category(), "pipe() for " + what);
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw std::system_error(err, std::generic_category(), "fork() to read " + what);
  }
  if (pid == 0) {
    // Child: produce, report, and leave without running the parent's atexit handlers or
    // flushing its stdio buffers (_exit).
    ::close(fds[0]);
    std::signal(SIGPIPE, SIG_DFL);
    // A crash of the library is expected on hostile files: no core dump (they take seconds).
    struct rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    int code = 0;
    PipeWriter w(fds[1], std::string(1, static_cast<char>(kOk)));
    auto report = [&](const char* message) {
      if (w.started()) {
        code = 3;  // the result stream is already under way: the parent sees a failed child
        return;
      }
      try {
        PipeWriter e(fds[1], std::string(1, static_cast<char>(kError)));
        e.write_string(message);
        e.flush();
      } catch (...) {
        code = 4;
      }
    };
    try {
      produce(w);
      static const char none = 0;
      w.write(&none, 0);  // an empty result still sends its status byte
      w.flush();
    } catch (const std::exception& e) {
      report(e.what());
    } catch (...) {
      report("unknown error in the reader process");
    }
    ::close(fds[1]);
    ::_exit(code);
  }
  ::close(fds[1]);
  // Parent: the child writes nothing until its read is done, so the first byte (or the end of
  // the stream, if it died) must come within the time limit; a corrupt file can make libhdf5
  // loop forever (docs/robustness.md). Then read the whole stream (the child may block on a
  // full pipe), then reap it.
  if (const double limit = hdf5_timeout_s(); limit > 0) {
    pollfd p{fds[0], POLLIN, 0};
    const int ms = static_cast<int>(std::min(limit * 1000.0, 2.0e9));
    int rc = 0;
    do rc = ::poll(&p, 1, ms);
    while (rc < 0 && errno == EINTR);
    if (rc == 0) {
      ::kill(pid, SIGKILL);
      ::close(fds[0]);
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      char secs[32];
      std::snprintf(secs, sizeof secs, "%g", limit);
      throw std::runtime_error(what + ": the reader process did not finish within " + secs +
                               " s and was stopped (a corrupt HDF5 file can make the HDF5 library loop; "
                               "AUTOSTEM_HDF5_TIMEOUT_S sets the limit, 0 = none)");
    }
  }
  std::string child_error;
  std::exception_ptr consume_error;
  bool ok = false;
  try {
    PipeReader r(fds[0]);
    unsigned char tag = 0;
    r.read(&tag, 1);
    if (tag == kOk) {
      consume(r);
      ok = true;
    } else if (tag == kError) {
      child_error = r.read_string(1 << 20);
    }
  } catch (...) {
    consume_error = std::current_exception();
  }
  // Drain what is left so the child can finish writing and exit.
  {
    char sink[4096];
    while (true) {
      const ssize_t n = ::read(fds[0], sink, sizeof sink);
      if (n > 0) continue;
      if (n < 0 && errno == EINTR) continue;
      break;
    }
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "waitpid for " + what);
  }
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    throw std::runtime_error(what + ": corrupt or unreadable HDF5 file — the HDF5 library crashed while reading it (signal " +
                             std::to_string(sig) + ", " + strsignal(sig) +
                             ", in a separate reader process; nothing was loaded and this process is unaffected)");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error(what + ": the reader process failed (exit status " +
                             std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")");
  if (!child_error.empty()) throw std::runtime_error(child_error);
  if (consume_error) std::rethrow_exception(consume_error);
  if (!ok) throw std::runtime_error(what + ": the reader process sent no result");
}

}  // namespace autostem::datasets::detail
