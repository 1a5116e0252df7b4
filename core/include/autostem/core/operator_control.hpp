#pragma once
// Operator control (issue 18): a person steers a running Session — pause, resume, stop, and
// regions of the field to exclude (never measure there: a contamination patch, a hole) or to
// restrict the search to. Any thread (the live view's HTTP handlers, a test) calls the request
// functions; the Session polls between batches (Session::set_operator_control), so it never
// waits on the requester, and records each event it applies with its session time in the sinks
// (MeasurementSink::on_operator → the results file's /operator_events).

#include <autostem/core/types.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

namespace autostem {

/// An axis-aligned rectangle of the survey pixel frame, inclusive: row0 ≤ row ≤ row1 and
/// col0 ≤ col ≤ col1 (px, sub-pixel allowed).
struct FieldRect {
  double row0 = 0.0, col0 = 0.0, row1 = 0.0, col1 = 0.0;
  bool contains(const Position& p) const {
    return p.row >= row0 && p.row <= row1 && p.col >= col0 && p.col <= col1;
  }
};

/// One operator request, as applied by the Session.
struct OperatorEvent {
  enum class Kind { pause, resume, stop, exclude, restrict_to, clear_regions };
  Kind kind = Kind::pause;
  FieldRect rect;            ///< for exclude / restrict_to (survey pixels)
  double session_time_s = 0; ///< session time when the Session applied it (set by the Session)
  double wall_time_s = 0;    ///< seconds since the Unix epoch when it was requested
  std::size_t after_measurements = 0;  ///< measurements delivered when it was applied
  std::string source;        ///< who asked, e.g. "live view 127.0.0.1"
};

/// "pause", "resume", "stop", "exclude", "restrict", "clear_regions".
const char* to_string(OperatorEvent::Kind k);

/// Where the operator allows measurements: outside every exclusion and, once any restriction
/// exists, inside at least one restriction (their union).
struct OperatorRegions {
  std::vector<FieldRect> exclude;
  std::vector<FieldRect> restrict_to;
  bool allows(const Position& p) const {
    for (const auto& r : exclude)
      if (r.contains(p)) return false;
    if (restrict_to.empty()) return true;
    for (const auto& r : restrict_to)
      if (r.contains(p)) return true;
    return false;
  }
  bool empty() const { return exclude.empty() && restrict_to.empty(); }
};

/// Thread-safe mailbox between a requester and the Session. Requests never block on the
/// Session; the Session takes them with take() between batches.
class OperatorControl {
 public:
  /// Queues a request. rect is used by exclude / restrict_to only; throws std::invalid_argument
  /// when it is not finite or row1 < row0 or col1 < col0.
  void request(OperatorEvent::Kind kind, FieldRect rect = {}, std::string source = {});
  void pause(std::string source = {}) { request(OperatorEvent::Kind::pause, {}, std::move(source)); }
  void resume(std::string source = {}) { request(OperatorEvent::Kind::resume, {}, std::move(source)); }
  void stop(std::string source = {}) { request(OperatorEvent::Kind::stop, {}, std::move(source)); }
  void exclude(FieldRect r, std::string source = {}) {
    request(OperatorEvent::Kind::exclude, r, std::move(source));
  }
  void restrict_to(FieldRect r, std::string source = {}) {
    request(OperatorEvent::Kind::restrict_to, r, std::move(source));
  }

  /// The requests queued since the last call, in order (Session side).
  std::vector<OperatorEvent> take();
  /// Blocks up to `timeout` until a request is queued (the Session while paused).
  void wait_for_request(std::chrono::milliseconds timeout);
  /// True once stop was requested (also before the Session took it).
  bool stop_requested() const { return stop_.load(); }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<OperatorEvent> queue_;
  std::atomic<bool> stop_{false};
};

}  // namespace autostem
