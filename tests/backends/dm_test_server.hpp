#pragma once
// Test helpers for the live DM backend: the real server script started under python3 with the
// fake DigitalMicrograph module on loopback (127.0.0.1, a free port), and a TCP proxy that can
// drop a connection at a chosen frame. Everything is bounded: the server exits by itself after
// its lifetime, waits have deadlines, the destructor kills what was started (by pid).

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace autostem::testing {

inline const std::vector<std::uint8_t>& test_key() {
  static const std::vector<std::uint8_t> key = [] {
    std::vector<std::uint8_t> k(32);
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(7 * i + 3);
    return k;
  }();
  return key;
}

class DmServerProcess {
 public:
  /// fake: the AUTOSTEM_FAKE_DM config; settings: merged over a loopback-only default.
  DmServerProcess(const nlohmann::json& fake, std::size_t rows, std::size_t cols,
                  const nlohmann::json& settings_extra = nlohmann::json::object()) {
    char tmpl[] = "/tmp/autostem-dm-test-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    {
      std::ofstream k(dir_ / "key");
      static const char* hex = "0123456789abcdef";
      for (auto b : test_key()) k << hex[b >> 4] << hex[b & 15];
      k << "\n";
    }
    nlohmann::json s = {{"key_file", (dir_ / "key").string()},
                        {"host", "127.0.0.1"},
                        {"port", 0},
                        {"allowed_clients", {"127.0.0.1"}},
                        {"survey_shape", {rows, cols}},
                        {"pixel_size_nm", 6.0},  // the 32x32 nanowire phantom: 192 nm / 32
                        {"detectors", {{"HAADF", 0}}},
                        {"probe_current_pA", 30.0},
                        {"survey_bytes_per_pixel", 8},
                        {"limits", {{"max_exposure_s", 10.0}, {"max_frame_bytes", 1 << 16}}}};
    s.merge_patch(settings_extra);
    std::ofstream(dir_ / "settings.json") << s.dump();
    const std::string port_file = (dir_ / "port").string();
    const std::string log = (dir_ / "server.log").string();
    const std::string fake_text = fake.dump();
    const std::string settings_path = (dir_ / "settings.json").string();
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      const std::string pp = std::string(AUTOSTEM_DM_FAKE_DIR) + ":" + AUTOSTEM_PYTHON_MODULE_DIR;
      setenv("PYTHONPATH", pp.c_str(), 1);
      setenv("AUTOSTEM_FAKE_DM", fake_text.c_str(), 1);
      setenv("PYTHONDONTWRITEBYTECODE", "1", 1);  // no __pycache__ in the source tree
      if (!freopen(log.c_str(), "w", stdout) || !freopen(log.c_str(), "a", stderr)) _exit(126);
      execl(AUTOSTEM_DM_PYTHON, AUTOSTEM_DM_PYTHON, AUTOSTEM_DM_SERVER_SCRIPT, "--settings",
            settings_path.c_str(), "--port-file", port_file.c_str(), "--lifetime-s", "300",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(port_file);
      if (in >> port_) return;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("the DM server exited at start:\n" + log_text());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("the DM server did not start within 60 s:\n" + log_text());
  }

  ~DmServerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGCONT);
      ::kill(pid_, SIGTERM);
      for (int i = 0; i < 200; ++i) {
        if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
          pid_ = -1;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
      }
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::uint16_t port() const { return static_cast<std::uint16_t>(port_); }
  pid_t pid() const { return pid_; }
  void signal(int sig) const {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  /// SIGKILL and reap.
  void kill_now() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  std::string log_text() const {
    std::ifstream in(dir_ / "server.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

/// A loopback TCP proxy in front of the server that forwards whole frames and, once, drops the
/// client connection instead of forwarding the N-th server→client frame (the answer is lost
/// after the server acted on the request). New connections are accepted afterwards.
class DroppingProxy {
 public:
  DroppingProxy(std::uint16_t upstream_port, int drop_at_server_frame)
      : upstream_(upstream_port), drop_at_(drop_at_server_frame) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(listen_fd_, 4) != 0)
      throw std::runtime_error("proxy: bind/listen failed");
    socklen_t len = sizeof a;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~DroppingProxy() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    if (thread_.joinable()) thread_.join();
  }
  std::uint16_t port() const { return port_; }
  int drops() const { return drops_; }

 private:
  static bool read_exact(int fd, void* p, std::size_t n) {
    auto* c = static_cast<char*>(p);
    while (n) {
      const ssize_t k = ::recv(fd, c, n, 0);
      if (k <= 0) return false;
      c += k;
      n -= static_cast<std::size_t>(k);
    }
    return true;
  }
  static bool write_all(int fd, const void* p, std::size_t n) {
    const auto* c = static_cast<const char*>(p);
    while (n) {
      const ssize_t k = ::send(fd, c, n, MSG_NOSIGNAL);
      if (k <= 0) return false;
      c += k;
      n -= static_cast<std::size_t>(k);
    }
    return true;
  }
  static bool forward_frame(int from, int to, bool deliver) {
    std::uint32_t len = 0;
    if (!read_exact(from, &len, 4) || len > (1u << 28)) return false;
    std::vector<char> body(len);
    if (!read_exact(from, body.data(), len)) return false;
    if (!deliver) return false;
    return write_all(to, &len, 4) && write_all(to, body.data(), len);
  }

  void loop() {
    while (!stop_) {
      const int client = ::accept(listen_fd_, nullptr, nullptr);
      if (client < 0) return;
      const int server = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(upstream_);
      if (::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(client);
        ::close(server);
        continue;
      }
      std::thread up([client, server] {
        while (forward_frame(client, server, true)) {
        }
        ::shutdown(server, SHUT_RDWR);
        ::shutdown(client, SHUT_RDWR);
      });
      for (;;) {
        const bool deliver = !(++server_frames_ == drop_at_ && drops_ == 0);
        if (!deliver) ++drops_;
        if (!forward_frame(server, client, deliver)) break;
      }
      ::shutdown(client, SHUT_RDWR);
      ::shutdown(server, SHUT_RDWR);
      up.join();
      ::close(client);
      ::close(server);
    }
  }

  std::uint16_t upstream_;
  int drop_at_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> server_frames_{0};
  std::atomic<int> drops_{0};
  std::thread thread_;
};

}  // namespace autostem::testing
