#pragma once
// The live DigitalMicrograph backend (DESIGN.md §8): an Instrument that drives a microscope
// through the autostem server running inside Gatan DigitalMicrograph
// (backends/dm/server/autostem_dm_server.py) over the authenticated binary protocol of
// docs/live-protocol.md. Networking (Boost.Asio) and HMAC-SHA256 (OpenSSL) stay in the .cpp.
//
// Live semantics of the Instrument contract:
//  - acquisitions run on their own thread: submit() queues and returns at once, the thread
//    sends one acquire_point request after the other (move beam, acquire a spectrum, read the
//    beam position back) while the caller's strategy computes; collect(false) returns what has
//    finished, collect(true) waits for at least one; after a failure the thread pauses, the
//    failed position stays queued and the next collect(true) tries it again (issue 17);
//  - elapse() is a no-op live (real time has passed); now_s() is wall-clock seconds since
//    connection. Against a rehearsal server (the fake DM, info "clock": "simulated") the
//    session clock is kept as the simulator keeps its own: elapse() adds strategy compute,
//    collect(true) moves it to the end of the first finished acquisition, and every request
//    carries it (not_before_s) so that the simulated microscope starts no earlier — the
//    rehearsal then has the simulated run's timeline, overlap, cost of a point and drift;
//  - dose_map(): the survey's probe current × dwell on every pixel, each spectrum's electrons
//    (as the server reports them) in the pixel of its read-back position, each patch pixel's
//    dwell dose where it was commanded;
//  - Measurement::actual is the beam position read back from DigiScan, t_start_s / t_end_s are
//    wall-clock times of the request and its answer;
//  - every call has a timeout; a lost connection is re-established and the request repeated
//    with the same acquisition id, which the server answers from its cache when it had already
//    acquired it, so a point is never lost nor acquired twice;
//  - the destructor blanks the beam (the server also blanks on disconnect and when idle).

#include <autostem/core/instrument.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace autostem::backends {

struct DmClientOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8765;
  std::vector<std::uint8_t> key;        ///< shared key, ≥ 16 bytes (read_key_file)
  double connect_timeout_s = 5.0;       ///< TCP connect + handshake
  double call_timeout_s = 30.0;         ///< per request, on top of the exposure / survey time
  int reconnect_attempts = 5;           ///< after a lost connection, before giving up
  double reconnect_backoff_s = 0.25;    ///< first wait between attempts, doubled each time
  std::size_t max_frame_bytes = std::size_t{512} << 20;  ///< largest answer accepted
  std::string run_id;                   ///< identifies this run to the server; empty = random
  unsigned binning = 1;                 ///< camera binning sent with every spectrum
  /// The session's field asked of the server (issue 17; `autostem run --survey-shape RxC
  /// --pixel-size NM`): survey rows × cols (both 0 = the server's settings) and the pixel size
  /// in nm (0 = the settings'), sent with `info`. The server checks them against its limits
  /// (max_survey_shape, max_survey_pixels, pixel_size_nm_range) — the constructor throws
  /// DmRefused naming the limit otherwise — and, after the survey, the pixel size asked against
  /// DM's calibration of the survey image (pixel_size_tolerance; acquire_survey throws
  /// DmRefused when they differ). A new field needs no server restart.
  std::size_t survey_rows = 0, survey_cols = 0;
  double pixel_size_nm = 0.0;
  /// Where connection events go ("connection lost …; reconnecting"); default: stderr.
  std::function<void(const std::string&)> log;
};

/// Reads a key file: hex text (e.g. `openssl rand -hex 32`) or raw bytes, surrounding whitespace
/// stripped. Throws std::runtime_error naming the file when it cannot be read, and
/// std::invalid_argument when the key is shorter than 16 bytes.
std::vector<std::uint8_t> read_key_file(const std::filesystem::path& path);

