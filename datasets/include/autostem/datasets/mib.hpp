#pragma once
// Quantum Detectors Merlin (Medipix3) .mib files: a sequence of frames, each an ASCII header
// ("MQ1,sequence,header bytes,chips,width,height,pixel type,layout,chip select,timestamp,
// shutter s,…[,MQ1A,ISO timestamp,shutter ns,counter depth]") followed by the pixels, big-endian.
// Pixel types: U08 (1- and 6-bit counters), U16 (12-bit), U32 (24-bit), R64 (raw: 64-bit words
// of packed pixels, as the chips deliver them). An optional companion .hdr (tab-separated
// "key:\tvalue" lines between "HDR," and "End") describes the acquisition.
//
// Sources (read, not copied): the MerlinEM user manual's MIB description as summarised by
// RosettaSciIO (rsciio/quantumdetector) and LiberTEM (libertem/io/dataset/mib.py: the R64
// 1-bit decoding and the 2×2 quad raw layout with its quadrant flips). The pattern rows are kept
// in file order (row 0 = the first row stored); RosettaSciIO flips the rows on reading (its
// `np.flip(data, axis=-2)`), MANIFEST.md and LiberTEM do not.

#include <autostem/datasets/signal.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace autostem::datasets {

/// One frame header of a .mib file.
struct MibFrameHeader {
  std::size_t sequence = 0;      ///< 1-based frame number
  std::size_t header_bytes = 0;  ///< 384 (single chip) or 768 (quad)
  int chips = 0;                 ///< 1 or 4
  std::size_t width = 0;         ///< stored columns (raw quad: 1024)
  std::size_t height = 0;        ///< stored rows
  std::string pixel_type;        ///< "U08", "U16", "U32" or "R64"
  std::string layout;            ///< "1x1", "2x2", "Nx1" (leading spaces removed)
  std::string timestamp;         ///< "2021-04-15 14:43:47.008505" (local time, µs)
  std::string timestamp_iso;     ///< "2021-04-15T13:43:47.008505401Z" (UTC, ns); empty if absent
  double shutter_s = 0.0;        ///< acquisition (shutter) time per frame, s
  int counter_depth = 0;         ///< 1, 6, 12 or 24 bit; 0 when the header does not say
};

/// Parses one frame header (the first header_bytes bytes of a frame; NUL padding allowed).
/// Throws std::invalid_argument naming the field when it is not "MQ1", has fewer than 11 fields,
/// a non-numeric size, or an unknown pixel type.
MibFrameHeader parse_mib_frame_header(std::string_view text);

/// Parses a .hdr acquisition header into "key" → "value" (key without the trailing ':', e.g.
/// "Frames in Acquisition (Number)" → "8"). Throws std::runtime_error when the file cannot be
/// read or does not start with "HDR,".
std::map<std::string, std::string> read_mib_hdr(const std::filesystem::path& hdr);

/// How read_mib() lays the frames out as a scan.
struct MibScanOptions {
  /// Scan shape (rows, cols); 0 × 0 = from the .hdr ("Frames per Trigger" > 1 gives cols, the
  /// frame count / cols the rows), else one row of all frames.
  std::size_t scan_rows = 0, scan_cols = 0;
  /// An interrupted scan (fewer frames than rows × cols): true keeps the complete rows and
  /// records a warning in metadata "Merlin.warning"; false throws.
  bool allow_partial = true;
};

/// A .mib file memory-mapped read-only: frames are decoded one at a time on request, the file is
/// never read whole (the OS pages it in as frames are touched). Not copyable; thread-safe for
/// concurrent read_frame() calls.
class MibFile {
 public:
  /// Maps the file and parses its first frame header and the .hdr beside it (same stem), if any.
  /// Throws std::runtime_error naming the path: cannot open, shorter than one frame, bad header,
  /// unsupported pixel type (R64 at a counter depth other than 1 bit).
  explicit MibFile(const std::filesystem::path& path);
  ~MibFile();
  MibFile(const MibFile&) = delete;
  MibFile& operator=(const MibFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const MibFrameHeader& header() const { return header_; }
  /// The .hdr entries; empty when there is no .hdr.
  const std::map<std::string, std::string>& hdr() const { return hdr_; }
  /// Complete frames in the file (a trailing partial frame is ignored).
  std::size_t frames() const { return frames_; }
  /// Bytes per frame in the file, header included (what each pattern costs to move).
  std::size_t frame_stride_bytes() const { return stride_; }
  /// Decoded pattern shape: (ky, kx) = (height, width), raw quad (2·height, width/2).
  std::size_t ky() const { return ky_; }
  std::size_t kx() const { return kx_; }
  /// dtype of the decoded values: uint8 (U08, R64 1-bit), uint16 (U16), uint32 (U32).
  DType dtype() const { return dtype_; }
  /// Header of frame i. Throws std::out_of_range / std::runtime_error (bad header).
  MibFrameHeader frame_header(std::size_t i) const;
  /// Decodes frame i (C-order (ky, kx)) into out (ky·kx values). Throws std::out_of_range on i ≥
  /// frames() or std::invalid_argument on a wrong out size.
  void read_frame(std::size_t i, std::span<float> out) const;
  /// As read_frame, into the native dtype's bytes (ky·kx·dtype_size(dtype()) bytes, host order).
  void read_frame_bytes(std::size_t i, std::span<std::byte> out) const;
  /// Mean frame period (s) from the first and last frame's ISO timestamps (ns resolution), or
  /// from the local µs timestamps when the ISO ones are absent; nullopt with < 2 frames.
  std::optional<double> frame_period_s() const;

 private:
  std::filesystem::path path_;
  MibFrameHeader header_;
  std::map<std::string, std::string> hdr_;
  const std::byte* map_ = nullptr;
  std::size_t size_ = 0, stride_ = 0, frames_ = 0, ky_ = 0, kx_ = 0, data_bytes_ = 0;
  DType dtype_ = DType::uint8;
};

/// Reads a .mib file as one 4D signal (scan rows, scan cols, ky, kx) in the file's dtype (R64
/// 1-bit as uint8), axes "y", "x" (navigate, uncalibrated: scale 1, no units) and "ky", "kx".
/// Metadata: Merlin.* from the first frame header (pixel_type, counter_depth, chips, shutter_s,
/// timestamp, frames_in_file, frame_period_s), Merlin.hdr.<key> from the .hdr,
/// Merlin.scan_shape_source ("caller", "hdr" or "none") and Merlin.warning when frames were
/// dropped. Throws std::runtime_error (as MibFile; a scan needing more frames than the file holds
/// when !allow_partial or when not even one row is complete; a scan of 0 rows or cols).
Signal read_mib(const std::filesystem::path& path, const MibScanOptions& options = {});

/// Scan shape from the environment for the front door (read_signals): AUTOSTEM_MIB_SCAN =
/// "ROWSxCOLS" (e.g. "2x4"); unset gives {0, 0}. Throws std::invalid_argument on bad text.
MibScanOptions mib_scan_from_env();

}  // namespace autostem::datasets
