#include <autostem/backends/dm_client.hpp>

#include <autostem/core/field.hpp>

#include "dm_protocol.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace autostem::backends {

namespace asio = boost::asio;
using asio::ip::tcp;
using json = nlohmann::json;

std::vector<std::uint8_t> read_key_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("key file " + path.string() + ": cannot be read");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto first = text.find_first_not_of(" \t\r\n");
  const auto last = text.find_last_not_of(" \t\r\n");
  text = first == std::string::npos ? std::string() : text.substr(first, last - first + 1);
  std::vector<std::uint8_t> key;
  try {
    key = dm::from_hex(text);
  } catch (const std::invalid_argument&) {
    key.assign(text.begin(), text.end());
  }
  if (key.size() < 16)
    throw std::invalid_argument("key file " + path.string() + ": the key has " +
                                std::to_string(key.size()) +
                                " bytes; at least 16 are required (e.g. 64 hex digits from "
                                "`openssl rand -hex 32`)");
  return key;
}

namespace {

using Clock = std::chrono::steady_clock;

/// The connection is gone or did not answer in time: worth reconnecting.
class LinkError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One authenticated TCP connection with a deadline on every operation (Asio's run_for pattern:
/// asynchronous operations, the io_context run for at most the time left, the socket closed when
/// the time is up so the pending handlers complete with operation_aborted).
class Link {
 public:
  Link(const DmClientOptions& o) : o_(o), socket_(io_) {}

  void connect() {
    const auto timeout = o_.connect_timeout_s;
    boost::system::error_code ec;
    tcp::resolver resolver(io_);
    auto endpoints = resolver.resolve(o_.host, std::to_string(o_.port), ec);
    if (ec) throw LinkError("cannot resolve " + o_.host + ": " + ec.message());
    bool done = false;
    asio::async_connect(socket_, endpoints, [&](const boost::system::error_code& e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
    run(done, timeout, "connecting to " + where());
    if (ec) throw LinkError("cannot connect to " + where() + ": " + ec.message());
    socket_.set_option(tcp::no_delay(true));
    handshake();
  }

  bool open() const { return socket_.is_open(); }
  void close() {
    boost::system::error_code ec;
    socket_.close(ec);
  }

  /// Sends a request and waits for its answer. Throws LinkError (lost, timed out, bad tag on a
  /// response) and DmRefused (an authenticated refusal).
  dm::Frame call(dm::Op op, const json& meta, double timeout_s) {
    dm::Frame f;
    f.kind = dm::Kind::request;
    f.op = static_cast<std::uint16_t>(op);
    f.seq = ++seq_;
    f.meta = meta.dump();
    write(dm::encode_frame(key_, f), timeout_s);
    dm::Frame r = read(key_, timeout_s);
    if (!r.tag_ok)
      throw LinkError("answer to " + std::to_string(f.op) + " failed authentication");
    if (r.seq != f.seq)
      throw LinkError("answer has sequence " + std::to_string(r.seq) + ", expected " +
                      std::to_string(f.seq));
    if (r.kind == dm::Kind::error) throw DmRefused("server refused: " + error_text(r));
    if (r.kind != dm::Kind::response || r.op != f.op)
      throw LinkError("unexpected answer kind/op from the server");
    return r;
  }

  std::string where() const { return o_.host + ":" + std::to_string(o_.port); }

 private:
  static std::string error_text(const dm::Frame& r) {
    try {
      return json::parse(r.meta).value("error", std::string("(no message)"));
    } catch (const std::exception&) {
      return "(unreadable error message)";
    }
  }

  void handshake() {
    key_ = o_.key;
    dm::Frame hello = read(o_.key, o_.connect_timeout_s);
    if (hello.kind == dm::Kind::error)
      throw DmRefused("server " + where() + " refused the connection: " + error_text(hello));
    if (!hello.tag_ok)
      throw DmRefused("server " + where() + " failed authentication (wrong key, or not an "
                      "autostem server)");
    if (hello.kind != dm::Kind::hello) throw LinkError("server did not start with a hello");
    const std::string server_nonce_hex = json::parse(hello.meta).at("nonce").get<std::string>();
    const auto server_nonce = dm::from_hex(server_nonce_hex);
    const auto client_nonce = dm::random_bytes(dm::kNonceBytes);
    dm::Frame f;
    f.kind = dm::Kind::hello;
    f.op = static_cast<std::uint16_t>(dm::Op::hello);
    f.seq = 1;
    f.meta = json{{"nonce", dm::to_hex(client_nonce)}, {"server_nonce", server_nonce_hex}}.dump();
    write(dm::encode_frame(o_.key, f), o_.connect_timeout_s);
    key_ = dm::session_key(o_.key, client_nonce, server_nonce);
    dm::Frame r = read(key_, o_.connect_timeout_s);
    if (r.kind == dm::Kind::error) {
      // A refusal is tagged with the shared key when the server could not derive ours.
      throw DmRefused("server " + where() + " refused the handshake: " + error_text(r));
    }
    if (!r.tag_ok || r.seq != 1) throw LinkError("handshake answer failed authentication");
    seq_ = 1;
  }

  void run(bool& done, double timeout_s, const std::string& what) {
    io_.restart();
    io_.run_for(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s)));
    if (!done) {
      close();
      io_.restart();
      io_.run();  // lets the aborted handlers finish
      throw LinkError(what + ": no answer from " + where() + " within " +
                      std::to_string(timeout_s) + " s");
    }
  }

  void write(const std::vector<std::uint8_t>& bytes, double timeout_s) {
    bool done = false;
    boost::system::error_code ec;
    asio::async_write(socket_, asio::buffer(bytes), [&](const boost::system::error_code& e, std::size_t) {
      ec = e;
      done = true;
    });
    run(done, timeout_s, "sending");
    if (ec) throw LinkError("connection to " + where() + " lost while sending: " + ec.message());
  }

  void read_exact(void* dst, std::size_t n, double timeout_s) {
    bool done = false;
    boost::system::error_code ec;
    asio::async_read(socket_, asio::buffer(dst, n), [&](const boost::system::error_code& e, std::size_t) {
      ec = e;
      done = true;
    });
    run(done, timeout_s, "waiting for the answer");
    if (ec) throw LinkError("connection to " + where() + " lost: " + ec.message());
  }

  dm::Frame read(const std::vector<std::uint8_t>& key, double timeout_s) {
    std::uint32_t len = 0;
    read_exact(&len, 4, timeout_s);
    // The declared size is checked before anything is allocated.
    if (len > o_.max_frame_bytes)
      throw LinkError("server frame declares " + std::to_string(len) + " bytes; the limit is " +
                      std::to_string(o_.max_frame_bytes));
    std::vector<std::uint8_t> body(len);
    read_exact(body.data(), len, timeout_s);
    try {
      return dm::decode_body(std::move(body), key);
    } catch (const std::runtime_error& e) {
      throw LinkError(std::string("malformed frame from the server: ") + e.what());
    }
  }

  const DmClientOptions& o_;
  asio::io_context io_;
  tcp::socket socket_;
  std::vector<std::uint8_t> key_;
  std::uint64_t seq_ = 0;
};

struct Job {
  Position requested;
  double exposure_s;
  std::uint64_t acq_id;
};

}  // namespace

struct DmInstrument::Impl {
  DmClientOptions o;
  std::optional<Link> link;
  Clock::time_point t0 = Clock::now();
  InstrumentInfo info;
  double probe_current_pA = 0.0;
  std::deque<Job> queue;
  std::uint64_t next_acq_id = 0;
  double electrons = 0.0;
  double overhead_sum_s = 0.0;
  std::size_t overhead_n = 0;
  bool blanked_known = false;
  /// The server runs on a simulator's clock (a rehearsal with the fake DM): session time, the
  /// times of every acquisition and the cost of a point are the server's, so a rehearsal sees
  /// the simulated run's timeline (and drift). Live: this computer's wall clock.
  bool simulated_clock = false;
  std::vector<std::pair<double, double>> point_time_cache;  ///< (exposure_s, time_s), rehearsal
  /// Rehearsal: the server's clock as last reported (info's t_s, then each acquisition's
  /// t_end_s). A simulated clock advances only while the server acquires, so this is the
  /// server's time now, without a round trip (and without failing when the link is down).
  double server_t_s = 0.0;
  DmLinkStats stats;

