#include <autostem/core/instrument.hpp>

#include <stdexcept>

namespace autostem {

Survey Instrument::acquire_patch(const PatchScan&) {
  throw std::logic_error("instrument '" + describe().name +
                         "' cannot scan a reference patch (no drift correction on this backend)");
}

}  // namespace autostem
