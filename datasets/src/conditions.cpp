#include <autostem/datasets/conditions.hpp>

#include <cmath>
#include <cstdlib>
#include <initializer_list>

namespace autostem::datasets {

namespace {

struct Source {
  const char* key;
  const char* unit;  ///< the tag's unit for the provenance text ("" when the key names it)
  double to_base;    ///< multiply the tag's value by this to get s or pA
};

// First stated source wins; a value that is not a finite number > 0 is "not stated".
TaggedValue first_of(const Signal& s, std::initializer_list<Source> sources) {
  for (const Source& src : sources) {
    const auto it = s.metadata.find(src.key);
    if (it == s.metadata.end()) continue;
    const char* text = it->second.c_str();
    char* end = nullptr;
    const double v = std::strtod(text, &end);
    if (end == text || !std::isfinite(v) || !(v > 0.0)) continue;
    const std::string unit = *src.unit ? std::string(" (") + src.unit + ")" : std::string();
    return {v * src.to_base, std::string(src.key) + unit};
  }
  return {};
}

}  // namespace

TaggedConditions tagged_conditions(const Signal& s) {
  TaggedConditions c;
  c.dwell_s = first_of(s, {{"Acquisition_instrument.TEM.dwell_time", "s", 1.0},
                           {"ImageTags.DigiScan.Sample Time", "µs", 1e-6},
                           {"ObjectInfo.AcquireInfo.DwellTimePath", "s", 1.0},
                           {"Velox.Scan.DwellTime", "s", 1.0}});
  // dwell_time: HyperSpy's name for an EELS spectrum image's per-spectrum exposure (what
  // `autostem convert` writes for a scanned DM SI, as HyperSpy's DM reader does).
  c.exposure_s = first_of(s, {{"Acquisition_instrument.TEM.Detector.EELS.exposure", "s", 1.0},
                              {"Acquisition_instrument.TEM.Detector.EELS.dwell_time", "s", 1.0},
                              {"ImageTags.EELS.Acquisition.Exposure (s)", "", 1.0},
                              {"ImageTags.Acquisition.Parameters.High Level.Exposure (s)", "", 1.0},
                              {"ImageTags.SI.Acquisition.Pixel time (s)", "", 1.0}});
  // HyperSpy's convention stores beam_current in nA; Velox stores amperes.
  c.probe_current_pA = first_of(s, {{"Acquisition_instrument.TEM.beam_current", "nA", 1e3},
                                    {"ImageTags.Microscope Info.Probe Current (nA)", "", 1e3},
                                    {"Velox.Optics.LastMeasuredScreenCurrent", "A", 1e12}});
  return c;
}

}  // namespace autostem::datasets
