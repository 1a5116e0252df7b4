"""autostem.run / bench / estimate and strategies written in Python (issue 20, docs/python.md).

The commands are the CLI's own (`autostem run`, `bench`, `estimate`), called in this process
through autostem._app: every keyword argument becomes the option of the same name (underscores
as dashes), so the options, their defaults and their errors are exactly the CLI's
(`autostem run --help`). The GIL is released while C++ runs; a strategy written in Python takes
it only while its methods are called.
"""

import csv
import json
import os
import shlex
import tempfile

import numpy as np

from . import _app

UsageError = _app.UsageError

# The registered Python strategy classes, kept alive here for the C++ registry (which holds only
# a borrowed reference, so that nothing Python is touched when it is destroyed at exit).
_strategies = {}


class RunError(RuntimeError):
    """The strategy or the instrument failed during autostem.run. `result` holds what was
    measured before (a Run: the results file is complete up to the error)."""

    def __init__(self, message, result):
        super().__init__(message)
        self.result = result


def _text(value):
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def _options(kwargs):
    """Keyword arguments -> the CLI's words: key=value -> --key VALUE (underscores as dashes);
    True -> --key (a switch such as overlap, no_noise); False/None -> left out; a list or tuple ->
    the option repeated (phantom=["nanowire", "lattice"]), except a shape tuple (phantom_shape=
    (128, 128) -> 128x128); a dict given to param -> --param KEY=VALUE for each item."""
    args = []
    for key, value in kwargs.items():
        if value is None or value is False:
            continue
        opt = "--" + key.replace("_", "-")
        if value is True:
            args.append(opt)
        elif key == "param" and isinstance(value, dict):
            for k, v in value.items():
                args += [opt, "%s=%s" % (k, _text(v))]
        elif key.endswith("shape") and isinstance(value, (tuple, list)):
            args += [opt, "x".join(str(int(v)) for v in value)]
        elif key == "strategies" and isinstance(value, (tuple, list)):
            args += [opt, ",".join(value)]
        elif isinstance(value, (tuple, list)):
            for v in value:
                args += [opt, _text(v)]
        else:
            args += [opt, _text(value)]
    return args


def _json_line(text):
    """The JSON object the CLI printed with --json (its last line starting with '{')."""
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {}


class Run:
    """What autostem.run returns.

    summary: dict, the CLI's --json summary (measurements, time_s, survey_time_s, dose_e_per_A2,
      max_dose_e_per_A2, electrons, wall_s, decisions, decision_latency_median_s / _p95_s,
      stop_reason, profile, field, out, …).
    path: the results file (docs/results-format.md). status: the CLI's exit status (0, or 130
      when stopped by Ctrl-C / a notebook interrupt, with everything measured kept).
    The measurements are read from the file on first use: result (an autostem.RunResult, see
    load_run), data ((rows, cols, *signal) float64 on the survey grid, NaN where unmeasured),
    measured ((rows, cols) bool), positions ((n, 2) requested row, col), signals ((n, channels)
    float32), predictions ({step: {"mean", "uncertainty", "acquisition"}}), survey."""

    def __init__(self, path, summary, status, stdout, hyperspy):
        self.path = path
        self.summary = summary
        self.status = status
        self.stdout = stdout
        self._hyperspy = hyperspy
        self._result = None

    @property
    def result(self):
        if self._result is None:
            from . import load_run

            self._result = load_run(self.path, hyperspy=self._hyperspy)
        return self._result

    data = property(lambda self: self.result.data)
    measured = property(lambda self: self.result.measured)
    survey = property(lambda self: self.result.survey)
    signal = property(lambda self: self.result.signal)
    predictions = property(lambda self: self.result.predictions)
    positions = property(lambda self: self.result.record["requested"])
    signals = property(lambda self: self.result.record["signals"])

    def __repr__(self):
        s = self.summary
        return "<autostem.Run %s: %s measurements, %.4g s, %.4g e-/A^2, stop_reason=%s>" % (
            self.path, s.get("measurements"), s.get("time_s", float("nan")),
            s.get("dose_e_per_A2", float("nan")), s.get("stop_reason"))


