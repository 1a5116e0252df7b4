// autostem._app: the CLI's run / bench / estimate from Python, and strategies written in Python
// (issue 20, docs/python.md). The subcommands are called through the same entry points as the
// executable (apps/src, library autostem_cli), with the keyword arguments already turned into
// options by python/autostem/__init__.py: one option parser, one session builder. The GIL is
// released while C++ runs; a Python strategy takes it only while its methods are called.

#include "bench_harness.hpp"
#include "cli.hpp"

#include <autostem/core/strategy.hpp>
#include <autostem/strategies/registry.hpp>

#include "conformance_checks.hpp"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <csignal>
#include <cstring>
#include <iostream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace py = pybind11;
namespace cli = autostem::cli;
using autostem::ImageArray;
using autostem::Measurement;
using autostem::Position;

namespace {

/// The CLI prints its summary on std::cout and installs SIGINT/SIGTERM handlers: both are
/// process-wide, so one command runs at a time. Restores both on every exit path.
std::mutex g_cli_mutex;

class CliScope {
 public:
  CliScope() : lock_(g_cli_mutex), old_buf_(std::cout.rdbuf(captured_.rdbuf())) {
    sigaction(SIGINT, nullptr, &old_int_);
    sigaction(SIGTERM, nullptr, &old_term_);
  }
  ~CliScope() {
    std::cout.rdbuf(old_buf_);
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  std::string text() const { return captured_.str(); }

 private:
  std::lock_guard<std::mutex> lock_;
  std::ostringstream captured_;
  std::streambuf* old_buf_;
  struct sigaction old_int_ {}, old_term_ {};
};

/// Runs one subcommand with the GIL released: (exit status, what it printed on std::cout).
/// UsageError becomes autostem.UsageError (a ValueError), other errors RuntimeError/ValueError.
template <class F>
py::tuple call_cli(F&& f) {
  int status = 0;
  std::string text;
  {
    py::gil_scoped_release release;
    CliScope scope;
    status = f();
    text = scope.text();
  }
  return py::make_tuple(status, text);
}

py::array_t<double> image_to_numpy(const ImageArray& a) {
  py::array_t<double> out({static_cast<py::ssize_t>(a.rows()), static_cast<py::ssize_t>(a.cols())});
  if (a.size()) std::memcpy(out.mutable_data(), a.data(), sizeof(double) * static_cast<std::size_t>(a.size()));
  return out;
}

/// A (rows, cols) map from Python (anything np.asarray takes); empty for None. Throws
/// std::invalid_argument naming `what` when it is not 2-D.
ImageArray numpy_to_image(const py::object& o, const std::string& what) {
  if (o.is_none()) return {};
  auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(o);
  if (!a || a.ndim() != 2) throw std::invalid_argument(what + " must be a 2-D array (rows, cols)");
  ImageArray out(a.shape(0), a.shape(1));
  if (out.size()) std::memcpy(out.data(), a.data(), sizeof(double) * static_cast<std::size_t>(out.size()));
  return out;
}

/// A Strategy whose methods are a Python object's (docs/python.md "Strategies in Python"):
///   begin(survey: (rows, cols) float64, context: dict) ; propose(max_points: int) -> (n, 2)
///   array-like of (row, col) ; observe(measurements: dict of arrays) ; optional
///   prediction() -> None | {"mean", "uncertainty", "acquisition"} (rows, cols) arrays ;
///   optional parameters() -> dict ; optional preferred_mode() -> "point" | "si_scan".
/// Each call takes the GIL; a Python exception becomes std::runtime_error "NAME.method: text"
/// (the Session then ends the run with stop reason error, keeping what was measured).
class PythonStrategy final : public autostem::Strategy {
 public:
  PythonStrategy(std::string name, py::object instance, autostem::Parameters params)
      : name_(std::move(name)), obj_(std::move(instance)), params_(std::move(params)) {}
  ~PythonStrategy() override {
    py::gil_scoped_acquire gil;
    obj_ = py::object();
  }

  std::string name() const override { return name_; }

  autostem::Parameters parameters() const override {
    autostem::Parameters out = params_;
    with_python("parameters", [&] {
      if (!py::hasattr(obj_, "parameters")) return;
      py::dict d = obj_.attr("parameters")();
      for (auto [k, v] : d) out[py::str(k).cast<std::string>()] = py::str(v).cast<std::string>();
    });
    return out;
  }