/// What the client observed about the link, for reports and tests.
struct DmLinkStats {
  std::size_t requests = 0;
  std::size_t reconnects = 0;     ///< connections re-established after a loss
  std::size_t resumed = 0;        ///< acquisitions answered from the server's cache after a loss
  double last_survey_server_s = 0.0;  ///< time the server spent in DM for the last survey
  /// Electrons the server had delivered in its dose budget when this client connected (kept
  /// across server restarts on the microscope PC, docs/live.md §2).
  double server_electrons_used = 0.0;
  /// The last survey's pixel size as DigitalMicrograph calibrates the survey image (nm; 0 when
  /// the image has no length calibration) and the indicated magnification (0 when DM has no
  /// 'Microscope Info:Indicated Magnification' tag), as the server read them back (issue 17).
  double survey_dm_pixel_size_nm = 0.0;
  double survey_dm_magnification = 0.0;
};

/// A refusal by the server (a limit, an invalid value, a failed authentication): not retried.
class DmRefused : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class DmInstrument final : public Instrument {
 public:
  /// Connects, authenticates and reads the instrument description (asking for the options'
  /// field). Throws std::invalid_argument on bad options (key shorter than 16 bytes, port 0,
  /// only one of survey_rows/survey_cols, a pixel size not finite or < 0), std::runtime_error
  /// when the server cannot be reached within the timeouts, DmRefused when it refuses the key
  /// or the field.
  explicit DmInstrument(DmClientOptions options);
  /// Blanks the beam and says goodbye (best effort, short timeout); never throws.
  ~DmInstrument() override;
  DmInstrument(const DmInstrument&) = delete;
  DmInstrument& operator=(const DmInstrument&) = delete;

  InstrumentInfo describe() const override;
  /// Throws DmRefused when the server refuses the settings (dwell, detector, dose budget) and
  /// std::runtime_error on a lost connection (a survey is not silently repeated).
  Survey acquire_survey(const SurveySettings& settings) override;
  /// Throws std::invalid_argument naming a non-finite or out-of-field position or an exposure
  /// above max_exposure_s; nothing is queued then.
  void submit(std::span<const Position> positions, const PointSettings& settings,
              AcquisitionMode mode) override;
  std::size_t in_flight() const override;
  /// Throws DmRefused (limit reached) or std::runtime_error (connection lost for good); the
  /// failed position stays queued, everything returned before is unaffected.
  std::vector<Measurement> collect(bool wait) override;
  void elapse(double seconds) override;
  void blank() override;
  /// Asks the server (ping) for the last blanker command it gave DM; std::nullopt when it has
  /// given none. Throws std::runtime_error when the server cannot be reached.
  std::optional<bool> beam_blanked() const override;
  double now_s() const override;
  /// time: exposure + the mean overhead measured so far (50 ms before the first point);
  /// electrons: the server's nominal probe current × exposure.
  CostEstimate estimate_point(const PointSettings& settings, AcquisitionMode mode) const override;
  double total_electrons() const override;
  /// (field_rows, field_cols) e-/A^2 from the doses the server reported (see above).
  std::optional<Image> dose_map() const override;
  /// A DigiScan sub-region scan of the survey (op scan_patch, docs/live-protocol.md), when the
  /// server announces the "scan_patch" capability (describe().can_scan_patch). Throws
  /// std::logic_error naming the server when it does not, std::invalid_argument on a bad
  /// rectangle, offset, dwell or a probe current other than the microscope's, DmRefused when
  /// the server refuses (outside the field, limits, dose budget) and std::runtime_error on a lost
  /// connection (a patch is not silently repeated).
  Survey acquire_patch(const PatchScan& scan) override;

  /// Beam position read back from DigiScan (survey pixel frame). Needs a survey first.
  Position beam_position();
  /// Sets the energy-filter offset (eV, within the server's limits) and returns the new one.
  double set_energy_offset(double eV);
  DmLinkStats link_stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace autostem::backends
