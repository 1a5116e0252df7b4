"""autostem from Python (docs/python.md): read microscope files and autostem results files with
autostem's own C++ readers, as NumPy arrays or as HyperSpy signals.

    import autostem
    sigs = autostem.load("EELS_SI.dm4")                 # list of dicts, NumPy data (no copy)
    s = autostem.load("EELS_SI.dm4", hyperspy=True)     # like hyperspy.api.load
    run = autostem.load_run("run.h5")                   # RunResult: .signal .survey .predictions .summary
    r = autostem.run(phantom="nanowire", strategy="grid", budget_points=500)   # the CLI's options
    b = autostem.bench(phantom=["nanowire"], strategies=["grid", "random"], seeds=3)
    autostem.register_strategy("mine", Mine)            # a strategy written in Python

Only NumPy is required; HyperSpy is imported only when asked for (hyperspy=True).
"""

import os

import numpy as np

from . import _core
from ._app_api import (Bench, Run, RunError, UsageError, bench, conformance, estimate,
                       register_strategy, run, strategy_names)

__version__ = _core.__version__
__all__ = ["load", "load_run", "RunResult", "phantom", "__version__", "run", "bench", "estimate",
           "Run", "Bench", "RunError", "UsageError", "register_strategy", "conformance",
           "strategy_names"]


def _parse_text(text):
    """A metadata value stored as text by the C++ readers: int, float, or the text itself."""
    for convert in (int, float):
        try:
            return convert(text)
        except (TypeError, ValueError):
            pass
    if text in ("true", "True"):
        return True
    if text in ("false", "False"):
        return False
    return text


def _unflatten(flat):
    """{"A.B.c": "1"} -> {"A": {"B": {"c": 1}}}. A key that is both a value and a group keeps the
    value under the group's "_value" (never seen in the readers' output, but never lost)."""
    tree = {}
    for key, text in sorted(flat.items()):
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {} if child is None else {"_value": child}
                node[part] = child
            node = child
        leaf = parts[-1]
        value = _parse_text(text)
        if isinstance(node.get(leaf), dict):
            node[leaf]["_value"] = value
        else:
            node[leaf] = value
    return tree


def _hspy_original_metadata(path, title):
    """The original_metadata group of a .hspy experiment, read with h5py when it is installed
    (the C++ hspy reader reads the data and metadata only); {} otherwise."""
    try:
        import h5py
    except ImportError:
        return {}

    def walk(group):
        out = {}
        for k, v in group.attrs.items():
            if isinstance(v, bytes):
                v = v.decode("utf-8", "replace")
            elif isinstance(v, np.generic):
                v = v.item()
            out[k] = v
        for k, item in group.items():
            if isinstance(item, h5py.Group):
                out[k] = walk(item)
        return out

    with h5py.File(path, "r") as f:
        experiments = f.get("Experiments")
        if experiments is None:
            return {}
        names = list(experiments.keys())
        name = title if title in names else (names[0] if names else None)
        if name is None or "original_metadata" not in experiments[name]:
            return {}
        return walk(experiments[name]["original_metadata"])


def _original_metadata(path, fmt, signals):
    """The file's own tags for each signal, laid out as HyperSpy's readers lay them out where
    that is cheap: DM keeps the whole tag tree with this signal's image as
    ImageList.TagGroup0 (HyperSpy's layout); SER/EMD give the reader's tags (SER header and
    EMI ObjectInfo, Velox JSON) nested at the dots; .hspy its original_metadata group."""
    if fmt in ("dm3", "dm4"):
        tags = _core.dm_tags(path)
        tree = tags["tags"]
        images = tree.get("ImageList", {})
        out = []
        for i in range(len(signals)):
            om = dict(tree)
            own = images.get("TagGroup%d" % (tags["first_image"] + i))
            om["ImageList"] = {"TagGroup0": own} if own is not None else {}
            out.append(om)
        return out
    if fmt == "hspy":
        return [_hspy_original_metadata(path, s["title"]) for s in signals]
    if fmt == "npy":
        return [{} for _ in signals]
    return [_unflatten(s["metadata"]) for s in signals]


def _metadata(path, fmt, sig):
    """HyperSpy-style metadata: .hspy files carry it (nested back from the reader's flat keys);
    for other formats the title, file name and signal type."""
    md = _unflatten(sig["metadata"]) if fmt == "hspy" else {}
    general = md.setdefault("General", {})
    general.setdefault("title", sig["title"])
    general["original_filename"] = os.path.basename(path)
    md.setdefault("Signal", {}).setdefault("signal_type", sig["signal_type"])
    return md


def load(path, hyperspy=False):
    """Every data set of a file, read by autostem's readers (DM3/DM4, FEI SER, EMD Berkeley and
    Velox, HyperSpy .hspy, NumPy .npy; the format is told by content, not the extension).

    path: str or os.PathLike. Returns, without hyperspy: a list with one dict per data set,
      {"data": ndarray (C order, the file's dtype, sharing memory with the reader: no copy),
       "axes": [{"name", "size", "scale", "offset", "units", "navigate"}, ...] in array order,
       "title", "signal_type", "metadata": dict, "original_metadata": dict (the file's tags)};
    with hyperspy=True: what hyperspy.api.load returns — one signal (Signal1D, Signal2D,
      EELSSpectrum when the signal type is EELS, BaseSignal otherwise) or a list when the file
      holds several.
    Raises RuntimeError naming the file and the problem (missing, unknown format, corrupt);
    ImportError when hyperspy=True and HyperSpy is not installed."""
    path = os.fspath(path)
    fmt = _core.detect_format(path)
    raw = _core.read_signals(path)
    oms = _original_metadata(path, fmt, raw)
    out = []
    for sig, om in zip(raw, oms):
        out.append({
            "data": sig["data"],
            "axes": sig["axes"],
            "title": sig["title"],
            "signal_type": sig["signal_type"],
            "metadata": _metadata(path, fmt, sig),
            "original_metadata": om,
        })
    if not hyperspy:
        return out
    from ._hyperspy import to_signal

    signals = [to_signal(s) for s in out]
    return signals[0] if len(signals) == 1 else signals