def run(out=None, hyperspy=False, **options):
    """`autostem run` with keyword options, in this process: e.g.
    autostem.run(phantom="nanowire", phantom_shape=(128, 128), strategy="grid", seed=1,
    budget_points=500, param={"step": 2}, out="run.h5").

    out: the results file (default: a new file in a temporary folder). hyperspy: whether
    Run.result's signals are HyperSpy signals (False: NumPy arrays). options: any option of
    `autostem run --help` (dataset, survey, phantom, phantom_shape, strategy, param, exposure,
    dwell, current, profile, budget_points, budget_time, budget_dose, seed, batch, mode, compute,
    overlap, no_noise, prediction_every, backend, host, port, key_file, drift, …).
    Returns a Run. Raises UsageError (a ValueError) on a bad option, with the CLI's message;
    RunError (result attached) when the strategy or instrument failed mid-run; RuntimeError or
    ValueError for other errors before the run (a missing file, an unknown strategy)."""
    if out is None:
        out = os.path.join(tempfile.mkdtemp(prefix="autostem-run-"), "run.h5")
    out = os.fspath(out)
    args = _options(options) + ["--out", out, "--json"]
    line = "autostem run " + " ".join(shlex.quote(a) for a in args) + "  # from Python"
    status, text = _app.run(args, line)
    result = Run(out, _json_line(text), status, text, hyperspy)
    if status == 1:
        raise RunError(result.summary.get("error", "autostem run failed"), result)
    return result


class Bench:
    """What autostem.bench returns.

    runs: one dict per run — dataset, strategy, seed, error ("" when it worked), file (its results
      file), recall, measurements, time_s, dose_e_per_A2, recall_radius_px, and per measurement the
      arrays recall_curve, regret_curve, time_curve (s), dose_curve (field-mean e-/A^2), plus
      positions (n, 2).
    summary: the rows of summary.csv as dicts (numbers parsed). markdown: summary.md's text.
    out: the output folder. status: the CLI's exit status (1 when a run failed)."""

    def __init__(self, out, status, text, runs):
        self.out = out
        self.status = status
        self.stdout = text
        self.runs = runs
        self.summary = []
        path = os.path.join(out, "summary.csv")
        if os.path.exists(path):
            with open(path, newline="") as f:
                for row in csv.DictReader(f):
                    self.summary.append({k: _number(v) for k, v in row.items()})
        md = os.path.join(out, "summary.md")
        self.markdown = ""
        if os.path.exists(md):
            with open(md, encoding="utf-8") as f:
                self.markdown = f.read()

    def strategies(self):
        """The benched strategies' labels, in the order they ran."""
        seen = []
        for r in self.runs:
            if r["strategy"] not in seen:
                seen.append(r["strategy"])
        return seen

    def curve(self, strategy, y="recall_curve", x="dose_curve", dataset=None):
        """Median over seeds of y against the median of x at each measurement count, for one
        strategy (a run that stopped early keeps its last value): two 1-D arrays. The same
        medians as the bench's own plots (bench_plots.cpp)."""
        ys, xs = [], []
        for r in self.runs:
            if r["strategy"] == strategy and not r["error"] and (dataset is None or r["dataset"] == dataset):
                ys.append(r[y])
                xs.append(r[x])
        if not ys:
            raise KeyError("no successful run of strategy %r" % (strategy,))
        n = max(len(v) for v in ys)

        def median(curves):
            padded = np.array([np.concatenate([c, np.full(n - len(c), c[-1] if len(c) else np.nan)])
                               for c in curves])
            return np.median(padded, axis=0)

        return median(xs), median(ys)

    def __repr__(self):
        return "<autostem.Bench %s: %d runs of %s>" % (self.out, len(self.runs), ", ".join(self.strategies()))


