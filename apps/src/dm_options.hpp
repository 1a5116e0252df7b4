#pragma once
// Options of the live DigitalMicrograph backend for `autostem run --backend dm`.

#include "cli.hpp"

#include <memory>
#include <string>

namespace autostem {
class Instrument;
}

namespace autostem::cli {

/// Adds --backend, --host, --port, --key-file, --dm-timeout, --dm-retries to options.
void add_backend_options(po::options_description& options);

/// True when --backend dm was given. Throws UsageError for a backend other than sim or dm.
bool live_backend(const po::variables_map& vm);

/// Connects to the live server named by --host/--port/--key-file. Throws UsageError when one is
/// missing or this build has no live client, and what DmInstrument's constructor throws.
std::unique_ptr<Instrument> make_live_instrument(const po::variables_map& vm);

}  // namespace autostem::cli