  void begin(const autostem::Survey& survey, const autostem::StrategyContext& c) override {
    with_python("begin", [&] {
      py::dict ctx;
      ctx["seed"] = c.seed;
      ctx["budget_points"] = c.budget_points;
      ctx["field_rows"] = c.instrument.field_rows;
      ctx["field_cols"] = c.instrument.field_cols;
      ctx["pixel_size_nm"] = c.instrument.calibration.pixel_size_nm;
      ctx["instrument"] = c.instrument.name;
      ctx["profile"] = c.instrument.profile;
      ctx["exposure_s"] = c.settings.exposure_s;
      ctx["probe_current_pA"] = c.settings.probe_current_pA;
      ctx["energy_offset_eV"] = c.instrument.energy.offset_eV;
      ctx["energy_dispersion_eV"] = c.instrument.energy.dispersion_eV;
      ctx["channels"] = c.instrument.energy.channels;
      obj_.attr("begin")(image_to_numpy(survey.image.data), ctx);
    });
  }

  std::vector<Position> propose(std::size_t max_points) override {
    std::vector<Position> out;
    with_python("propose", [&] {
      py::object r = obj_.attr("propose")(max_points);
      if (r.is_none()) return;
      auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(r);
      if (!a) throw std::invalid_argument("must return an (n, 2) array-like of (row, col)");
      if (a.size() == 0) return;
      if (a.ndim() != 2 || a.shape(1) != 2)
        throw std::invalid_argument("must return an (n, 2) array-like of (row, col); got shape (" +
                                    shape_text(a) + ")");
      auto v = a.unchecked<2>();
      for (py::ssize_t i = 0; i < v.shape(0); ++i) out.push_back({v(i, 0), v(i, 1)});
    });
    return out;
  }

  void observe(std::span<const Measurement> ms) override {
    if (ms.empty()) return;
    with_python("observe", [&] {
      const auto n = static_cast<py::ssize_t>(ms.size());
      const std::size_t width = ms.front().signal.size();
      py::array_t<double> requested({n, py::ssize_t{2}}), actual({n, py::ssize_t{2}});
      py::array_t<float> signal({n, static_cast<py::ssize_t>(width)});
      py::array_t<std::int64_t> index(n);
      py::array_t<double> exposure(n), t_start(n), t_end(n), dose(n), current(n);
      auto rq = requested.mutable_unchecked<2>(), ac = actual.mutable_unchecked<2>();
      for (py::ssize_t i = 0; i < n; ++i) {
        const Measurement& m = ms[static_cast<std::size_t>(i)];
        if (m.signal.size() != width)
          throw std::invalid_argument("measurements of different lengths in one batch");
        rq(i, 0) = m.requested.row;
        rq(i, 1) = m.requested.col;
        ac(i, 0) = m.actual.row;
        ac(i, 1) = m.actual.col;
        std::copy(m.signal.begin(), m.signal.end(), signal.mutable_data() + i * static_cast<py::ssize_t>(width));
        index.mutable_data()[i] = static_cast<std::int64_t>(m.index);
        exposure.mutable_data()[i] = m.exposure_s;
        current.mutable_data()[i] = m.probe_current_pA;
        t_start.mutable_data()[i] = m.t_start_s;
        t_end.mutable_data()[i] = m.t_end_s;
        dose.mutable_data()[i] = m.dose_e_per_A2;
      }
      py::dict d;
      d["index"] = index;
      d["requested"] = requested;
      d["actual"] = actual;
      d["signal"] = signal;
      d["exposure_s"] = exposure;
      d["probe_current_pA"] = current;
      d["t_start_s"] = t_start;
      d["t_end_s"] = t_end;
      d["dose_e_per_A2"] = dose;
      obj_.attr("observe")(d);
    });
  }

  std::optional<autostem::Prediction> prediction() const override {
    std::optional<autostem::Prediction> out;
    with_python("prediction", [&] {
      if (!py::hasattr(obj_, "prediction")) return;
      py::object r = obj_.attr("prediction")();
      if (r.is_none()) return;
      py::dict d = r;
      autostem::Prediction p;
      auto get = [&](const char* k) { return d.contains(k) ? numpy_to_image(d[k], k) : ImageArray(); };
      p.mean = get("mean");
      p.uncertainty = get("uncertainty");
      p.acquisition = get("acquisition");
      out = std::move(p);
    });
    return out;
  }

  autostem::AcquisitionMode preferred_mode() const override {
    auto mode = autostem::AcquisitionMode::point;
    with_python("preferred_mode", [&] {
      if (!py::hasattr(obj_, "preferred_mode")) return;
      const auto m = py::str(obj_.attr("preferred_mode")()).cast<std::string>();
      if (m == "si_scan") mode = autostem::AcquisitionMode::si_scan;
      else if (m != "point") throw std::invalid_argument("must return 'point' or 'si_scan', not '" + m + "'");
    });
    return mode;
  }

 private:
  static std::string shape_text(const py::array& a) {
    std::string s;
    for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
    return s;
  }

  /// Calls f with the GIL held; any error (Python's included) leaves as std::runtime_error
  /// "python strategy NAME.method: text" with the Python objects released under the GIL.
  template <class F>
  void with_python(const char* method, F&& f) const {
    std::string error;
    {
      py::gil_scoped_acquire gil;
      try {
        f();
      } catch (py::error_already_set& e) {
        error = e.what();
      } catch (const std::exception& e) {
        error = e.what();
      }
    }
    if (!error.empty())
      throw std::runtime_error("python strategy " + name_ + "." + method + ": " + error);
  }

