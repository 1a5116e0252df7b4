#pragma once
// The live view of `autostem run --view` (issue 18, docs/live-view.md): an HTTP server in the
// process (cpp-httplib, Debian libcpp-httplib-dev) that serves one static page (apps/web/live.html,
// embedded at build time) and pushes the run to it with server-sent events as the Session records
// it; the page's Pause / Resume / Stop buttons and the rectangles drawn on the survey reach the
// Session through an OperatorControl. The same page, with the state of a finished run embedded,
// is the run report of `autostem report` (report.cpp).

#include <autostem/core/operator_control.hpp>
#include <autostem/core/session.hpp>
#include <autostem/datasets/results.hpp>

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace autostem::cli {

/// The page (apps/web/live.html), as built into the binary.
const std::string& live_page_html();

/// A map for the page: {"rows", "cols", "min", "max", "u8": base64 of rows×cols bytes, row-major,
/// 0…254 linear from min to max, 255 = not finite}. Empty arrays give null.
nlohmann::json encode_map(const ImageArray& a);

/// RFC 4648 base64 of bytes.
std::string base64(const unsigned char* data, std::size_t n);

/// The page's full state of a finished (or cut-off) run, read from its results file: the same
/// JSON the live view sends on connect ("full" event). Throws what read_results throws.
nlohmann::json run_state_from_file(const std::filesystem::path& results_file);

struct LiveViewOptions {
  std::string host = "127.0.0.1";  ///< bind address; anything but loopback needs the token
  int port = 8765;                 ///< 0 = any free port
  bool read_only = false;          ///< no steering (POSTs refused)
  /// Required on every request when not empty (?token=… or header X-Autostem-Token). The
  /// caller sets it for non-loopback binds (make_token).
  std::string token;
};

/// 128 random bits from the OS (std::random_device), as 32 hex digits.
std::string make_token();

/// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback(const std::string& host);

/// A MeasurementSink that keeps the run's state for the page and serves it. The Session calls
/// the sink functions; they only copy into the state under a short lock and notify: nothing
/// waits on a browser. Each connected page has its own server thread that sends the changes
/// since its last message, at most 10 messages a second (coalesced), so a slow or disconnected
/// browser only drops intermediate states; a (re)connecting page gets the full state first.
class LiveView final : public MeasurementSink {
 public:
  /// Binds the server (throws std::runtime_error naming host and port when it cannot) and
  /// starts serving on a thread. control may be null (then the page cannot steer).
  LiveView(LiveViewOptions options, OperatorControl* control);
  ~LiveView() override;
  LiveView(const LiveView&) = delete;
  LiveView& operator=(const LiveView&) = delete;

  /// The port actually bound; the URL to open (with the token when there is one).
  int port() const;
  std::string url() const;

  void on_begin(const RunInfo& info, const Survey& survey) override;
  void on_measurement(const Measurement& m) override;
  void on_prediction(std::size_t step, const Prediction& p) override;
  void on_operator(const OperatorEvent& e) override;
  void on_end(const RunSummary& summary, const std::optional<Image>& dose_map) override;
  /// Session progress (time and dose spent), from Session::set_progress.
  void on_progress(const SessionProgress& p);
  /// Gives connected pages up to `grace` to receive the final state, then stops the server.
  void close(std::chrono::milliseconds grace = std::chrono::milliseconds(1500));

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace autostem::cli