  void log(const std::string& msg) const {
    if (o.log) o.log(msg);
    else std::cerr << "autostem dm: " << msg << std::endl;
  }

  double now() const { return std::chrono::duration<double>(Clock::now() - t0).count(); }

  /// Session time: the server's simulated clock in a rehearsal, else now(). Never throws.
  double session_now() const { return simulated_clock ? server_t_s : now(); }

  /// An answer's (t_start_s, t_end_s) on the session clock: the server's in a rehearsal (which
  /// also moves server_t_s on), else the client's wall-clock times around the request.
  std::pair<double, double> times(const json& j, double wall_start, double wall_end) {
    if (!simulated_clock) return {wall_start, wall_end};
    const double t1 = j.at("t_end_s").get<double>();
    server_t_s = std::max(server_t_s, t1);
    return {j.at("t_start_s").get<double>(), t1};
  }

  /// A scanned image's reply (survey or patch): checks it is a float32/float64 (rows, cols)
  /// array, copies it and fills the Survey's image, dwell, current, detector and times; counts
  /// the server's electrons. dose_e_per_A2 is left to the caller (field mean vs per pixel).
  /// Throws std::runtime_error naming `what` on a malformed reply.
  Survey scanned_image(const dm::Frame& r, const json& j, std::size_t rows, std::size_t cols,
                       const std::string& what, std::pair<double, double> t) {
    if ((r.dtype != dm::DType::f32 && r.dtype != dm::DType::f64) || r.shape.size() != 2 ||
        r.shape[0] != rows || r.shape[1] != cols)
      throw std::runtime_error("server sent a " + what + " that is not a float32/float64 array of " +
                               std::to_string(rows) + " x " + std::to_string(cols));
    Survey s;
    s.image.data.resize(r.shape[0], r.shape[1]);
    double* dst = s.image.data.data();
    const std::size_t n = std::size_t(r.shape[0]) * r.shape[1];
    if (r.dtype == dm::DType::f64) {
      std::memcpy(dst, r.payload.data(), n * sizeof(double));
    } else {
      const float* src = reinterpret_cast<const float*>(r.payload.data());
      for (std::size_t i = 0; i < n; ++i) dst[i] = src[i];
    }
    s.image.calibration = info.calibration;
    s.image.name = j.at("detector").get<std::string>();
    s.image.units = "counts";
    s.dwell_s = j.at("dwell_s").get<double>();
    s.probe_current_pA = probe_current_pA;
    s.detector = s.image.name;
    std::tie(s.t_start_s, s.t_end_s) = t;
    electrons += j.at("electrons").get<double>();
    return s;
  }