def _number(text):
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def bench(out=None, no_plots=True, **options):
    """`autostem bench` with keyword options, in this process: e.g.
    autostem.bench(dataset=["SI.hspy,HAADF.hspy"], strategies=["grid", "mine"], seeds=3,
    budget_points=200, param={"grid.step": 4}).

    out: the output folder (default: a new temporary folder). no_plots: skip the gnuplot PNGs
    (default True here: plot the returned curves with matplotlib instead; False draws them as the
    CLI does). options: any option of `autostem bench --help`. Strategies registered from Python
    run beside the C++ ones (each run takes the GIL only inside the Python methods).
    Returns a Bench. Raises UsageError (a ValueError) on a bad option."""
    if out is None:
        out = tempfile.mkdtemp(prefix="autostem-bench-")
    out = os.fspath(out)
    args = _options(dict(options, no_plots=no_plots)) + ["--out", out]
    status, text, runs = _app.bench(args)
    return Bench(out, status, text, runs)


def estimate(**options):
    """`autostem estimate` with keyword options (`autostem estimate --help`): time and dose of a
    plan from a timing profile, no ground truth. Returns the CLI's --json object as a dict
    (time_s, dose_e_per_A2, measurements, … and the assumptions with their sources). Raises
    UsageError (a ValueError) on a bad option."""
    args = _options(options) + ["--json"]
    status, text = _app.estimate(args)
    result = _json_line(text)
    if status != 0:
        raise RuntimeError("autostem estimate failed (status %d): %s" % (status, text.strip()))
    return result


def register_strategy(name, cls, help=None):
    """Makes a Python class a strategy named `name` for autostem.run, bench and conformance,
    beside the C++ ones (it replaces a strategy of the same name in this process). The registry
    builds cls(**params) with the --param values as text. The class provides, with the C++
    Strategy's names (core/include/autostem/core/strategy.hpp):
      begin(self, survey, context): survey (rows, cols) float64 survey image; context a dict:
        seed, budget_points (0 = field size), field_rows, field_cols, pixel_size_nm, exposure_s,
        probe_current_pA, instrument, profile, energy_offset_eV, energy_dispersion_eV, channels.
        Resets all state; must be deterministic for the seed.
      propose(self, max_points) -> (n, 2) array-like of (row, col) survey pixels, n <= max_points;
        empty (or None) = done. At most budget_points in all.
      observe(self, measurements): a dict of arrays over the n new measurements: index (n,),
        requested (n, 2), actual (n, 2; NaN when unknown), signal (n, channels) float32,
        exposure_s, probe_current_pA, t_start_s, t_end_s, dose_e_per_A2 (n,).
      optional prediction(self) -> None or {"mean", "uncertainty", "acquisition"}: (rows, cols).
      optional parameters(self) -> dict (stored in the results file), preferred_mode(self) ->
        "point" | "si_scan".
    An exception in a method ends the run with stop reason "error", keeping what was measured.
    Raises ValueError for an empty name."""
    if not name:
        raise ValueError("register_strategy: the name is empty")
    text = help or ((cls.__doc__ or "").strip().splitlines() or ["a strategy written in Python"])[0]
    _strategies[name] = cls
    _app.register_strategy(name, cls, text + "\n")


def conformance(name):
    """The strategy conformance suite's checks (the same code as the C++ strategies' gtest suite,
    tests/support/conformance_checks.hpp) on a registered strategy: finite, distinct positions
    inside the field, no more than asked for per propose() nor than budget_points in all, then
    empty; the same sequence for the same seed and after a second begin(); stops through the real
    Session on budget or its own word (batch 1, 4 with overlap, 3); runs on the simulated
    backend. Returns the list of failures (empty = conforms)."""
    return list(_app.conformance(name))


def strategy_names():
    """Every registered strategy (C++ and Python), sorted."""
    return list(_app.strategy_names())
