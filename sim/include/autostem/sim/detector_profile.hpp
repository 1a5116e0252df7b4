#pragma once
// Pixelated-detector profiles for 4D-STEM (issue 19), as data in profiles/detectors/*.ini
// (`key = value`, `#` comments): the frame period of a synchronized 4D scan, the pattern size and
// the bytes each pattern costs to move, and the overheads of a scan and of point mode. docs/
// 4dstem.md gives the source of every number (MANIFEST 4dstem/merlin for the Merlin periods,
// measured from the real frame headers; published figures for ARINA and EMPAD).

#include <cstddef>
#include <string>
#include <vector>

namespace autostem::sim {

struct DetectorProfile {
  std::string name, description, source_path;
  double frame_time_s = 0.0;           ///< frame period in a synchronized 4D scan, > 0
  std::size_t ky = 0, kx = 0;          ///< pattern shape (detector pixels)
  double bits_per_pixel = 0.0;         ///< stored bits per pixel (8, 16, 32)
  double header_bytes = 0.0;           ///< per frame, in the detector's file / stream
  double scan_line_overhead_s = 0.0;   ///< per scan line (flyback) in a 4D scan
  double scan_setup_s = 0.0;           ///< once per 4D scan (arm detector + scan generator)
  double point_overhead_s = 0.0;       ///< per pattern in point mode beyond the frame (trigger, readout)

  /// Reads profiles/detectors/<name>.ini (a built-in name) or an .ini path. Every key is
  /// required. Throws std::invalid_argument naming the file and the key (unknown, missing, not a
  /// number, out of range) or listing the built-in names for an unknown name.
  static DetectorProfile load(const std::string& name_or_path);
  /// Built-in names: merlin-single-1bit, -6bit, -12bit, -24bit, merlin-quad-12bit, arina, empad.
  static std::vector<std::string> builtin_names();

  /// Bytes one pattern costs to move: ky·kx·bits_per_pixel/8 + header_bytes.
  double bytes_per_pattern() const;
  /// Frames only of a synchronized rows × cols scan: rows·cols·frame_time_s.
  double scan_frames_s(std::size_t rows, std::size_t cols) const;
  /// Whole synchronized 4D scan: scan_setup + frames + (rows − 1)·scan_line_overhead.
  double scan_time_s(std::size_t rows, std::size_t cols) const;
  /// Point mode, n patterns: n·(beam_move_s + frame_time_s + point_overhead_s), where
  /// beam_move_s (set + settle + read back) comes from the instrument's timing profile.
  double point_time_s(std::size_t n, double beam_move_s) const;
  /// Electrons per pattern at a probe current: current × frame_time (× 6.2415e6 e/(pA·s)).
  double electrons_per_pattern(double probe_current_pA) const;
};

}  // namespace autostem::sim