  std::string no_patch_message() const {
    return "the DigitalMicrograph server at " + o.host + ":" + std::to_string(o.port) +
           " cannot re-scan a drift reference (it does not announce the scan_patch capability: "
           "an autostem_dm_server.py older than the client); update the server script in DM, or "
           "run without --drift-correction";
  }

  Link& connected() {
    if (!link || !link->open()) {
      link.emplace(o);
      try {
        link->connect();
      } catch (...) {
        link.reset();
        throw;
      }
    }
    return *link;
  }

  /// One request; with retry, a lost connection is re-established (bounded attempts, doubling
  /// backoff) and the same request sent again — only for requests that are safe to repeat.
  dm::Frame call(dm::Op op, const json& meta, double timeout_s, bool retry) {
    double backoff = o.reconnect_backoff_s;
    for (int attempt = 0;; ++attempt) {
      try {
        const bool reconnecting = attempt > 0;
        Link& l = connected();
        if (reconnecting) {
          ++stats.reconnects;
          log("reconnected to " + l.where());
        }
        ++stats.requests;
        return l.call(op, meta, timeout_s);
      } catch (const LinkError& e) {
        if (link) link->close();
        link.reset();
        if (!retry || attempt >= o.reconnect_attempts)
          throw std::runtime_error(std::string(e.what()) +
                                   (retry ? " (gave up after " + std::to_string(attempt) +
                                                " reconnection attempts)"
                                          : ""));
        log(std::string(e.what()) + "; reconnecting (attempt " + std::to_string(attempt + 1) +
            "/" + std::to_string(o.reconnect_attempts) + ")");
        std::this_thread::sleep_for(std::chrono::duration<double>(backoff));
        backoff *= 2.0;
      }
    }
  }

