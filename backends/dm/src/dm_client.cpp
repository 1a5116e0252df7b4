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
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cmath>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <tuple>

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
  AcquisitionMode mode = AcquisitionMode::point;
  double not_before_s = 0.0;  ///< rehearsal: session time it was submitted at
};

/// Rounds a survey-frame coordinate to its pixel, clamped to the field (as the simulator puts a
/// spot's dose in the pixel the probe landed in).
Eigen::Index pixel_index(double v, std::size_t n) {
  const double x = std::isfinite(v) ? std::round(v) : 0.0;
  return static_cast<Eigen::Index>(std::clamp(x, 0.0, static_cast<double>(n - 1)));
}

}  // namespace

struct DmInstrument::Impl {
  DmClientOptions o;
  Clock::time_point t0 = Clock::now();
  InstrumentInfo info;
  double probe_current_pA = 0.0;

  // --- the link: one request at a time (the acquisition thread and the caller's thread) ------
  std::mutex link_m;
  std::optional<Link> link;  // guarded by link_m

  // --- state shared with the acquisition thread, guarded by m ----------------------------------
  mutable std::mutex m;
  std::condition_variable cv;
  std::deque<Job> queue;            ///< submitted, not finished; front = being acquired
  bool busy = false;                ///< the acquisition thread is acquiring queue.front()
  std::deque<Measurement> done;     ///< finished, not yet collected
  std::exception_ptr error;         ///< the front job's failure, not yet reported by collect
  bool paused = false;              ///< after a failure: retried on the next collect(true)
  bool quit = false;
  std::uint64_t next_acq_id = 0;
  double electrons = 0.0;
  double overhead_sum_s = 0.0;
  std::size_t overhead_n = 0;
  bool blanked_known = false;
  /// The server runs on a simulator's clock (a rehearsal with the fake DM): session time, the
  /// times of every acquisition and the cost of a point are the simulator's, so a rehearsal
  /// follows the simulated run's timeline (and with it the drift a drift correction predicts).
  /// Live: this computer's wall clock.
  bool simulated_clock = false;
  /// Rehearsal: (exposure_s, si_scan?, time_s) the server's timing model answered.
  std::vector<std::tuple<double, bool, double>> point_time_cache;
  /// Rehearsal: the session clock, kept as the simulator keeps its own (DESIGN.md §4): elapse()
  /// adds strategy compute, collect(true) moves it to the end of the first finished
  /// acquisition, a survey or patch to its end. Every request carries it as not_before_s, and
  /// the fake DM starts the acquisition no earlier, so acquisitions overlap compute exactly as
  /// in the simulator.
  double sim_now_s = 0.0;
  /// Areal dose (e-/A^2) per field pixel from what the server reports: the survey's probe
  /// current × dwell over every pixel, each spectrum's electrons in the pixel of the read-back
  /// position, each patch pixel's dwell dose (the simulator's accounting, sim/).
  ImageArray dose;
  DmLinkStats stats;
  std::thread worker;

  void log(const std::string& msg) const {
    if (o.log) o.log(msg);
    else std::cerr << "autostem dm: " << msg << std::endl;
  }

  double now() const { return std::chrono::duration<double>(Clock::now() - t0).count(); }

  /// Session time (lock m): the rehearsal clock, else now(). Never throws.
  double session_now() const { return simulated_clock ? sim_now_s : now(); }

  /// An answer's (t_start_s, t_end_s) on the session clock: the server's in a rehearsal, else
  /// the client's wall-clock times around the request.
  std::pair<double, double> times(const json& j, double wall_start, double wall_end) const {
    if (!simulated_clock) return {wall_start, wall_end};
    return {j.at("t_start_s").get<double>(), j.at("t_end_s").get<double>()};
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
    {
      std::lock_guard lk(m);
      electrons += j.at("electrons").get<double>();
      if (simulated_clock) sim_now_s = std::max(sim_now_s, s.t_end_s);
    }
    return s;
  }

  std::string no_patch_message() const {
    return "the DigitalMicrograph server at " + o.host + ":" + std::to_string(o.port) +
           " cannot re-scan a drift reference (it does not announce the scan_patch capability: "
           "an autostem_dm_server.py older than the client); update the server script in DM, or "
           "run without --drift-correction";
  }

