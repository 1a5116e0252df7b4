#pragma once
// The acquisition conditions a file's own tags state — survey dwell, spectrum exposure, probe
// current — each with the tag it came from, for `autostem estimate --survey` (which says where
// every assumption came from). Reads the metadata the readers already flatten (signal.hpp); no
// file access of its own.

#include <autostem/datasets/signal.hpp>

#include <string>

namespace autostem::datasets {

/// One value read from a tag: value in the base unit (s, pA), tag = the metadata key it came
/// from plus the unit conversion, e.g. "ImageTags.DigiScan.Sample Time (µs)". value 0 and tag
/// empty = not stated.
struct TaggedValue {
  double value = 0.0;
  std::string tag;
  bool found() const { return value > 0.0; }
};

struct TaggedConditions {
  TaggedValue dwell_s;           ///< survey dwell per pixel
  TaggedValue exposure_s;        ///< spectrum exposure (per pixel of a spectrum image)
  TaggedValue probe_current_pA;  ///< probe (beam) current
};

/// The conditions stated in s.metadata, first match per quantity, from these tags:
///  - HyperSpy (.hspy): Acquisition_instrument.TEM.dwell_time (s), …TEM.Detector.EELS.exposure
///    (s), …TEM.beam_current (nA);
///  - DigitalMicrograph: ImageTags.DigiScan.Sample Time (µs), ImageTags.EELS.Acquisition.Exposure
///    (s), ImageTags.Acquisition.Parameters.High Level.Exposure (s), ImageTags.SI.Acquisition.Pixel
///    time (s), ImageTags.Microscope Info.Probe Current (nA);
///  - FEI SER/EMI: ObjectInfo.AcquireInfo.DwellTimePath (s);
///  - Velox EMD: Velox.Scan.DwellTime (s), Velox.Optics.LastMeasuredScreenCurrent (A).
/// A value that is not a finite number > 0 counts as not stated (GMS writes Probe Current 0 when
/// it does not know it). Never throws.
TaggedConditions tagged_conditions(const Signal& s);

}  // namespace autostem::datasets