  void read_info() {
    const dm::Frame r = call(dm::Op::info, json::object(), o.call_timeout_s, true);
    const json j = json::parse(r.meta);
    info.name = "DigitalMicrograph " + j.at("name").get<std::string>() + " at " + o.host + ":" +
                std::to_string(o.port);
    info.profile.clear();
    info.field_rows = j.at("field_rows").get<std::size_t>();
    info.field_cols = j.at("field_cols").get<std::size_t>();
    info.calibration.pixel_size_nm = j.at("pixel_size_nm").get<double>();
    info.energy.offset_eV = j.at("energy_offset_eV").get<double>();
    info.energy.dispersion_eV = j.at("dispersion_eV").get<double>();
    info.energy.channels = j.at("channels").get<std::size_t>();
    info.detectors = j.at("detectors").get<std::vector<std::string>>();
    info.default_dwell_s = j.at("default_dwell_s").get<double>();
    info.default_exposure_s = j.at("default_exposure_s").get<double>();
    info.default_probe_current_pA = j.at("probe_current_pA").get<double>();
    info.max_exposure_s = j.at("max_exposure_s").get<double>();
    // Servers older than the capability list announce nothing: no patch scans.
    info.can_scan_patch = false;
    if (const auto c = j.find("capabilities"); c != j.end() && c->is_array())
      for (const auto& v : *c)
        if (v.is_string() && v.get<std::string>() == "scan_patch") info.can_scan_patch = true;
    simulated_clock = j.value("clock", std::string()) == "simulated";
    if (simulated_clock) server_t_s = std::max(server_t_s, j.value("t_s", 0.0));
    probe_current_pA = info.default_probe_current_pA;
  }

  Measurement acquire(const Job& job) {
    try {
      return acquire_once(job);
    } catch (const DmRefused&) {
      blanked_known = true;  // the server blanks the beam on every refusal
      throw;
    }
  }

