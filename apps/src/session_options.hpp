#pragma once
// Options shared by `run` and `estimate`: acquisition settings, budgets, strategy, timing.

#include "cli.hpp"

#include <autostem/backends/simulated.hpp>
#include <autostem/core/session.hpp>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace autostem::cli {

/// Adds --exposure, --dwell, --current, --profile, --budget-*, --batch, --mode, --compute,
/// --overlap, --no-noise to options.
void add_acquisition_options(po::options_description& options);

/// Adds --strategy, --param, --exposure, --dwell, --current, --profile, --budget-*, --seed,
/// --batch, --mode, --compute, --overlap, --json to options.
void add_session_options(po::options_description& options, const std::string& default_strategy);

/// Adds the model-strategy options --acquisition, --patch, --train-iters, --retrain-every and,
/// with scalarizer = true, --scalarizer (`autostem bench` has its own --scalarizer).
void add_model_options(po::options_description& options, bool scalarizer);

/// Copies the model-strategy options given on the command line (--scalarizer, --acquisition,
/// --patch, --train-iters, --retrain-every) into params as scalarizer, acquisition, patch,
/// train_iters, retrain_every — only the keys the strategy takes (those in its parameters() at
/// defaults) and only where params has no value yet (an explicit --param wins). `scalarizer`
/// is the spec to pass (empty = none). Throws std::invalid_argument for an unknown strategy.
void apply_model_options(const po::variables_map& vm, const std::string& strategy,
                         const std::string& scalarizer, Parameters& params);

/// Reads the options added above into a SessionConfig (validated by Session itself).
/// --exposure is SECONDS or "file"; "file" leaves point.exposure_s at 0 for the caller to fill
/// from its data file (file_exposure) when allow_file_exposure, else it is a UsageError.
/// Throws UsageError on malformed values (e.g. --mode foo, --compute bar, --exposure 0).
SessionConfig session_config(const po::variables_map& vm, bool allow_file_exposure = false);

/// True when the command line says --exposure file.
bool exposure_from_file(const po::variables_map& vm);

/// An exposure taken from a data file, and where it came from ("EELS_SI.dm4, ImageTags.EELS.
/// Acquisition.Exposure (s)") for the output.
struct FileExposure {
  double exposure_s = 0.0;
  std::string source;
  /// "0.0199501 s per spectrum, from EELS_SI.dm4, ImageTags.EELS.Acquisition.Exposure (s)".
  std::string note() const;
};

/// The per-spectrum exposure the file records (datasets::recorded_exposure). Throws UsageError
/// naming the file when it records none, std::runtime_error when it cannot be read.
FileExposure file_exposure(const std::filesystem::path& file);

/// The simulated backend options (--profile, --current, --seed, --no-noise).
backends::SimulatedOptions simulated_options(const po::variables_map& vm);

/// The strategy parameters of --param KEY=VALUE (repeatable, or comma-separated). Throws
/// std::invalid_argument on a malformed item.
Parameters strategy_parameters(const po::variables_map& vm);

/// The run summary as a JSON object: time_s, dose_e_per_A2, measurements, … (print_summary).
nlohmann::json summary_json(const RunSummary& s, const InstrumentInfo& info);

/// Prints the run summary as text (stdout; `what` first, as a heading, unless empty) or, with
/// json, one JSON object on stdout with at least time_s, dose_e_per_A2 and measurements.
/// exposure_note, when not empty, says which exposure was used and where it came from (a line
/// in the text, "exposure" in the JSON).
void print_summary(const RunSummary& s, const std::string& what, const std::string& out_path,
                   bool json, const InstrumentInfo& info, const std::string& exposure_note = "");

}  // namespace autostem::cli
