// The live view of `autostem run --view` (live_view.hpp, docs/live-view.md).

#include "live_view.hpp"

#include <httplib.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <limits>
#include <mutex>
#include <random>
#include <set>
#include <thread>

namespace autostem::cli {

extern const char* const kLivePageHtml;  // generated from apps/web/live.html (apps/CMakeLists.txt)

const std::string& live_page_html() {
  static const std::string page(kLivePageHtml);
  return page;
}

std::string base64(const unsigned char* data, std::size_t n) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (std::size_t i = 0; i < n; i += 3) {
    const unsigned v = (unsigned(data[i]) << 16) | (i + 1 < n ? unsigned(data[i + 1]) << 8 : 0u) |
                       (i + 2 < n ? unsigned(data[i + 2]) : 0u);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < n ? kAlphabet[v & 63] : '=';
  }
  return out;
}

nlohmann::json encode_map(const ImageArray& a) {
  if (a.size() == 0) return nullptr;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (Eigen::Index i = 0; i < a.size(); ++i)
    if (std::isfinite(a.data()[i])) {
      lo = std::min(lo, a.data()[i]);
      hi = std::max(hi, a.data()[i]);
    }
  if (!std::isfinite(lo)) lo = hi = 0.0;
  std::vector<unsigned char> bytes(static_cast<std::size_t>(a.size()));
  const double span = hi > lo ? hi - lo : 1.0;
  for (Eigen::Index i = 0; i < a.size(); ++i) {
    const double v = a.data()[i];
    bytes[static_cast<std::size_t>(i)] =
        std::isfinite(v) ? static_cast<unsigned char>(std::clamp(std::lround((v - lo) / span * 254.0), 0L, 254L))
                         : 255;
  }
  return {{"rows", a.rows()}, {"cols", a.cols()}, {"min", lo}, {"max", hi}, {"u8", base64(bytes.data(), bytes.size())}};
}