  Measurement acquire_once(const Job& job) {
    const double t_start = now();
    json meta = {{"run", o.run_id},         {"acq_id", job.acq_id},
                 {"row", job.requested.row}, {"col", job.requested.col},
                 {"exposure_s", job.exposure_s}, {"binning", o.binning}};
    const dm::Frame r =
        call(dm::Op::acquire_point, meta, o.call_timeout_s + job.exposure_s, true);
    blanked_known = false;
    const json j = json::parse(r.meta);
    const auto [t_start_s, t_end] = times(j, t_start, now());
    if (r.dtype != dm::DType::f32 || r.shape.size() != 1)
      throw std::runtime_error("server sent a spectrum that is not a 1-D float32 array");
    Measurement m;
    m.requested = job.requested;
    m.actual = {j.at("actual_row").get<double>(), j.at("actual_col").get<double>()};
    m.signal.resize(r.shape[0]);
    std::memcpy(m.signal.data(), r.payload.data(), r.payload.size());
    m.exposure_s = j.at("exposure_s").get<double>();
    m.probe_current_pA = probe_current_pA;
    m.t_start_s = t_start_s;
    m.t_end_s = t_end;
    const double e = j.at("electrons").get<double>();
    m.dose_e_per_A2 = e / info.calibration.pixel_area_A2();
    if (j.value("resumed", false)) {
      ++stats.resumed;
      log("acquisition " + std::to_string(job.acq_id) +
          " was already made before the connection was lost: taken from the server, not repeated");
    } else {
      overhead_sum_s += std::max(0.0, (t_end - t_start_s) - m.exposure_s);
      ++overhead_n;
    }
    electrons += e;
    return m;
  }
};

DmInstrument::DmInstrument(DmClientOptions options) : impl_(std::make_unique<Impl>()) {
  if (options.key.size() < 16)
    throw std::invalid_argument("DmClientOptions.key has " + std::to_string(options.key.size()) +
                                " bytes; at least 16 are required");
  if (options.port == 0) throw std::invalid_argument("DmClientOptions.port must not be 0");
  if (!(options.connect_timeout_s > 0) || !(options.call_timeout_s > 0))
    throw std::invalid_argument("DmClientOptions timeouts must be > 0");
  if (options.run_id.empty()) options.run_id = dm::to_hex(dm::random_bytes(8));
  impl_->o = std::move(options);
  impl_->read_info();
}

DmInstrument::~DmInstrument() {
  if (!impl_) return;
  try {
    if (impl_->link && impl_->link->open()) {
      impl_->o.call_timeout_s = std::min(impl_->o.call_timeout_s, 2.0);
      impl_->link->call(dm::Op::stop, json::object(), impl_->o.call_timeout_s);
    }
  } catch (const std::exception& e) {
    impl_->log(std::string("could not blank the beam on the way out: ") + e.what() +
               " (the server blanks on disconnect)");
  }
}

InstrumentInfo DmInstrument::describe() const { return impl_->info; }

Survey DmInstrument::acquire_survey(const SurveySettings& settings) {
  auto& I = *impl_;
  if (!std::isfinite(settings.dwell_s) || settings.dwell_s < 0)
    throw std::invalid_argument("survey dwell_s must be finite and >= 0, got " +
                                std::to_string(settings.dwell_s));
  const double dwell = settings.dwell_s > 0 ? settings.dwell_s : I.info.default_dwell_s;
  json meta = {{"dwell_s", dwell}, {"detector", settings.detector}};
  const double expected = dwell * double(I.info.field_rows * I.info.field_cols);
  const double t_start = I.now();
  // Not repeated after a lost connection: a second survey is a second dose.
  const dm::Frame r = I.call(dm::Op::survey, meta, I.o.call_timeout_s + 2.0 * expected, false);
  I.blanked_known = true;
  const json j = json::parse(r.meta);
  Survey s = I.scanned_image(r, j, I.info.field_rows, I.info.field_cols, "survey", I.times(j, t_start, I.now()));
  I.stats.last_survey_server_s = j.value("acquire_s", 0.0);
  s.dose_e_per_A2 = j.at("electrons").get<double>() /
                    (double(I.info.field_rows * I.info.field_cols) * I.info.calibration.pixel_area_A2());
  return s;
}

void DmInstrument::submit(std::span<const Position> positions, const PointSettings& settings,
                          AcquisitionMode /*mode*/) {
  auto& I = *impl_;
  if (!std::isfinite(settings.exposure_s) || settings.exposure_s < 0)
    throw std::invalid_argument("exposure_s must be finite and >= 0, got " +
                                std::to_string(settings.exposure_s));
  const double exposure = settings.exposure_s > 0 ? settings.exposure_s : I.info.default_exposure_s;
  if (exposure > I.info.max_exposure_s)
    throw std::invalid_argument("exposure_s " + std::to_string(exposure) +
                                " is above the server's max_exposure_s " +
                                std::to_string(I.info.max_exposure_s));
  for (const auto& p : positions)
    check_inside_field("position", p, I.info.field_rows, I.info.field_cols);
  // Point by point in either mode: a live synchronized SI scan is not implemented (yet).
  for (const auto& p : positions) I.queue.push_back(Job{p, exposure, I.next_acq_id++});
}

std::size_t DmInstrument::in_flight() const { return impl_->queue.size(); }

std::vector<Measurement> DmInstrument::collect(bool wait) {
  auto& I = *impl_;
  if (!wait || I.queue.empty()) return {};
  std::vector<Measurement> out;
  out.push_back(I.acquire(I.queue.front()));
  I.queue.pop_front();
  return out;
}

void DmInstrument::elapse(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0)
    throw std::invalid_argument("elapse: seconds must be finite and >= 0, got " +
                                std::to_string(seconds));
}

void DmInstrument::blank() {
  auto& I = *impl_;
  if (I.blanked_known) return;
  I.call(dm::Op::blank, json::object(), I.o.call_timeout_s, true);
  I.blanked_known = true;
}

double DmInstrument::now_s() const { return impl_->session_now(); }

CostEstimate DmInstrument::estimate_point(const PointSettings& settings, AcquisitionMode) const {
  auto& I = *impl_;
  const double exposure = settings.exposure_s > 0 ? settings.exposure_s : I.info.default_exposure_s;
  if (!std::isfinite(exposure) || exposure < 0)
    throw std::invalid_argument("exposure_s must be finite and >= 0");
  CostEstimate c;
  if (I.simulated_clock) {
    // A rehearsal: the simulator's timing model, as an in-process simulated run uses it.
    const auto hit = std::find_if(I.point_time_cache.begin(), I.point_time_cache.end(),
                                  [&](const auto& e) { return e.first == exposure; });
    if (hit != I.point_time_cache.end()) {
      c.time_s = hit->second;
    } else {
      const dm::Frame r = I.call(dm::Op::estimate_point, json{{"exposure_s", exposure}},
                                 I.o.call_timeout_s, true);
      c.time_s = json::parse(r.meta).at("time_s").get<double>();
      I.point_time_cache.emplace_back(exposure, c.time_s);
    }
  } else {
    const double overhead = I.overhead_n ? I.overhead_sum_s / double(I.overhead_n) : 0.05;
    c.time_s = exposure + overhead;
  }
  c.electrons = electrons(I.probe_current_pA, exposure);
  c.dose_e_per_A2 = c.electrons / I.info.calibration.pixel_area_A2();
  return c;
}