def phantom(name="nanowire", seed=1, rows=128, cols=128):
    """The ground truth of a built-in phantom exactly as `autostem run --phantom NAME
    --phantom-shape ROWSxCOLS --seed SEED` builds it: dict with "survey" (rows, cols) float64,
    "spectrum_image" (rows, cols, E) float32 or None, "four_d" (rows, cols, ky, kx) or None,
    "energy" {offset_eV, dispersion_eV, channels}, "pixel_size_nm", "recorded" (the current,
    exposure and dwell the signals are given at) and "source"."""
    return _core.phantom(name, seed, rows, cols)


class RunResult:
    """A results file (docs/results-format.md) read back, measurements placed on the survey grid.

    data: (rows, cols, *signal_shape) float64, the mean of the measurements at each survey pixel
      (a position rounded to the nearest pixel), NaN where nothing was measured.
    counts: (rows, cols) int, measurements per pixel.
    signal: HyperSpy signal of `data` (EELSSpectrum for spectra, Signal2D for diffraction) with
      calibrated axes and the run's provenance in metadata.autostem — or `data` itself when
      HyperSpy was not asked for.
    survey: Signal2D of the survey (or the (rows, cols) array), calibrated in nm.
    predictions: {step: {"mean", "uncertainty", "acquisition"}} (rows, cols) arrays or None;
      read from the file when first used.
    summary: the root attributes (strategy, seed, profile, stop_reason, totals, …), numbers parsed.
    record: everything read_results returned (positions, times, doses, raw signals)."""

    def __init__(self, path, hyperspy=True, positions="requested"):
        self.path = os.fspath(path)
        self.record = _core.read_results(self.path)
        self.summary = {k: _parse_text(v) for k, v in self.record["attributes"].items()}
        self.summary["strategy_parameters"] = dict(self.record["strategy_parameters"])
        self.summary["complete"] = bool(self.record["complete"])
        self.data, self.counts, self.outside = _on_grid(self.record, positions)
        self._predictions = None
        self.signal = self.data
        self.survey = self.record["survey"]["image"]
        if hyperspy:
            from ._hyperspy import run_signals

            self.signal, self.survey = run_signals(self)

    @property
    def predictions(self):
        if self._predictions is None:
            self._predictions = {int(k): _core.read_prediction(self.path, int(k))
                                 for k in self.record["prediction_steps"]}
        return self._predictions

    @property
    def measured(self):
        """(rows, cols) bool: pixels with at least one measurement."""
        return self.counts > 0

    def __repr__(self):
        s = self.summary
        return ("<autostem.RunResult %s: strategy=%s seed=%s measurements=%d stop_reason=%s>"
                % (os.path.basename(self.path), s.get("strategy"), s.get("seed"),
                   len(self.record["requested"]), s.get("stop_reason")))


def _on_grid(record, positions):
    if positions not in ("requested", "actual", "commanded"):
        raise ValueError("positions must be 'requested', 'actual' or 'commanded', not %r" % (positions,))
    rows, cols = record["survey"]["image"].shape
    signals = record["signals"]
    shape = tuple(int(n) for n in record["signal_shape"]) or (signals.shape[1],)
    pos = record[positions]
    idx = np.rint(pos)
    ok = np.isfinite(idx).all(axis=1)
    ok &= (idx[:, 0] >= 0) & (idx[:, 0] < rows) & (idx[:, 1] >= 0) & (idx[:, 1] < cols)
    r = idx[ok, 0].astype(np.intp)
    c = idx[ok, 1].astype(np.intp)
    flat = r * cols + c
    counts = np.bincount(flat, minlength=rows * cols)
    sums = np.zeros((rows * cols, signals.shape[1]), dtype=np.float64)
    np.add.at(sums, flat, signals[ok].astype(np.float64))
    data = np.full_like(sums, np.nan)
    hit = counts > 0
    data[hit] = sums[hit] / counts[hit, None]
    return (data.reshape((rows, cols) + shape), counts.reshape(rows, cols),
            int((~ok).sum()))


def load_run(path, hyperspy=None, positions="requested"):
    """A run's results file as a RunResult (see its docstring). hyperspy: True = signals are
    HyperSpy signals (ImportError if it is missing), False = NumPy arrays, None (default) =
    HyperSpy when it can be imported. positions: which positions place a measurement on the
    grid — "requested" (the strategy's, default), "actual" (where the probe landed; NaN on a
    live instrument, those rows are dropped), or "commanded". Raises RuntimeError naming the
    file when it is not a results file."""
    if hyperspy is None:
        try:
            import hyperspy.api  # noqa: F401
            hyperspy = True
        except ImportError:
            hyperspy = False
    return RunResult(path, hyperspy=hyperspy, positions=positions)