std::string make_token() {
  std::random_device rd;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
  return buf;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

namespace {

using Clock = std::chrono::steady_clock;

nlohmann::json number_or_null(double v) {
  if (!std::isfinite(v)) return nullptr;
  return v;
}

nlohmann::json event_json(const OperatorEvent& e) {
  nlohmann::json j = {{"kind", to_string(e.kind)},
                      {"session_time_s", number_or_null(e.session_time_s)},
                      {"wall_time_s", number_or_null(e.wall_time_s)},
                      {"after_measurements", e.after_measurements},
                      {"source", e.source}};
  if (e.kind == OperatorEvent::Kind::exclude || e.kind == OperatorEvent::Kind::restrict_to)
    j["rect"] = {e.rect.row0, e.rect.col0, e.rect.row1, e.rect.col1};
  return j;
}

/// The last signal: a spectrum as numbers, a diffraction pattern as a map.
nlohmann::json signal_json(std::size_t index, const std::vector<float>& signal, const SignalShape& shape,
                           const EnergyAxis& energy) {
  nlohmann::json j = {{"index", index}};
  if (shape.kind == SignalKind::diffraction && shape.dims.size() == 2 &&
      shape.dims[0] * shape.dims[1] == signal.size()) {
    ImageArray a(static_cast<Eigen::Index>(shape.dims[0]), static_cast<Eigen::Index>(shape.dims[1]));
    for (std::size_t i = 0; i < signal.size(); ++i) a.data()[i] = signal[i];
    j["kind"] = "diffraction";
    j["map"] = encode_map(a);
  } else {
    j["kind"] = "spectrum";
    j["values"] = signal;
    j["offset_eV"] = energy.offset_eV;
    j["dispersion_eV"] = energy.dispersion_eV;
  }
  return j;
}

nlohmann::json prediction_json(std::size_t step, const Prediction& p) {
  return {{"step", step},
          {"mean", encode_map(p.mean)},
          {"uncertainty", encode_map(p.uncertainty)},
          {"acquisition", encode_map(p.acquisition)}};
}

double signal_total(const std::vector<float>& s) {
  double t = 0.0;
  for (float v : s) t += v;
  return t;
}

nlohmann::json info_json(const RunInfo& info) {
  const Budget& b = info.config.budget;
  nlohmann::json params = nlohmann::json::object();
  for (const auto& [k, v] : info.strategy_parameters) params[k] = v;
  return {{"strategy", info.strategy},
          {"parameters", params},
          {"seed", info.seed},
          {"instrument", info.instrument.name},
          {"rows", info.instrument.field_rows},
          {"cols", info.instrument.field_cols},
          {"pixel_size_nm", info.instrument.calibration.pixel_size_nm},
          {"exposure_s", info.config.point.exposure_s},
          {"batch_size", info.config.batch_size},
          {"budget_points", b.max_points == std::numeric_limits<std::size_t>::max() ? nlohmann::json(nullptr)
                                                                                    : nlohmann::json(b.max_points)},
          {"budget_time_s", number_or_null(b.max_time_s)},
          {"budget_dose_e_per_A2", number_or_null(b.max_dose_e_per_A2)}};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The state of a finished run, read back (the report).

nlohmann::json run_state_from_file(const std::filesystem::path& file) {
  const datasets::RunRecord rec = datasets::read_results(file);
  const auto attr = [&](const std::string& k, const std::string& fallback = "") {
    auto it = rec.attributes.find(k);
    return it == rec.attributes.end() ? fallback : it->second;
  };
  const auto attr_num = [&](const std::string& k) -> nlohmann::json {
    auto it = rec.attributes.find(k);
    if (it == rec.attributes.end()) return nullptr;
    try {
      return std::stod(it->second);
    } catch (const std::exception&) {
      return nullptr;
    }
  };
  nlohmann::json params = nlohmann::json::object();
  for (const auto& [k, v] : rec.strategy_parameters) params[k] = v;
  nlohmann::json info = {{"strategy", attr("strategy")},
                         {"parameters", params},
                         {"seed", attr("seed")},
                         {"instrument", attr("instrument")},
                         {"dataset", attr("dataset")},
                         {"rows", rec.survey.image.rows()},
                         {"cols", rec.survey.image.cols()},
                         {"pixel_size_nm", rec.survey.image.calibration.pixel_size_nm},
                         {"exposure_s", attr_num("exposure_s")},
                         {"batch_size", attr_num("batch_size")},
                         {"budget_points", attr_num("budget_points")},
                         {"budget_time_s", attr_num("budget_time_s")},
                         {"budget_dose_e_per_A2", attr_num("budget_dose_e_per_A2")},
                         {"file", file.filename().string()},
                         {"command_line", attr("command_line")}};
  nlohmann::json points = nlohmann::json::array();
  for (std::size_t i = 0; i < rec.measurements(); ++i) {
    const Position& p = rec.requested[i];
    points.push_back({p.row, p.col, signal_total(rec.signals[i]), rec.t_end_s[i]});
  }
  nlohmann::json events = nlohmann::json::array();
  for (const auto& e : rec.operator_events) events.push_back(event_json(e));
  nlohmann::json state = {{"type", "full"},
                          {"mode", "report"},
                          {"read_only", true},
                          {"info", info},
                          {"survey", encode_map(rec.survey.image.data)},
                          {"points", points},
                          {"events", events}};
  if (rec.measurements() > 0) {
    const std::size_t last = rec.measurements() - 1;
    state["signal"] = signal_json(last, rec.signals[last], rec.signal_shape, rec.energy);
  }
  if (!rec.prediction_steps.empty()) {
    const std::size_t step = rec.prediction_steps.back();
    state["prediction"] = prediction_json(step, datasets::read_prediction(file, step));
  }
  if (rec.dose_map) state["dose_map"] = encode_map(*rec.dose_map);
  const std::size_t field = static_cast<std::size_t>(rec.survey.image.rows() * rec.survey.image.cols());
  nlohmann::json bp = attr_num("budget_points");
  state["progress"] = {{"measurements", rec.measurements()},
                       {"budget_points", bp.is_null() ? field : std::min<std::size_t>(field, bp.get<std::size_t>())},
                       {"time_s", attr_num("total_time_s")},
                       {"dose_e_per_A2", attr_num("total_dose_e_per_A2")},
                       {"wall_s", attr_num("wall_s")}};
  state["status"] = rec.complete ? "ended" : "cut off";
  state["stop_reason"] = rec.complete ? attr("stop_reason") : "the file was not closed (the run was cut off)";
  state["message"] = attr("message");
  return state;
}

// ---------------------------------------------------------------------------------------------
// The live server.

struct LiveView::Impl {
  LiveViewOptions options;
  OperatorControl* control = nullptr;
  httplib::Server server;
  std::thread thread;
  int port = 0;

  // The run's state (guarded by mutex; version counts changes).
  std::mutex mutex;
  std::condition_variable changed;
  std::uint64_t version = 0;
  nlohmann::json info;
  nlohmann::json survey;  // encoded once at begin
  EnergyAxis energy;
  std::vector<std::array<double, 4>> points;  // row, col, total counts, t_end_s
  std::shared_ptr<const std::vector<float>> signal;
  SignalShape signal_shape;
  std::size_t signal_index = 0;
  std::uint64_t signal_version = 0;
  std::shared_ptr<const Prediction> prediction;
  std::size_t prediction_step = 0;
  std::uint64_t prediction_version = 0;
  std::vector<nlohmann::json> events;
  nlohmann::json progress = nlohmann::json::object();
  std::string status = "starting";
  std::string stop_reason, message;
  Clock::time_point wall0 = Clock::now();
  bool closing = false;
  std::set<const std::uint64_t*> client_versions;  // each connected page's last sent version

  struct Cursor {
    std::size_t points = 0, events = 0;
    std::uint64_t signal_version = 0, prediction_version = 0, version = 0;
    std::uint64_t sent = 0;  // the version its page has received (written to the socket)
    Clock::time_point last_prediction{};
  };

  void bump() {  // under mutex
    ++version;
  }

  /// A message for one page: everything (full) or what changed since its cursor. Copies under
  /// the lock, encodes outside it.
  std::string message_for(Cursor& c, bool full) {
    std::vector<std::array<double, 4>> new_points;
    std::vector<nlohmann::json> new_events;
    std::shared_ptr<const std::vector<float>> sig;
    std::shared_ptr<const Prediction> pred;
    std::size_t sig_index = 0, pred_step = 0;
    SignalShape shape;
    nlohmann::json j;
    std::size_t from = 0;
    {
      std::lock_guard lock(mutex);
      if (full) c = Cursor{};
      from = c.points;
      new_points.assign(points.begin() + static_cast<std::ptrdiff_t>(c.points), points.end());
      c.points = points.size();
      new_events.assign(events.begin() + static_cast<std::ptrdiff_t>(c.events), events.end());
      c.events = events.size();
      if (signal && c.signal_version != signal_version) {
        sig = signal;
        shape = signal_shape;
        sig_index = signal_index;
        c.signal_version = signal_version;
      }
      // Prediction maps are the heavy part: at most two a second per page.
      if (prediction && c.prediction_version != prediction_version &&
          (full || Clock::now() - c.last_prediction > std::chrono::milliseconds(500))) {
        pred = prediction;
        pred_step = prediction_step;
        c.prediction_version = prediction_version;
        c.last_prediction = Clock::now();
      }
      j["progress"] = progress;
      j["progress"]["wall_s"] = std::chrono::duration<double>(Clock::now() - wall0).count();
      j["status"] = status;
      j["stop_reason"] = stop_reason;
      j["message"] = message;
      if (full) {
        j["info"] = info;
        j["survey"] = survey;
      }
      c.version = version;
    }
    j["type"] = full ? "full" : "update";
    j["mode"] = "live";
    j["read_only"] = options.read_only || control == nullptr;
    j["points_from"] = from;
    j["points"] = new_points;
    j["events"] = new_events;
    if (sig) j["signal"] = signal_json(sig_index, *sig, shape, energy);
    if (pred) j["prediction"] = prediction_json(pred_step, *pred);
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

  bool authorised(const httplib::Request& req) const {
    if (options.token.empty()) return true;
    std::string given = req.get_param_value("token");
    if (given.empty()) given = req.get_header_value("X-Autostem-Token");
    if (given.size() != options.token.size()) return false;
    unsigned diff = 0;  // constant-time comparison
    for (std::size_t i = 0; i < given.size(); ++i) diff |= unsigned(given[i] ^ options.token[i]);
    return diff == 0;
  }

  void routes() {
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (authorised(req)) return httplib::Server::HandlerResponse::Unhandled;
      res.status = 403;
      res.set_content("autostem live view: this server is bound to " + options.host +
                          " and needs the token printed when the run started (?token=…)\n",
                      "text/plain");
      return httplib::Server::HandlerResponse::Handled;
    });
    server.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(live_page_html(), "text/html; charset=utf-8");
      res.set_header("Cache-Control", "no-store");
    });
    server.Get("/api/state", [this](const httplib::Request&, httplib::Response& res) {
      Cursor c;
      res.set_content(message_for(c, true), "application/json");
    });
    server.Get("/api/events", [this](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-store");
      auto cursor = std::make_shared<Cursor>();
      auto started = std::make_shared<bool>(false);
      auto last_send = std::make_shared<Clock::time_point>(Clock::now());
      {
        std::lock_guard lock(mutex);
        client_versions.insert(&cursor->sent);
      }
      res.set_chunked_content_provider(
          "text/event-stream",
          [this, cursor, started, last_send](std::size_t, httplib::DataSink& sink) {
            const auto send = [&](const std::string& type, const std::string& data) {
              // retry: how soon the browser reconnects after losing the connection (ms).
              const std::string frame = (type == "full" ? "retry: 1000\n" : "") + std::string("event: ") + type +
                                        "\ndata: " + data + "\n\n";
              *last_send = Clock::now();
              if (!sink.write(frame.data(), frame.size())) return false;
              std::lock_guard lock(mutex);
              cursor->sent = cursor->version;
              changed.notify_all();  // close() waits for every page to have the final state
              return true;
            };
            if (!*started) {
              *started = true;
              return send("full", message_for(*cursor, true));
            }
            bool fresh = false, done = false;
            {
              std::unique_lock lock(mutex);
              changed.wait_for(lock, std::chrono::milliseconds(250),
                               [&] { return version != cursor->version || closing; });
              fresh = version != cursor->version;
              done = closing && !fresh;
            }
            if (done) {
              sink.done();
              return true;
            }
            if (!fresh) {  // a comment now and then keeps proxies and the browser's timer happy
              if (Clock::now() - *last_send > std::chrono::seconds(10)) return send("ping", "{}");
              return true;
            }
            // Coalesce: at most 10 messages a second per page.
            const auto since = Clock::now() - *last_send;
            if (since < std::chrono::milliseconds(100))
              std::this_thread::sleep_for(std::chrono::milliseconds(100) - since);
            return send("update", message_for(*cursor, false));
          },
          [this, cursor](bool) {
            std::lock_guard lock(mutex);
            client_versions.erase(&cursor->sent);
            changed.notify_all();
          });
    });
    const auto steer = [this](const std::string& what, const std::function<void(const std::string&)>& act) {
      server.Post("/api/" + what, [this, act](const httplib::Request& req, httplib::Response& res) {
        if (options.read_only || control == nullptr) {
          res.status = 403;
          res.set_content("{\"error\":\"this live view is read-only\"}", "application/json");
          return;
        }
        try {
          act(req.body);
          res.set_content("{\"ok\":true}", "application/json");
        } catch (const std::exception& e) {
          res.status = 400;
          res.set_content(nlohmann::json{{"error", e.what()}}.dump(), "application/json");
        }
      });
    };
    steer("pause", [this](const std::string&) { control->pause(source()); });
    steer("resume", [this](const std::string&) { control->resume(source()); });
    steer("stop", [this](const std::string&) { control->stop(source()); });
    steer("clear_regions", [this](const std::string&) {
      control->request(OperatorEvent::Kind::clear_regions, {}, source());
    });
    steer("region", [this](const std::string& body) {
      const auto j = nlohmann::json::parse(body);
      const std::string kind = j.at("kind").get<std::string>();
      FieldRect r{j.at("row0").get<double>(), j.at("col0").get<double>(), j.at("row1").get<double>(),
                  j.at("col1").get<double>()};
      if (r.row1 < r.row0) std::swap(r.row0, r.row1);
      if (r.col1 < r.col0) std::swap(r.col0, r.col1);
      if (kind == "exclude") control->exclude(r, source());
      else if (kind == "restrict") control->restrict_to(r, source());
      else throw std::invalid_argument("region kind '" + kind + "' is not exclude or restrict");
    });
  }

  std::string source() const { return "live view"; }
};