  Link& connected() {  // link_m held
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

  /// One request (takes the link for its duration); with retry, a lost connection is
  /// re-established (bounded attempts, doubling backoff) and the same request sent again — only
  /// for requests that are safe to repeat.
  dm::Frame call(dm::Op op, const json& meta, double timeout_s, bool retry) {
    std::lock_guard link_lock(link_m);
    double backoff = o.reconnect_backoff_s;
    for (int attempt = 0;; ++attempt) {
      try {
        const bool reconnecting = attempt > 0;
        Link& l = connected();
        {
          std::lock_guard lk(m);
          if (reconnecting) ++stats.reconnects;
          ++stats.requests;
        }
        if (reconnecting) log("reconnected to " + l.where());
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
    json ask = json::object();
    if (o.survey_rows > 0) ask["survey_shape"] = {o.survey_rows, o.survey_cols};
    if (o.pixel_size_nm > 0) ask["pixel_size_nm"] = o.pixel_size_nm;
    const dm::Frame r = call(dm::Op::info, ask, o.call_timeout_s, true);
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
    // Servers older than the capability list announce nothing: no patch scans, no SI scans.
    info.can_scan_patch = false;
    info.can_si_scan = false;
    if (const auto c = j.find("capabilities"); c != j.end() && c->is_array())
      for (const auto& v : *c) {
        if (!v.is_string()) continue;
        if (v.get<std::string>() == "scan_patch") info.can_scan_patch = true;
        if (v.get<std::string>() == "si_scan") info.can_si_scan = true;
      }
    // Acquisitions run on their own thread while the strategy computes (any server).
    info.can_overlap = true;
    info.has_link = true;
    simulated_clock = j.value("clock", std::string()) == "simulated";
    if (simulated_clock) sim_now_s = std::max(sim_now_s, j.value("t_s", 0.0));
    probe_current_pA = info.default_probe_current_pA;
    // The server keeps the dose spent across its restarts (dose_file): say what is left.
    const double used = j.value("electrons_used", 0.0);
    stats.server_electrons_used = used;
    if (used > 0.0 && !simulated_clock) {
      const double area = double(info.field_rows * info.field_cols) * info.calibration.pixel_area_A2();
      log("the server's dose budget: " + std::to_string(used / area) + " of " +
          std::to_string(j.value("max_dose_e_per_A2", 0.0)) +
          " e-/A^2 over the field already spent (kept on the microscope PC across restarts)");
    }
    dose = ImageArray::Zero(static_cast<Eigen::Index>(info.field_rows),
                            static_cast<Eigen::Index>(info.field_cols));
  }

  Measurement acquire(const Job& job) {
    try {
      return acquire_once(job);
    } catch (const DmRefused&) {
      std::lock_guard lk(m);
      blanked_known = true;  // the server blanks the beam on every refusal
      throw;
    }
  }

  Measurement acquire_once(const Job& job) {
    const double t_start = now();
    json meta = {{"run", o.run_id},         {"acq_id", job.acq_id},
                 {"row", job.requested.row}, {"col", job.requested.col},
                 {"exposure_s", job.exposure_s}, {"binning", o.binning}};
    if (job.mode == AcquisitionMode::si_scan) meta["mode"] = "si_scan";
    if (simulated_clock) meta["not_before_s"] = job.not_before_s;
    const dm::Frame r =
        call(dm::Op::acquire_point, meta, o.call_timeout_s + job.exposure_s, true);
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
    const bool resumed = j.value("resumed", false);
    if (resumed)
      log("acquisition " + std::to_string(job.acq_id) +
          " was already made before the connection was lost: taken from the server, not repeated");
    std::lock_guard lk(this->m);
    blanked_known = false;
    if (resumed) {
      ++stats.resumed;
    } else {
      overhead_sum_s += std::max(0.0, (t_end - t_start_s) - m.exposure_s);
      ++overhead_n;
    }
    electrons += e;
    dose(pixel_index(m.actual.row, info.field_rows), pixel_index(m.actual.col, info.field_cols)) +=
        m.dose_e_per_A2;
    return m;
  }

  /// The acquisition thread: acquires queue.front() whenever there is one (and no unreported
  /// failure), one request at a time, while the caller's thread computes.
  void run_worker() {
    std::unique_lock lk(m);
    for (;;) {
      cv.wait(lk, [&] { return quit || (!paused && !queue.empty()); });
      if (quit) return;
      const Job job = queue.front();
      busy = true;
      lk.unlock();
      std::optional<Measurement> meas;
      std::exception_ptr err;
      try {
        meas = acquire(job);
      } catch (...) {
        err = std::current_exception();
      }
      lk.lock();
      busy = false;
      if (err) {
        error = err;
        paused = true;  // the failed job stays queued; the next collect(true) retries it
      } else {
        queue.pop_front();
        done.push_back(std::move(*meas));
      }
      cv.notify_all();
    }
  }

  /// Waits (lock held) until nothing is being acquired: surveys and patches need the beam.
  void wait_idle(std::unique_lock<std::mutex>& lk) {
    cv.wait(lk, [&] { return !busy && (queue.empty() || paused); });
  }
};

DmInstrument::DmInstrument(DmClientOptions options) : impl_(std::make_unique<Impl>()) {
  if (options.key.size() < 16)
    throw std::invalid_argument("DmClientOptions.key has " + std::to_string(options.key.size()) +
                                " bytes; at least 16 are required");
  if (options.port == 0) throw std::invalid_argument("DmClientOptions.port must not be 0");
  if ((options.survey_rows == 0) != (options.survey_cols == 0))
    throw std::invalid_argument("DmClientOptions: survey_rows and survey_cols are both > 0 (a "
                                "survey shape) or both 0 (the server's), got " +
                                std::to_string(options.survey_rows) + " x " +
                                std::to_string(options.survey_cols));
  if (!std::isfinite(options.pixel_size_nm) || options.pixel_size_nm < 0)
    throw std::invalid_argument("DmClientOptions.pixel_size_nm must be finite and >= 0 (0 = the "
                                "server's), got " + std::to_string(options.pixel_size_nm));
  if (!(options.connect_timeout_s > 0) || !(options.call_timeout_s > 0))
    throw std::invalid_argument("DmClientOptions timeouts must be > 0");
  if (options.run_id.empty()) options.run_id = dm::to_hex(dm::random_bytes(8));
  impl_->o = std::move(options);
  impl_->read_info();
  impl_->worker = std::thread([I = impl_.get()] { I->run_worker(); });
}

DmInstrument::~DmInstrument() {
  if (!impl_) return;
  {
    std::lock_guard lk(impl_->m);
    impl_->quit = true;  // an acquisition in progress finishes (bounded by its timeout)
  }
  impl_->cv.notify_all();
  if (impl_->worker.joinable()) impl_->worker.join();
  try {
    std::lock_guard link_lock(impl_->link_m);
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
  {
    std::unique_lock lk(I.m);
    I.wait_idle(lk);
    if (I.simulated_clock) meta["not_before_s"] = I.sim_now_s;
  }
  const double expected = dwell * double(I.info.field_rows * I.info.field_cols);
  const double t_start = I.now();
  // Not repeated after a lost connection: a second survey is a second dose.
  const dm::Frame r = I.call(dm::Op::survey, meta, I.o.call_timeout_s + 2.0 * expected, false);
  const json j = json::parse(r.meta);
  Survey s = I.scanned_image(r, j, I.info.field_rows, I.info.field_cols, "survey", I.times(j, t_start, I.now()));
  s.dose_e_per_A2 = j.at("electrons").get<double>() /
                    (double(I.info.field_rows * I.info.field_cols) * I.info.calibration.pixel_area_A2());
  const auto number_or_0 = [&](const char* key) {
    const auto v = j.find(key);
    return v != j.end() && v->is_number() ? v->get<double>() : 0.0;
  };
  std::lock_guard lk(I.m);
  I.blanked_known = true;
  I.stats.last_survey_server_s = j.value("acquire_s", 0.0);
  I.stats.survey_dm_pixel_size_nm = number_or_0("dm_pixel_size_nm");
  I.stats.survey_dm_magnification = number_or_0("dm_magnification");
  if (I.stats.survey_dm_pixel_size_nm > 0)
    I.log("survey: " + std::to_string(I.info.field_rows) + "x" + std::to_string(I.info.field_cols) +
          " pixels; DigitalMicrograph calibrates " + std::to_string(I.stats.survey_dm_pixel_size_nm) +
          " nm per pixel" +
          (I.stats.survey_dm_magnification > 0
               ? " at magnification " + std::to_string(I.stats.survey_dm_magnification)
               : std::string()) +
          " (the session's pixel size: " + std::to_string(I.info.calibration.pixel_size_nm) + " nm)");
  // Every pixel got probe current × dwell (the simulator's survey accounting).
  I.dose += electrons(I.probe_current_pA, s.dwell_s) / I.info.calibration.pixel_area_A2();
  return s;
}

void DmInstrument::submit(std::span<const Position> positions, const PointSettings& settings,
                          AcquisitionMode mode) {
  auto& I = *impl_;
  if (!std::isfinite(settings.exposure_s) || settings.exposure_s < 0)
    throw std::invalid_argument("exposure_s must be finite and >= 0, got " +
                                std::to_string(settings.exposure_s));
  const double exposure = settings.exposure_s > 0 ? settings.exposure_s : I.info.default_exposure_s;
  if (exposure > I.info.max_exposure_s)
    throw std::invalid_argument("exposure_s " + std::to_string(exposure) +
                                " is above the server's max_exposure_s " +
                                std::to_string(I.info.max_exposure_s));
  if (mode == AcquisitionMode::si_scan && !I.info.can_si_scan)
    throw std::invalid_argument(
        "the DigitalMicrograph server at " + I.o.host + ":" + std::to_string(I.o.port) +
        " does not announce the si_scan capability (synchronized spectrum imaging); use "
        "--mode point");
  for (const auto& p : positions)
    check_inside_field("position", p, I.info.field_rows, I.info.field_cols);
  {
    std::lock_guard lk(I.m);
    for (const auto& p : positions)
      I.queue.push_back(Job{p, exposure, I.next_acq_id++, mode, I.sim_now_s});
  }
  I.cv.notify_all();
}

std::size_t DmInstrument::in_flight() const {
  std::lock_guard lk(impl_->m);
  return impl_->queue.size() + impl_->done.size();
}

std::vector<Measurement> DmInstrument::collect(bool wait) {
  auto& I = *impl_;
  std::unique_lock lk(I.m);
  if (wait) {
    if (I.done.empty() && !I.error) {
      if (I.queue.empty()) return {};
      if (I.paused) {  // a failure was reported before: try the failed acquisition again
        I.paused = false;
        I.cv.notify_all();
      }
      I.cv.wait(lk, [&] { return !I.done.empty() || I.error; });
    }
    // The session clock reaches the end of the first finished acquisition (rehearsal).
    if (I.simulated_clock && !I.done.empty())
      I.sim_now_s = std::max(I.sim_now_s, I.done.front().t_end_s);
  }
  std::vector<Measurement> out;
  // Rehearsal: only what has finished by the session clock, as the simulator hands it out.
  while (!I.done.empty() && (!I.simulated_clock || I.done.front().t_end_s <= I.sim_now_s)) {
    out.push_back(std::move(I.done.front()));
    I.done.pop_front();
  }
  if (out.empty() && I.error) {
    std::exception_ptr e = I.error;
    I.error = nullptr;
    std::rethrow_exception(e);
  }
  return out;
}

void DmInstrument::elapse(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0)
    throw std::invalid_argument("elapse: seconds must be finite and >= 0, got " +
                                std::to_string(seconds));
  // Live: real time has passed. Rehearsal: the session clock moves as the simulator's does.
  std::lock_guard lk(impl_->m);
  if (impl_->simulated_clock) impl_->sim_now_s += seconds;
}

void DmInstrument::blank() {
  auto& I = *impl_;
  {
    std::lock_guard lk(I.m);
    if (I.blanked_known) return;
  }
  I.call(dm::Op::blank, json::object(), I.o.call_timeout_s, true);
  std::lock_guard lk(I.m);
  I.blanked_known = true;
}

std::optional<bool> DmInstrument::beam_blanked() const {
  const dm::Frame r = impl_->call(dm::Op::ping, json::object(), impl_->o.call_timeout_s, true);
  const json j = json::parse(r.meta);
  const auto b = j.find("blanked");
  if (b == j.end() || !b->is_boolean()) return std::nullopt;
  return b->get<bool>();
}

double DmInstrument::now_s() const {
  std::lock_guard lk(impl_->m);
  return impl_->session_now();
}

CostEstimate DmInstrument::estimate_point(const PointSettings& settings, AcquisitionMode mode) const {
  auto& I = *impl_;
  const double exposure = settings.exposure_s > 0 ? settings.exposure_s : I.info.default_exposure_s;
  if (!std::isfinite(exposure) || exposure < 0)
    throw std::invalid_argument("exposure_s must be finite and >= 0");
  CostEstimate c;
  if (I.simulated_clock) {
    // A rehearsal: the simulator's timing model, as an in-process simulated run uses it.
    const bool si = mode == AcquisitionMode::si_scan;
    std::unique_lock lk(I.m);
    const auto hit = std::find_if(I.point_time_cache.begin(), I.point_time_cache.end(), [&](const auto& e) {
      return std::get<0>(e) == exposure && std::get<1>(e) == si;
    });
    if (hit != I.point_time_cache.end()) {
      c.time_s = std::get<2>(*hit);
    } else {
      lk.unlock();
      json meta = {{"exposure_s", exposure}};
      if (mode == AcquisitionMode::si_scan) meta["mode"] = "si_scan";
      const dm::Frame r = I.call(dm::Op::estimate_point, meta, I.o.call_timeout_s, true);
      c.time_s = json::parse(r.meta).at("time_s").get<double>();
      lk.lock();
      I.point_time_cache.emplace_back(exposure, si, c.time_s);
    }
  } else {
    // Live: the running mean of the overhead measured on this link (request, move, readout,
    // transfer), 50 ms before the first point.
    std::lock_guard lk(I.m);
    const double overhead = I.overhead_n ? I.overhead_sum_s / double(I.overhead_n) : 0.05;
    c.time_s = exposure + overhead;
  }
  c.electrons = electrons(I.probe_current_pA, exposure);
  c.dose_e_per_A2 = c.electrons / I.info.calibration.pixel_area_A2();
  return c;
}

double DmInstrument::total_electrons() const {
  std::lock_guard lk(impl_->m);
  return impl_->electrons;
}

std::optional<Image> DmInstrument::dose_map() const {
  auto& I = *impl_;
  Image img;
  img.calibration = I.info.calibration;
  img.name = "dose";
  img.units = "e-/A^2";
  std::lock_guard lk(I.m);
  img.data = I.dose;
  return img;
}

Survey DmInstrument::acquire_patch(const PatchScan& scan) {
  auto& I = *impl_;
  if (!I.info.can_scan_patch) throw std::logic_error(I.no_patch_message());
  if (const std::size_t n = in_flight(); n > 0)
    throw std::invalid_argument("acquire_patch: " + std::to_string(n) +
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
  json meta = {{"row0", scan.row0},         {"col0", scan.col0},
               {"rows", scan.rows},         {"cols", scan.cols},
               {"offset_row", scan.offset.row}, {"offset_col", scan.offset.col},
               {"dwell_s", dwell},          {"detector", st.detector}};
  {
    std::lock_guard lk(I.m);
    if (I.simulated_clock) meta["not_before_s"] = I.sim_now_s;
  }
  const double expected = dwell * double(scan.rows * scan.cols);
  const double wall_start = I.now();
  // Not repeated after a lost connection: a second scan is a second dose.
  dm::Frame r;
  try {
    r = I.call(dm::Op::scan_patch, meta, I.o.call_timeout_s + 2.0 * expected, false);
  } catch (const DmRefused&) {
    std::lock_guard lk(I.m);
    I.blanked_known = true;
    throw;
  }
  const json j = json::parse(r.meta);
  Survey s = I.scanned_image(r, j, scan.rows, scan.cols, "patch", I.times(j, wall_start, I.now()));
  // Areal dose on each patch pixel (the contract's Survey::dose_e_per_A2 for a patch).
  s.dose_e_per_A2 = electrons(I.probe_current_pA, s.dwell_s) / I.info.calibration.pixel_area_A2();
  std::lock_guard lk(I.m);
  I.blanked_known = true;
  // Each patch pixel's dose where it was commanded (the server reports no read-back per pixel).
  for (std::size_t i = 0; i < scan.rows; ++i)
    for (std::size_t k = 0; k < scan.cols; ++k)
      I.dose(pixel_index(double(scan.row0) + scan.offset.row + double(i), R),
             pixel_index(double(scan.col0) + scan.offset.col + double(k), C)) += s.dose_e_per_A2;
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

DmLinkStats DmInstrument::link_stats() const {
  std::lock_guard lk(impl_->m);
  return impl_->stats;
}

}  // namespace autostem::backends
