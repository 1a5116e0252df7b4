"""Conversion of autostem's plain signals and runs to HyperSpy signals (imported only when
asked for: HyperSpy is optional)."""

import warnings

import numpy as np


def _api():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import hyperspy.api as hs
    return hs


# Signal types with their own HyperSpy class (1 signal dimension). DM files say "EDS"; HyperSpy's
# DM reader makes them EDS_TEM (DigitalMicrograph runs on TEMs), and so do we.
_SPECTRUM_CLASSES = {"EELS": "EELSSpectrum", "EDS": "EDSTEMSpectrum", "EDS_TEM": "EDSTEMSpectrum",
                     "EDS_SEM": "EDSSEMSpectrum"}


def _signal_class(hs, signal_dims, signal_type, complex_data):
    if complex_data:
        name = {1: "ComplexSignal1D", 2: "ComplexSignal2D"}.get(signal_dims, "ComplexSignal")
    elif signal_dims == 1:
        name = _SPECTRUM_CLASSES.get(signal_type, "Signal1D")
    else:
        name = {2: "Signal2D"}.get(signal_dims, "BaseSignal")
    return getattr(hs.signals, name)


def _axes(axes):
    return [{"name": a["name"], "size": int(a["size"]), "scale": float(a["scale"]),
             "offset": float(a["offset"]), "units": a["units"] or "",
             "navigate": bool(a["navigate"])} for a in axes]


def to_signal(sig):
    """A dict from autostem.load as a HyperSpy signal (data shared, not copied)."""
    hs = _api()
    data = sig["data"]
    # rgba8 is one structured element per pixel, as HyperSpy holds RGBA images.
    signal_dims = sum(1 for a in sig["axes"] if not a["navigate"])
    cls = _signal_class(hs, signal_dims, sig["signal_type"], np.iscomplexobj(data))
    metadata = sig["metadata"]
    if cls is hs.signals.EDSTEMSpectrum:
        metadata = dict(metadata, Signal=dict(metadata.get("Signal", {}), signal_type="EDS_TEM"))
    return cls(data, axes=_axes(sig["axes"]), metadata=metadata,
               original_metadata=sig["original_metadata"])


def run_signals(run):
    """(signal, survey) HyperSpy signals of a RunResult."""
    hs = _api()
    rec = run.record
    sv = rec["survey"]
    px = float(sv["pixel_size_nm"])
    rows, cols = sv["image"].shape
    nav = [
        {"name": "y", "size": rows, "scale": px, "offset": float(sv["origin_row_nm"]),
         "units": "nm", "navigate": True},
        {"name": "x", "size": cols, "scale": px, "offset": float(sv["origin_col_nm"]),
         "units": "nm", "navigate": True},
    ]
    summary = {k: v for k, v in run.summary.items() if k != "strategy_parameters"}
    autostem_md = {
        "strategy": summary.get("strategy", ""),
        "strategy_parameters": run.summary["strategy_parameters"],
        "seed": summary.get("seed"),
        "profile": summary.get("profile", ""),
        "stop_reason": summary.get("stop_reason", ""),
        "complete": run.summary["complete"],
        "measurements": len(rec["requested"]),
        "measurements_outside_field": run.outside,
        "source_file": run.path,
        "summary": summary,
    }
    title = "autostem run %s (%s, seed %s)" % (summary.get("strategy", ""),
                                               summary.get("dataset", ""), summary.get("seed"))
    if rec["signal_kind"] == "diffraction":
        ky, kx = run.data.shape[2:]
        sig_axes = [{"name": "ky", "size": ky, "scale": 1.0, "offset": 0.0, "units": "px", "navigate": False},
                    {"name": "kx", "size": kx, "scale": 1.0, "offset": 0.0, "units": "px", "navigate": False}]
        cls, signal_type = hs.signals.Signal2D, "electron_diffraction"
    else:
        e = rec["energy"]
        sig_axes = [{"name": "Energy loss", "size": run.data.shape[2], "scale": float(e["dispersion_eV"]),
                     "offset": float(e["offset_eV"]), "units": "eV", "navigate": False}]
        cls, signal_type = hs.signals.EELSSpectrum, "EELS"
    md = {"General": {"title": title}, "Signal": {"signal_type": signal_type, "quantity": "Counts"},
          "autostem": autostem_md}
    signal = cls(run.data, axes=nav + sig_axes, metadata=md,
                 original_metadata={"attributes": dict(rec["attributes"])})
    survey_md = {"General": {"title": "survey %s" % sv["name"]},
                 "Signal": {"signal_type": "", "quantity": sv["units"]},
                 "autostem": {k: sv[k] for k in ("detector", "dwell_s", "probe_current_pA",
                                                 "t_start_s", "t_end_s", "dose_e_per_A2")}}
    survey_axes = [dict(a, navigate=False) for a in nav]
    survey = hs.signals.Signal2D(np.asarray(sv["image"]), axes=survey_axes, metadata=survey_md)
    return signal, survey