LiveView::LiveView(LiveViewOptions options, OperatorControl* control) : impl_(std::make_unique<Impl>()) {
  auto& im = *impl_;
  im.options = std::move(options);
  im.control = control;
  if (!is_loopback(im.options.host) && im.options.token.empty())
    throw std::invalid_argument("live view: binding to " + im.options.host + " needs a token");
  im.server.set_write_timeout(5, 0);  // a stalled browser frees its thread, never the Session
  im.routes();
  if (im.options.port == 0) {
    im.port = im.server.bind_to_any_port(im.options.host);
  } else {
    im.port = im.server.bind_to_port(im.options.host, im.options.port) ? im.options.port : -1;
  }
  if (im.port <= 0)
    throw std::runtime_error("live view: cannot listen on " + im.options.host + ":" +
                             std::to_string(im.options.port) + " (in use? try --view 0 for any free port)");
  im.thread = std::thread([&im] { im.server.listen_after_bind(); });
}

LiveView::~LiveView() {
  close(std::chrono::milliseconds(0));
}

void LiveView::close(std::chrono::milliseconds grace) {
  auto& im = *impl_;
  if (!im.thread.joinable()) return;
  {
    std::unique_lock lock(im.mutex);
    im.closing = true;
    im.changed.notify_all();
    // Let every connected page receive the final state.
    im.changed.wait_for(lock, grace, [&] {
      for (const auto* v : im.client_versions)
        if (*v != im.version) return false;
      return true;
    });
  }
  im.server.stop();
  im.thread.join();
}

