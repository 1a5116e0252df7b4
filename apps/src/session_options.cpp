#include "session_options.hpp"

#include "drift_options.hpp"

#include <autostem/datasets/ground_truth.hpp>
#include <autostem/datasets/signal.hpp>
#include <autostem/strategies/registry.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>
#include <sstream>

namespace autostem::cli {

void add_acquisition_options(po::options_description& o) {
  o.add_options()
      ("exposure", po::value<std::string>(),
       "spectrum exposure, s, or 'file': the exposure the --dataset file records (run, bench; "
       "default: the profile's)")
      ("dwell", po::value<double>(), "survey dwell time per pixel, s (default: the profile's)")
      ("current", po::value<double>(), "probe current, pA (default: the profile's)")
      ("profile", po::value<std::string>()->default_value("rsi2024-remote"),
       "instrument timing profile: a built-in name (autostem profiles) or a profile file")
      ("budget-points", po::value<std::size_t>(), "stop after N spectra")
      ("budget-time", po::value<double>(), "stop before the experiment exceeds S seconds")
      ("budget-dose", po::value<double>(),
       "stop before the total dose (electrons / field area) exceeds E e-/A^2")
      ("batch", po::value<std::size_t>()->default_value(1),
       "positions per strategy decision (a synchronized SI scan uses whole lines when left at 1)")
      ("mode", po::value<std::string>()->default_value("auto"),
       "how spectra are taken: auto (the strategy's choice), point (beam move per spectrum), "
       "si_scan (the instrument's synchronized spectrum-image scan)")
      ("compute", po::value<std::string>()->default_value("measured"),
       "how strategy computation is charged to experiment time: measured | scaled:F | fixed:S")
      ("overlap", po::bool_switch(), "let the strategy decide while the previous spectrum is "
                                     "acquired (otherwise the beam is blanked while it thinks)")
      ("no-noise", po::bool_switch(), "expected counts without shot/readout noise")
      ("detector", po::value<std::string>(),
       "4D-STEM pixelated detector profile (profiles/detectors: merlin-single-1bit/6bit/12bit/"
       "24bit, merlin-quad-12bit, arina, empad, or an .ini path). run, bench: the simulator times "
       "each diffraction pattern with it (exposure = its frame time; needs 4D ground truth). "
       "estimate: NAME[,NAME...] or 'all', time, data and dose of a --shape scan per detector "
       "(--mode point: --points patterns, the beam moved for each; auto or si_scan: a "
       "synchronized scan)");
  add_drift_options(o);
}

void add_session_options(po::options_description& o, const std::string& default_strategy) {
  std::string names;
  for (const auto& n : strategies::strategy_names()) names += (names.empty() ? "" : ", ") + n;
  o.add_options()
      ("strategy", po::value<std::string>()->default_value(default_strategy),
       ("acquisition strategy: " + names).c_str())
      ("param", po::value<std::vector<std::string>>()->composing(),
       "strategy parameter KEY=VALUE (repeatable, or comma-separated), e.g. pattern=serpentine")
      ("seed", po::value<std::uint64_t>()->default_value(0), "random seed (strategy and simulator)")
      ("json", po::bool_switch(), "print the summary as one JSON object on stdout");
  add_acquisition_options(o);
}

void add_model_options(po::options_description& o, bool scalarizer) {
  if (scalarizer)
    o.add_options()("scalarizer", po::value<std::string>(),
                    "spectrum → number for model strategies (dkl, gp), e.g. band_mean:920:960, "
                    "edge:931:60:850:920 (default: total counts)");
  o.add_options()
      ("acquisition", po::value<std::string>(),
       "acquisition function of model strategies (dkl, gp): ei | ucb:BETA | pi | maxvar | thompson")
      ("patch", po::value<std::string>(), "dkl: survey patch size in px, or auto (the default, docs/dkl.md)")
      ("train-iters", po::value<std::size_t>(),
       "dkl, gp: Adam iterations per (warm-started) retraining (default 100)")
      ("retrain-every", po::value<std::size_t>(),
       "dkl, gp: retrain after every K new measurements (default 1)")
      ("prediction-every", po::value<std::size_t>()->default_value(10),
       "store the strategy's prediction maps (mean, uncertainty, acquisition) every N "
       "measurements, for strategies with a model (0 = never); see --prediction-budget")
      ("prediction-budget", po::value<double>()->default_value(0.1),
       "at most this fraction (0, 1] of the run's wall time goes to computing and storing "
       "prediction maps: a due map is skipped while the maps took more (the first and the last "
       "are always stored)");
}

void apply_model_options(const po::variables_map& vm, const std::string& strategy,
                         const std::string& scalarizer, Parameters& params) {
  const strategies::Schema schema = strategies::strategy_schema(strategy);
  auto put = [&](const std::string& key, const std::string& value) {
    for (const auto& p : schema.params())
      if (p.key == key && !params.count(key)) params[key] = value;
  };
  if (!scalarizer.empty()) put("scalarizer", scalarizer);
  if (vm.count("acquisition")) put("acquisition", vm["acquisition"].as<std::string>());
  if (vm.count("patch")) put("patch", vm["patch"].as<std::string>());
  if (vm.count("train-iters"))
    put("train_iters", std::to_string(vm["train-iters"].as<std::size_t>()));
  if (vm.count("retrain-every"))
    put("retrain_every", std::to_string(vm["retrain-every"].as<std::size_t>()));
}

bool exposure_from_file(const po::variables_map& vm) {
  return vm.count("exposure") && vm["exposure"].as<std::string>() == "file";
}

FileExposure file_exposure(const std::filesystem::path& file) {
  const datasets::Signal s = datasets::read_signal(file);
  const auto e = datasets::recorded_exposure(s);
  if (!e)
    throw UsageError("--exposure file: " + file.string() +
                     " records no exposure (none of its metadata gives a per-spectrum exposure or "
                     "pixel time); give --exposure SECONDS");
  return {e->value, file.filename().string() + ", " + e->key};
}

std::string FileExposure::note() const {
  std::ostringstream o;
  o.precision(6);
  o << exposure_s << " s per spectrum, from " << source;
  return o.str();
}

SessionConfig session_config(const po::variables_map& vm, bool allow_file_exposure) {
  SessionConfig c;
  if (vm.count("exposure")) {
    const std::string text = vm["exposure"].as<std::string>();
    if (text == "file") {
      if (!allow_file_exposure)
        throw UsageError("--exposure file takes the exposure from a data file: only `run --dataset` "
                         "and `bench --dataset` have one; give --exposure SECONDS");
    } else {
      try {
        std::size_t used = 0;
        c.point.exposure_s = std::stod(text, &used);
        if (used != text.size()) throw std::invalid_argument("trailing text");
      } catch (const std::exception&) {
        throw UsageError("--exposure '" + text + "' is neither a number of seconds nor 'file'");
      }
      if (!(c.point.exposure_s > 0.0 && std::isfinite(c.point.exposure_s)))
        throw UsageError("--exposure must be a finite number > 0, got " + text);
    }
  }
  if (vm.count("dwell")) c.survey.dwell_s = vm["dwell"].as<double>();
  if (vm.count("current")) {
    c.point.probe_current_pA = vm["current"].as<double>();
    c.survey.probe_current_pA = c.point.probe_current_pA;
  }
  // Zero means "the instrument's default" internally; an explicit 0 or negative is an error.
  for (const char* key : {"dwell", "current"})
    if (vm.count(key) && !(vm[key].as<double>() > 0.0 && std::isfinite(vm[key].as<double>())))
      throw UsageError(std::string("--") + key + " must be a finite number > 0, got " +
                       std::to_string(vm[key].as<double>()));
  if (vm.count("budget-points")) {
    c.budget.max_points = vm["budget-points"].as<std::size_t>();
    if (c.budget.max_points == 0) throw UsageError("--budget-points must be at least 1");
  }
  if (vm.count("budget-time")) c.budget.max_time_s = vm["budget-time"].as<double>();
  if (vm.count("budget-dose")) c.budget.max_dose_e_per_A2 = vm["budget-dose"].as<double>();
  if (vm.count("seed")) c.seed = vm["seed"].as<std::uint64_t>();
  c.batch_size = vm["batch"].as<std::size_t>();
  const std::string mode = vm["mode"].as<std::string>();
  if (mode == "point") c.mode = AcquisitionMode::point;
  else if (mode == "si_scan") c.mode = AcquisitionMode::si_scan;
  else if (mode != "auto") throw UsageError("--mode '" + mode + "' is not one of auto, point, si_scan");
  const std::string compute = vm["compute"].as<std::string>();
  const auto colon = compute.find(':');
  const std::string kind = compute.substr(0, colon);
  if (kind == "measured" && colon == std::string::npos) {
    c.compute.kind = ComputeTiming::Kind::measured;
  } else if ((kind == "scaled" || kind == "fixed") && colon != std::string::npos) {
    c.compute.kind = kind == "scaled" ? ComputeTiming::Kind::scaled : ComputeTiming::Kind::fixed;
    try {
      std::size_t used = 0;
      c.compute.value = std::stod(compute.substr(colon + 1), &used);
      if (used != compute.size() - colon - 1) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      throw UsageError("--compute '" + compute + "': the value after ':' is not a number");
    }
  } else {
    throw UsageError("--compute '" + compute + "' is not one of measured, scaled:F, fixed:S");
  }
  c.overlap = vm["overlap"].as<bool>();
  return c;
}

backends::SimulatedOptions simulated_options(const po::variables_map& vm) {
  backends::SimulatedOptions o;
  o.profile = vm["profile"].as<std::string>();
  if (vm.count("current")) o.probe_current_pA = vm["current"].as<double>();
  if (vm.count("seed")) o.seed = vm["seed"].as<std::uint64_t>();
  o.noise = !vm["no-noise"].as<bool>();
  if (vm.count("detector")) o.detector = vm["detector"].as<std::string>();
  if (const std::string preset = drift_preset(vm); preset != "off") o.drift_preset = preset;
  return o;
}

Parameters strategy_parameters(const po::variables_map& vm) {
  Parameters params;
  if (vm.count("param"))
    for (const auto& item : vm["param"].as<std::vector<std::string>>())
      for (auto& [k, v] : strategies::parse_parameters(item)) params[k] = v;
  return params;
}

nlohmann::json summary_json(const RunSummary& s, const InstrumentInfo& info) {
  nlohmann::json j = {
      {"measurements", s.measurements},
      {"time_s", s.time_s},
      {"survey_time_s", s.survey_time_s},
      {"dose_e_per_A2", s.dose_e_per_A2},
      {"max_dose_e_per_A2", s.max_dose_e_per_A2},
      {"electrons", s.electrons},
      {"wall_s", s.wall_s},
      {"decisions", s.decisions},
      {"decision_latency_median_s", s.latency_median_s()},
      {"decision_latency_p95_s", s.latency_p95_s()},
      {"stop_reason", to_string(s.stop_reason)},
      {"profile", info.profile},
      {"field", {info.field_rows, info.field_cols}},
  };
  if (s.drift_rescans > 0) {
    j["drift_rescans"] = s.drift_rescans;
    j["drift_time_s"] = s.drift_time_s;
    j["drift_warnings"] = s.drift_warnings;
    j["drift_clamped"] = s.drift_clamped;
  }
  if (!s.message.empty()) j["error"] = s.message;
  return j;
}

void print_summary(const RunSummary& s, const std::string& what, const std::string& out_path,
                   bool json, const InstrumentInfo& info, const std::string& exposure_note) {
  if (json) {
    nlohmann::json j = summary_json(s, info);
    if (!exposure_note.empty()) j["exposure"] = exposure_note;
    if (!out_path.empty()) j["out"] = out_path;
    std::cout << j.dump() << std::endl;
    return;
  }
  if (!what.empty()) std::printf("%s\n", what.c_str());
  std::printf("  measurements            %zu (field %zux%zu, sampling fraction %.4g)\n",
              s.measurements, info.field_rows, info.field_cols,
              double(s.measurements) / double(info.field_rows * info.field_cols));
  if (!exposure_note.empty()) std::printf("  exposure                %s\n", exposure_note.c_str());
  std::printf("  experiment time         %s (%.4g s; survey %.3g s)\n",
              format_duration(s.time_s).c_str(), s.time_s, s.survey_time_s);
  std::printf("  total dose              %.4g e-/A^2 over the field (max %.4g e-/A^2 at one pixel)\n",
              s.dose_e_per_A2, s.max_dose_e_per_A2);
  std::printf("  decision latency        median %.3g s, p95 %.3g s (%zu decisions)\n",
              s.latency_median_s(), s.latency_p95_s(), s.decisions);
  if (s.drift_rescans > 0)
    std::printf("  drift correction        %zu reference re-scans, %.3g s (%.2g %% of the time)%s\n",
                s.drift_rescans, s.drift_time_s, 100.0 * s.drift_time_s / std::max(s.time_s, 1e-300),
                s.drift_warnings ? (", " + std::to_string(s.drift_warnings) + " warned (see /drift in the results)").c_str() : "");
  if (s.drift_clamped > 0)
    std::printf("  drift clamped           %zu corrected positions fell outside the scan field and were moved to its edge\n"
                "                          (the specimen drifted further than the field allows; docs/drift.md \"Limits\")\n",
                s.drift_clamped);
  if (s.predictions_skipped > 0)
    std::printf("  prediction maps         %zu stored, %zu skipped to keep them under --prediction-budget\n",
                s.predictions_stored, s.predictions_skipped);
  std::printf("  wall time               %.3g s\n", s.wall_s);
  std::printf("  stopped                 %s%s%s\n", to_string(s.stop_reason),
              s.message.empty() ? "" : ": ", s.message.c_str());
  if (!out_path.empty()) std::printf("  results                 %s\n", out_path.c_str());
}

}  // namespace autostem::cli
