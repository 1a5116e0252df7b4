#pragma once
// --drift and --drift-correction, shared by `run`, `bench` and `estimate` (issue 16;
// docs/drift.md): the simulated specimen drift preset, and the Session's drift-correction service.

#include "cli.hpp"

#include <autostem/core/drift.hpp>
#include <autostem/imaging/drift_corrector.hpp>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace autostem::cli {

/// Adds --drift PRESET, --drift-correction SPEC, --drift-patch PX, --drift-reference ROW,COL.
void add_drift_options(po::options_description& options);

/// The --drift preset name ("off" when not given). Throws UsageError for an unknown preset,
/// naming the valid ones (sim::drift_preset_names()).
std::string drift_preset(const po::variables_map& vm);

/// --drift-correction parsed: "off" → std::nullopt; "every:N" (re-scan after N measurements),
/// "seconds:T" (after T s of session time), or both comma-separated ("every:50,seconds:30"),
/// with --drift-patch and --drift-reference applied. Throws UsageError on a malformed spec (N
/// must be ≥ 1, T finite and > 0), naming the accepted forms.
std::optional<DriftCorrectorOptions> drift_correction_options(const po::variables_map& vm);

/// One --drift-correction spec ("off", "every:N", "seconds:T", "every:N,seconds:T") with
/// --drift-patch / --drift-reference applied. Throws UsageError like drift_correction_options.
std::optional<DriftCorrectorOptions> parse_drift_correction(const std::string& spec, const po::variables_map& vm);

/// `bench`: the '/'-separated variants of --drift-correction (e.g. "off/every:50"), each with
/// its spec text; one variant when no '/' is given. Throws UsageError on a malformed or repeated one.
std::vector<std::pair<std::string, std::optional<DriftCorrectorOptions>>> drift_correction_variants(
    const po::variables_map& vm);

/// A one-line description for summaries, e.g. "every 50 measurements, 64 px reference".
std::string describe(const DriftCorrectorOptions& o);

/// For `estimate` (no survey to register): a DriftCorrection that re-scans a patch of the
/// configured size at the configured cadence — so the re-scans' time and dose are counted by
/// the same timing and dose models — and predicts zero drift. Its records carry no estimate.
std::unique_ptr<DriftCorrection> make_timing_only_drift_correction(const DriftCorrectorOptions& o);

}  // namespace autostem::cli