int LiveView::port() const { return impl_->port; }

std::string LiveView::url() const {
  const auto& o = impl_->options;
  std::string host = o.host == "0.0.0.0" || o.host == "::" ? "HOST" : o.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(impl_->port) + "/" + (o.token.empty() ? "" : "?token=" + o.token);
}

void LiveView::on_begin(const RunInfo& info, const Survey& survey) {
  auto& im = *impl_;
  nlohmann::json j = info_json(info);
  nlohmann::json s = encode_map(survey.image.data);
  std::lock_guard lock(im.mutex);
  im.info = std::move(j);
  im.survey = std::move(s);
  im.energy = info.instrument.energy;
  im.status = "running";
  im.bump();
  im.changed.notify_all();
}

void LiveView::on_measurement(const Measurement& m) {
  auto& im = *impl_;
  auto sig = std::make_shared<const std::vector<float>>(m.signal);
  const double total = signal_total(m.signal);
  std::lock_guard lock(im.mutex);
  im.points.push_back({m.requested.row, m.requested.col, total, m.t_end_s});
  im.signal = std::move(sig);
  im.signal_shape = m.shape;
  im.signal_index = m.index;
  ++im.signal_version;
  im.bump();
  im.changed.notify_all();
}

void LiveView::on_prediction(std::size_t step, const Prediction& p) {
  auto& im = *impl_;
  auto copy = std::make_shared<const Prediction>(p);
  std::lock_guard lock(im.mutex);
  im.prediction = std::move(copy);
  im.prediction_step = step;
  ++im.prediction_version;
  im.bump();
  im.changed.notify_all();
}