  std::string name_;
  py::object obj_;
  autostem::Parameters params_;
};

/// Registers `cls` under `name`: the registry's factory builds cls(**params) (values as text).
/// The class is kept alive by the Python package (autostem._strategies), so the factory holds
/// a borrowed handle and nothing Python is touched when the registry is destroyed at exit.
void register_python_strategy(const std::string& name, py::object cls, const std::string& help) {
  if (name.empty()) throw std::invalid_argument("register_strategy: the name is empty");
  if (!py::hasattr(cls, "__call__")) throw std::invalid_argument("register_strategy: not a class or callable");
  py::handle borrowed = cls;
  autostem::strategies::register_strategy(
      name, help, [name, borrowed](const autostem::Parameters& params) -> std::unique_ptr<autostem::Strategy> {
        py::gil_scoped_acquire gil;
        py::dict kwargs;
        for (const auto& [k, v] : params) kwargs[py::str(k)] = v;
        py::object instance;
        try {
          instance = borrowed(**kwargs);
        } catch (py::error_already_set& e) {
          throw std::invalid_argument("python strategy " + name + ": " + e.what());
        }
        for (const char* m : {"begin", "propose", "observe"})
          if (!py::hasattr(instance, m))
            throw std::invalid_argument("python strategy " + name + " has no method " + m +
                                        " (a strategy needs begin, propose, observe)");
        return std::make_unique<PythonStrategy>(name, std::move(instance), params);
      });
}

py::dict bench_run_dict(const cli::RunResult& r) {
  py::dict d;
  d["dataset"] = r.dataset;
  d["strategy"] = r.strategy;
  d["seed"] = r.seed;
  d["error"] = r.error;
  d["file"] = r.file.string();
  d["recall"] = r.recall;
  d["measurements"] = r.summary.measurements;
  d["time_s"] = r.summary.time_s;
  d["dose_e_per_A2"] = r.summary.dose_e_per_A2;
  d["recall_radius_px"] = r.recall_radius_px;
  d["recall_curve"] = py::array_t<double>(r.recall_curve.size(), r.recall_curve.data());
  d["regret_curve"] = py::array_t<double>(r.regret_curve.size(), r.regret_curve.data());
  d["time_curve"] = py::array_t<double>(r.time_curve.size(), r.time_curve.data());
  d["dose_curve"] = py::array_t<double>(r.dose_curve.size(), r.dose_curve.data());
  py::array_t<double> pos({static_cast<py::ssize_t>(r.positions.size()), py::ssize_t{2}});
  auto p = pos.mutable_unchecked<2>();
  for (std::size_t i = 0; i < r.positions.size(); ++i) {
    p(static_cast<py::ssize_t>(i), 0) = r.positions[i].row;
    p(static_cast<py::ssize_t>(i), 1) = r.positions[i].col;
  }
  d["positions"] = pos;
  return d;
}

}  // namespace

PYBIND11_MODULE(_app, m) {
  m.doc() = "autostem's CLI commands and Python strategies (use the autostem package, not this)";
  py::register_exception<cli::UsageError>(m, "UsageError", PyExc_ValueError);
  m.def("run", [](const std::vector<std::string>& args, const std::string& command_line) {
        return call_cli([&] { return cli::cmd_run(args, command_line); });
      }, py::arg("args"), py::arg("command_line"),
      "`autostem run ARGS`: (exit status, stdout text). Raises UsageError on bad options.");
  m.def("estimate", [](const std::vector<std::string>& args) {
        return call_cli([&] { return cli::cmd_estimate(args); });
      }, py::arg("args"), "`autostem estimate ARGS`: (exit status, stdout text).");
  m.def("bench", [](const std::vector<std::string>& args) {
        std::vector<cli::RunResult> results;
        py::tuple t = call_cli([&] { return cli::cmd_bench(args, &results); });
        py::list runs;
        for (const auto& r : results) runs.append(bench_run_dict(r));
        return py::make_tuple(t[0], t[1], runs);
      }, py::arg("args"),
      "`autostem bench ARGS`: (exit status, stdout text, [per-run dicts with the curves]).");
  m.def("register_strategy", &register_python_strategy, py::arg("name"), py::arg("cls"), py::arg("help"));
  m.def("strategy_names", &autostem::strategies::strategy_names);
  m.def("conformance", [](const std::string& name) {
        py::gil_scoped_release release;
        return autostem::testing::conformance_failures(name);
      }, py::arg("name"),
      "Runs the strategy conformance suite's checks (tests/strategies/conformance_checks.hpp) on a "
      "registered strategy; returns the failures (empty = conforms).");
}
