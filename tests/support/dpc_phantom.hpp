#pragma once
// The atomic-resolution DPC phantom of the scan-rotation tests (tests/sim/test_fourd_phantom.cpp,
// tests/apps/test_cli_strain.cpp): a 16 × 16 scan at 0.2 Å over graphene turned by 7°, 80 kV,
// α = 25 mrad (overlapping discs), 64² detector, noiseless probabilities.
#include <autostem/core/ground_truth.hpp>
#include <autostem/sim/fourd_phantom.hpp>

namespace autostem::testing {

inline GroundTruth graphene_dpc_phantom() {
  sim::FourDPhantomConfig cfg;
  cfg.alpha_mrad = 25.0;
  cfg.detector_px = 64;
  cfg.scan_rows = cfg.scan_cols = 16;
  cfg.scan_step_px = 2;
  const double W = double(15 * 2 + 64) * cfg.pixel_A;  // scan span + probe window
  return sim::make_fourd_phantom(sim::graphene(W, W, 7.0), cfg);
}

}  // namespace autostem::testing