void LiveView::on_operator(const OperatorEvent& e) {
  auto& im = *impl_;
  nlohmann::json j = event_json(e);
  std::lock_guard lock(im.mutex);
  im.events.push_back(std::move(j));
  if (e.kind == OperatorEvent::Kind::pause) im.status = "paused";
  if (e.kind == OperatorEvent::Kind::resume) im.status = "running";
  if (e.kind == OperatorEvent::Kind::stop) im.status = "stopping";
  im.bump();
  im.changed.notify_all();
}

void LiveView::on_progress(const SessionProgress& p) {
  auto& im = *impl_;
  std::lock_guard lock(im.mutex);
  im.progress = {{"measurements", p.measurements},
                 {"budget_points", p.budget_points},
                 {"time_s", p.time_s},
                 {"dose_e_per_A2", p.dose_e_per_A2}};
  im.bump();
  im.changed.notify_all();
}

void LiveView::on_end(const RunSummary& s, const std::optional<Image>&) {
  auto& im = *impl_;
  std::lock_guard lock(im.mutex);
  im.status = "ended";
  im.stop_reason = to_string(s.stop_reason);
  im.message = s.message;
  im.progress["measurements"] = s.measurements;
  im.progress["time_s"] = s.time_s;
  im.progress["dose_e_per_A2"] = s.dose_e_per_A2;
  im.bump();
  im.changed.notify_all();
}

}  // namespace autostem::cli