double DmInstrument::total_electrons() const { return impl_->electrons; }

Survey DmInstrument::acquire_patch(const PatchScan& scan) {
  auto& I = *impl_;
  if (!I.info.can_scan_patch) throw std::logic_error(I.no_patch_message());
  if (!I.queue.empty())
    throw std::invalid_argument("acquire_patch: " + std::to_string(I.queue.size()) +
                                " acquisitions queued; collect them before scanning a patch");
  const std::size_t R = I.info.field_rows, C = I.info.field_cols;
  if (scan.rows < 2 || scan.cols < 2)
    throw std::invalid_argument("PatchScan: rows = " + std::to_string(scan.rows) + ", cols = " +
                                std::to_string(scan.cols) + "; a patch needs at least 2 x 2 pixels");
  if (scan.row0 >= R || scan.rows > R - scan.row0 || scan.col0 >= C || scan.cols > C - scan.col0)
    throw std::invalid_argument("PatchScan: rectangle rows [" + std::to_string(scan.row0) + ", " +
                                std::to_string(scan.row0 + scan.rows) + ") x cols [" +
                                std::to_string(scan.col0) + ", " + std::to_string(scan.col0 + scan.cols) +
                                ") is not inside the " + std::to_string(R) + " x " +
                                std::to_string(C) + " field");
  if (!std::isfinite(scan.offset.row) || !std::isfinite(scan.offset.col))
    throw std::invalid_argument("PatchScan.offset is not finite");
  const SurveySettings& st = scan.settings;
  if (!std::isfinite(st.dwell_s) || st.dwell_s < 0)
    throw std::invalid_argument("PatchScan dwell_s must be finite and >= 0, got " +
                                std::to_string(st.dwell_s));
  if (st.probe_current_pA != 0.0 && st.probe_current_pA != I.probe_current_pA)
    throw std::invalid_argument("PatchScan asks for " + std::to_string(st.probe_current_pA) +
                                " pA; the probe current is set on the microscope (" +
                                std::to_string(I.probe_current_pA) + " pA)");
  const double dwell = st.dwell_s > 0 ? st.dwell_s : I.info.default_dwell_s;
  const json meta = {{"row0", scan.row0},         {"col0", scan.col0},
                     {"rows", scan.rows},         {"cols", scan.cols},
                     {"offset_row", scan.offset.row}, {"offset_col", scan.offset.col},
                     {"dwell_s", dwell},          {"detector", st.detector}};
  const double expected = dwell * double(scan.rows * scan.cols);
  const double wall_start = I.now();
  // Not repeated after a lost connection: a second scan is a second dose.
  dm::Frame r;
  try {
    r = I.call(dm::Op::scan_patch, meta, I.o.call_timeout_s + 2.0 * expected, false);
  } catch (const DmRefused&) {
    I.blanked_known = true;
    throw;
  }
  I.blanked_known = true;
  const json j = json::parse(r.meta);
  Survey s = I.scanned_image(r, j, scan.rows, scan.cols, "patch", I.times(j, wall_start, I.now()));
  // Areal dose on each patch pixel (the contract's Survey::dose_e_per_A2 for a patch).
  s.dose_e_per_A2 = electrons(I.probe_current_pA, s.dwell_s) / I.info.calibration.pixel_area_A2();
  return s;
}

Position DmInstrument::beam_position() {
  const dm::Frame r = impl_->call(dm::Op::get_beam, json::object(), impl_->o.call_timeout_s, true);
  const json j = json::parse(r.meta);
  return {j.at("row").get<double>(), j.at("col").get<double>()};
}

double DmInstrument::set_energy_offset(double eV) {
  if (!std::isfinite(eV)) throw std::invalid_argument("energy offset must be finite");
  const dm::Frame r =
      impl_->call(dm::Op::energy_offset, json{{"eV", eV}}, impl_->o.call_timeout_s, true);
  return json::parse(r.meta).at("eV").get<double>();
}

DmLinkStats DmInstrument::link_stats() const { return impl_->stats; }

}  // namespace autostem::backends
