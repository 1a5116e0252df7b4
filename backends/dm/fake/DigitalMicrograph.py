"""A fake `DigitalMicrograph` module: the DM calls the autostem server uses, backed by autostem's
simulated microscope (the `autostem_sim` pybind11 module, python/src/autostem_sim.cpp).

Put this folder and the folder holding autostem_sim.*.so on PYTHONPATH and the real server script
(backends/dm/server/autostem_dm_server.py) runs unchanged, without a microscope: in the tests and
in a rehearsal (`autostem dm-server --fake`). The physics (ground truth, noise, drift, dose,
timing) is the simulator's; this module only plays DigitalMicrograph:

- ExecuteScriptString runs a strict subset of DM script: one statement per line,
  `number|image|object NAME = EXPR`, `image NAME := EXPR` or a call; EXPR is a number literal, a
  "string", a variable or a call of one of the functions in _FUNCTIONS. Anything else (an unknown
  function, `nan`, an expression, a second statement on a line) raises RuntimeError, so a test
  fails if the server ever writes something it should not into script text.
- Persistent tags (GetPersistentTagGroup) and images (FindImageByID, GetNumArray, GetTagGroup).

Configuration: the environment variable AUTOSTEM_FAKE_DM holds a JSON object
  {"phantom": "nanowire", "rows": 128, "cols": 128}  or  {"dataset": FILE, "survey": FILE},
  plus optional "profile" (default "rsi2024-remote"), "seed" (0), "noise" (true),
  "drift" (a drift preset of `autostem run --drift`: "off", "settled", "after-stage-move"),
  "realtime" (0: sleep this factor × simulated time per acquisition), "ds_spacing" (0.5).
configure(dict) does the same from Python (tests).

DigiScan sub-region scans (DSScanSubRegion, the drift reference's re-scan) are simulated by the
simulator's acquire_patch with the drift it applies in `autostem run`: the rectangle's corner
(top, left) in the survey image's pixel frame is the commanded corner, the destination image's
size the number of pixels, at the survey's pixel pitch.

A survey of another frame size than the simulated field (a session's survey_shape, issue 17)
makes the phantom again at that size with the same seed, its clock continued (_refield): a
phantom covers a fixed field of view, so the pixel size follows the shape as DigiScan's does at
a fixed magnification. The survey image is calibrated in nm (GetDimensionScale /
GetDimensionUnitString) and carries a nominal 'Microscope Info:Indicated Magnification' tag
(10^8 / field of view in nm, the fake's own figure). A dataset has one size: refused.

autostem_rehearsal() is not a DigitalMicrograph call: it hands the server the simulator's clock
and timing model (see the server's Server.__init__), so a rehearsal's times, and with them the
drift correction's predictions, are those of the simulated run. Real DM has no such function.

DigiScan geometry of a fake survey: 'Spacing' = ds_spacing per pixel, 'Image Center' = the image
centre in pixels and 'DS Offset' = Image Center × Spacing, so the server's offset (DS Offset −
Image Center × Spacing) is 0 and pixel ↔ DigiScan conversions are exact in binary floating point
(ds_spacing a power of two): the positions a client sends reach the simulator bit for bit.
"""

import json
import math
import os
import re
import threading
import time

import numpy as np

import autostem_sim

# The DM calls and tag paths the server may use: the table of docs/live.md §6 (issue 17). This
# fake refuses anything else, so the documented list and the server's code cannot drift apart.
# AUTOSTEM_DM_CALLS_DOC names another copy of that file (an installed tree).
_CALLS_DOC = os.environ.get("AUTOSTEM_DM_CALLS_DOC") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "docs", "live.md")


def documented_calls(path=None):
    """{kind: set of names} from the table between <!-- dm-calls:begin/end --> in docs/live.md;
    kinds: python, script, tag, note. Raises RuntimeError when the table is missing."""
    path = path or _CALLS_DOC
    try:
        with open(path, "r", encoding="utf-8") as fh:
            text = fh.read()
    except OSError as e:
        raise RuntimeError("fake DigitalMicrograph: cannot read the list of DM calls (%s): %s"
                           % (path, e))
    begin, end = text.find("<!-- dm-calls:begin -->"), text.find("<!-- dm-calls:end -->")
    if begin < 0 or end < begin:
        raise RuntimeError("fake DigitalMicrograph: %s has no dm-calls table" % path)
    calls = {}
    for line in text[begin:end].splitlines():
        m = re.match(r"^\|\s*`([^`]+)`\s*\|\s*(\w+)\s*\|", line)
        if m:
            calls.setdefault(m.group(2), set()).add(m.group(1))
    return calls


_DOCUMENTED = documented_calls()


def _require_documented(kind, name):
    if name not in _DOCUMENTED.get(kind, ()):
        raise RuntimeError("fake DigitalMicrograph: %s %r is not in the list of DM calls "
                           "(docs/live.md §6); document it with its source first" % (kind, name))


_lock = threading.RLock()
_config = None
_scope = None
_images = {}
_next_image_id = [100]
_persistent = None
_state = None


class _State:
    def __init__(self):
        self.blanked = True
        self.beam_ds = (0.0, 0.0)
        self.actual_ds = None          # where the last exposure really landed (drift)
        self.exposure_s = None
        self.energy_shift_eV = 0.0
        self.scan_params = {}
        self.next_param = 1
        self.survey_geom = None        # (rows, cols, ds_offset_xy, spacing_xy)
        self.spectra = 0
        self.unblanked_spectra = 0
        self.dark_spectra = 0
        self.surveys = 0
        self.dark_surveys = 0
        self.survey_image = None       # id of the last DigiScan survey image (a sub-region's reference)
        self.patches = 0
        self.dark_patches = 0
        self.scripts = []              # the last scripts run, for tests
        self.mode = "point"            # rehearsal: the simulator's acquisition mode (set_mode)


def configure(config):
    """(Re)creates the simulated microscope from a config dict (see the module docstring)."""
    global _config, _scope, _persistent, _state
    with _lock:
        _config = dict(config)
        _scope = autostem_sim.FakeMicroscope(
            phantom=_config.get("phantom", "") if not _config.get("dataset") and
            not _config.get("survey") else "",
            dataset=_config.get("dataset", "") or "", survey=_config.get("survey", "") or "",
            rows=int(_config.get("rows", 128)), cols=int(_config.get("cols", 128)),
            profile=_config.get("profile", "rsi2024-remote"), seed=int(_config.get("seed", 0)),
            noise=bool(_config.get("noise", True)), drift=str(_config.get("drift", "") or ""))
        _images.clear()
        _persistent = TagGroup()
        _state = _State()


def _ensure():
    if _scope is None:
        text = os.environ.get("AUTOSTEM_FAKE_DM")
        if not text:
            raise RuntimeError("fake DigitalMicrograph: set AUTOSTEM_FAKE_DM to a JSON config "
                               "(e.g. {\"phantom\": \"nanowire\"}) or call configure()")
        configure(json.loads(text))


def fake_scope():
    """The autostem_sim.FakeMicroscope behind this module (tests)."""
    _ensure()
    return _scope


class _Rehearsal:
    """The simulator's session clock and point timing (not a DM API; see the module docstring)."""

    def now_s(self):
        return _scope.now_s()

    def estimate_point_s(self, exposure_s, mode="point"):
        return _scope.estimate_point_s(float(exposure_s), str(mode))

    def advance_to(self, t_s):
        """Idles the simulated microscope until session time t_s (no-op when already later): the
        client's session clock, so an acquisition starts no earlier than it was submitted, as in
        the simulator (the client computed meanwhile)."""
        d = float(t_s) - _scope.now_s()
        if d > 0:
            _scope.elapse(d)

    def set_mode(self, mode):
        """The simulator's acquisition mode for the next spectra: "point" or "si_scan" (the
        synchronized spectrum-image timing of sim/). Real DigitalMicrograph has no such call."""
        if mode not in ("point", "si_scan"):
            raise ValueError("mode must be point or si_scan, got %r" % (mode,))
        _state.mode = mode


def autostem_rehearsal():
    """The simulated clock and timing model behind this fake (real DigitalMicrograph has no such
    function: the server then keeps its own monotonic clock)."""
    _ensure()
    return _Rehearsal()


def fake_state():
    """Blanking, beam, counters of this fake (tests)."""
    _ensure()
    return _state


class TagGroup:
    def __init__(self):
        self._tags = {}

    def SetTagAsFloat(self, path, value):
        self._tags[path] = float(value)

    def GetTagAsFloat(self, path):
        _require_documented("python", "GetTagAsFloat")
        _require_documented("note" if path.startswith("autostem:") else "tag", path)
        if path in self._tags:
            return True, float(self._tags[path])
        return False, 0.0

    def DoesTagExist(self, path):
        return path in self._tags


class Image:
    def __init__(self, name, array):
        self.name = name
        self._array = array
        self._tags = TagGroup()
        self.origin = [0.0] * array.ndim
        self.scale = [1.0] * array.ndim
        self.units = [""] * array.ndim
        self.id = _next_image_id[0]
        _next_image_id[0] += 1
        _images[self.id] = self

    def GetNumArray(self):
        _require_documented("python", "GetNumArray")
        return self._array

    def GetTagGroup(self):
        _require_documented("python", "GetTagGroup")
        return self._tags

    def GetDimensionScale(self, d):
        _require_documented("python", "GetDimensionScale")
        return float(self.scale[int(d)])

    def GetDimensionUnitString(self, d):
        _require_documented("python", "GetDimensionUnitString")
        return str(self.units[int(d)])

    def GetName(self):
        return self.name

    def GetID(self):
        return self.id


def GetPersistentTagGroup():
    _require_documented("python", "GetPersistentTagGroup")
    _ensure()
    return _persistent


def FindImageByID(image_id):
    _require_documented("python", "FindImageByID")
    _ensure()
    return _images.get(int(image_id))


# --------------------------------------------------------------------------------------------
# The DM-script subset
# --------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_TOKEN = re.compile(r"\s*(?:(?P<num>-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)|"
                    r"(?P<str>\"[^\"\\]*\")|(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<punct>[(),]))")
_DECL = re.compile(r"^(number|image|object)\s+([A-Za-z_][A-Za-z_0-9]*)\s*(:=|=)\s*(.+)$")


class _Ref:
    """A variable passed by reference (DM script's out parameters)."""

    def __init__(self, env, name):
        self.env, self.name = env, name

    def set(self, value):
        self.env[self.name] = value


def _tokenize(text):
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise RuntimeError("fake DM script: cannot parse %r at %d" % (text, pos))
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _parse_expr(tokens, i, env):
    kind, value = tokens[i]
    if kind == "num":
        x = float(value)
        if not math.isfinite(x):
            raise RuntimeError("fake DM script: non-finite literal %r" % value)
        return x, i + 1
    if kind == "str":
        return value[1:-1], i + 1
    if kind == "name":
        if i + 1 < len(tokens) and tokens[i + 1] == ("punct", "("):
            fn = _FUNCTIONS.get(value)
            if fn is None:
                raise RuntimeError("fake DM script: unknown function %s" % value)
            _require_documented("script", value)
            args, j = [], i + 2
            if tokens[j] != ("punct", ")"):
                while True:
                    if tokens[j][0] == "name" and tokens[j + 1] != ("punct", "(") and \
                            value in _OUT_PARAMS:
                        if tokens[j][1] not in env:
                            raise RuntimeError("fake DM script: undeclared %s" % tokens[j][1])
                        args.append(_Ref(env, tokens[j][1]))
                        j += 1
                    else:
                        a, j = _parse_expr(tokens, j, env)
                        args.append(a)
                    if tokens[j] == ("punct", ","):
                        j += 1
                        continue
                    if tokens[j] == ("punct", ")"):
                        break
                    raise RuntimeError("fake DM script: expected , or ) in call of %s" % value)
            return fn(*args), j + 1
        if value not in env:
            raise RuntimeError("fake DM script: unknown variable %s" % value)
        return env[value], i + 1
    raise RuntimeError("fake DM script: unexpected %r" % value)


def ExecuteScriptString(text):
    _require_documented("python", "ExecuteScriptString")
    _ensure()
    with _lock:
        _state.scripts = (_state.scripts + [text])[-16:]
        env = {}
        for line in text.split("\n"):
            line = line.strip()
            if not line:
                continue
            m = _DECL.match(line)
            expr = m.group(4) if m else line
            tokens = _tokenize(expr)
            value, end = _parse_expr(tokens, 0, env)
            if end != len(tokens):
                raise RuntimeError("fake DM script: trailing text in %r" % line)
            if m:
                env[m.group(2)] = value
        return 0


# --------------------------------------------------------------------------------------------
# DigiScan, camera, blanker, energy filter
# --------------------------------------------------------------------------------------------

def _realtime(seconds):
    factor = float(_config.get("realtime", 0) or 0)
    if factor > 0 and seconds > 0:
        time.sleep(seconds * factor)


def _spacing():
    return float(_config.get("ds_spacing", 0.5))


def _ds_to_pixel(x, y):
    if _state.survey_geom is None:
        raise RuntimeError("fake DigiScan: no survey yet, the DigiScan frame is undefined")
    rows, cols, (ox, oy), (sx, sy) = _state.survey_geom
    return (y - oy) / sy, (x - ox) / sx


def _pixel_to_ds(row, col):
    rows, cols, (ox, oy), (sx, sy) = _state.survey_geom
    return ox + col * sx, oy + row * sy


def _ds_get_scan_control():
    return 1.0


def _ds_create_parameters(width, height, rotation, dwell_us, line_sync):
    p = _state.next_param
    _state.next_param += 1
    _state.scan_params[p] = {"width": int(width), "height": int(height),
                             "dwell_s": float(dwell_us) / 1e6, "signal": None, "image": None}
    return float(p)


def _real_image(name, depth, width, height):
    dtype = {4: np.float32, 8: np.float64}.get(int(depth))
    if dtype is None:
        raise RuntimeError("fake DM: RealImage depth must be 4 or 8, got %r" % depth)
    return Image(name, np.zeros((int(height), int(width)), dtype=dtype))


def _image_get_id(img):
    return float(img.id)


def _ds_set_parameters_signal(p, signal, depth, selected, image_id):
    params = _state.scan_params[int(p)]
    params["signal"] = int(signal)
    params["image"] = int(image_id)


def _refield(rows, cols):
    """DigiScan asked for another frame size (a session's survey_shape, issue 17): the same
    specimen at the same magnification, scanned with rows x cols pixels — the phantom made again
    at that size with the same seed (a phantom covers a fixed field of view, so the pixel size
    follows, as DigiScan's does), its clock continued. A dataset has one size: refused."""
    global _scope
    if _config.get("dataset") or _config.get("survey") or not _config.get("phantom"):
        info = _scope.describe()
        raise RuntimeError("fake DigiScan: %dx%d requested; the simulated dataset is %dx%d"
                           % (rows, cols, info["field_rows"], info["field_cols"]))
    t = _scope.now_s()
    _config["rows"], _config["cols"] = int(rows), int(cols)
    _scope = autostem_sim.FakeMicroscope(
        phantom=_config["phantom"], dataset="", survey="", rows=int(rows), cols=int(cols),
        profile=_config.get("profile", "rsi2024-remote"), seed=int(_config.get("seed", 0)),
        noise=bool(_config.get("noise", True)), drift=str(_config.get("drift", "") or ""))
    if t > 0:
        _scope.elapse(t)
    _state.survey_geom = None
    _state.survey_image = None


def _ds_start_acquisition(p, continuous, synchronous):
    params = _state.scan_params[int(p)]
    info = _scope.describe()
    if (params["height"], params["width"]) != (info["field_rows"], info["field_cols"]):
        _refield(params["height"], params["width"])
        info = _scope.describe()
    if params["signal"] != 0:
        raise RuntimeError("fake DigiScan: only signal 0 (the survey detector) is simulated")
    img = _images[params["image"]]
    if _state.blanked:
        # No electrons: a dark frame, and the simulator is not advanced.
        img._array[...] = 0.0
        _state.dark_surveys += 1
        data, t0, t1 = img._array, 0.0, 0.0
    else:
        data, t0, t1, _dose = _scope.survey(params["dwell_s"], "")
        img._array[...] = data
    rows, cols = data.shape
    s = _spacing()
    tags = img.GetTagGroup()
    tags.SetTagAsFloat("Spacing:X", s)
    tags.SetTagAsFloat("Spacing:Y", s)
    tags.SetTagAsFloat("Image Center:X", cols / 2.0)
    tags.SetTagAsFloat("Image Center:Y", rows / 2.0)
    tags.SetTagAsFloat("DS Offset:X", cols / 2.0 * s)
    tags.SetTagAsFloat("DS Offset:Y", rows / 2.0 * s)
    img.scale = [info["pixel_size_nm"]] * 2
    img.units = ["nm", "nm"]
    # A nominal indicated magnification (10^8 / field of view in nm; the fake's own figure, a
    # real microscope writes its own), so the server reads the tag as it would in DM.
    fov_nm = info["pixel_size_nm"] * max(rows, cols)
    tags.SetTagAsFloat("Microscope Info:Indicated Magnification", 1e8 / fov_nm)
    _state.survey_geom = (rows, cols, (cols / 2.0 * s - cols / 2.0 * s,
                                       rows / 2.0 * s - rows / 2.0 * s), (s, s))
    _state.survey_image = img.id
    _state.surveys += 1
    _realtime(t1 - t0)


def _ds_scan_sub_region(ref, dst, top, left, bottom, right, pixel_time_us):
    """DSScanSubRegion(refImage, dstImage, top, left, bottom, right, pixelTime): scans the
    rectangle [top, bottom) x [left, right) of the DigiScan image refImage (its pixel frame,
    pixel k spanning [k, k + 1)) into dstImage, whose size sets the sampling; pixelTime in µs;
    returns when done, beam parked. Here: only at the reference's own pixel pitch (the
    rectangle as large as dstImage), so pixel (i, j) is commanded at survey position
    (top + i, left + j) with pixel centres at integers — the simulator's acquire_patch."""
    if not isinstance(ref, Image) or not isinstance(dst, Image):
        raise RuntimeError("fake DigiScan: DSScanSubRegion needs two images")
    if _state.survey_image is None or ref.id != _state.survey_image:
        raise RuntimeError("fake DigiScan: the reference of a sub-region scan must be the last "
                           "DigiScan survey image")
    if dst._array.ndim != 2 or dst._array.dtype != ref._array.dtype:
        raise RuntimeError("fake DigiScan: the destination must be a 2-D image of the reference's "
                           "data type (%s), got %s %s" % (ref._array.dtype, dst._array.ndim,
                                                         dst._array.dtype))
    rows, cols = dst._array.shape
    if abs((bottom - top) - rows) > 1e-9 or abs((right - left) - cols) > 1e-9:
        raise RuntimeError("fake DigiScan: sub-region %r x %r sampled by %dx%d pixels; the fake "
                           "simulates the reference's pixel pitch only"
                           % ((top, bottom), (left, right), rows, cols))
    dwell_s = float(pixel_time_us) / 1e6
    if _state.blanked:
        dst._array[...] = 0.0
        _state.dark_patches += 1
        return
    field_rows, field_cols = ref._array.shape
    # The corner split into a whole pixel and the offset from it. top - row0 is exact (Sterbenz),
    # so the simulator's (row0 + offset) + i is top + i on the nose.
    row0 = min(max(int(round(top)), 0), max(field_rows - rows, 0))
    col0 = min(max(int(round(left)), 0), max(field_cols - cols, 0))
    data, t0, t1, _dose = _scope.acquire_patch(row0, col0, rows, cols, top - row0, left - col0,
                                               dwell_s)
    dst._array[...] = data
    _state.patches += 1
    _realtime(t1 - t0)


def _ds_delete_parameters(p):
    _state.scan_params.pop(int(p), None)


def _set_persistent_number_note(label, value):
    _persistent.SetTagAsFloat(label, value)


def _ds_move_beam_to(x, y):
    _state.beam_ds = (float(x), float(y))
    _state.actual_ds = None


def _ds_get_beam_ds_position(xref, yref):
    x, y = _state.actual_ds if _state.actual_ds is not None else _state.beam_ds
    xref.set(x)
    yref.set(y)


def _em_set_beam_blanked(state):
    _state.blanked = bool(state)
    if _state.blanked:
        _scope.blank()


def _get_active_camera():
    return 1.0


def _prepare_for_acquire(cam, exposure_s, binning, top, left, bottom, right):
    _state.exposure_s = float(exposure_s)


def _create_image_for_acquire(cam, name):
    info = _scope.describe()
    img = Image(name, np.zeros((1, int(info["channels"])), dtype=np.float32))
    scale = float(info["dispersion_eV"])
    # DM's calibration: value = (index − origin) × scale.
    img.origin = [-(info["energy_offset_eV"] + _state.energy_shift_eV) / scale, 0.0]
    img.scale = [scale, 1.0]
    return img


def _image_get_dimension_origin(img, d):
    return float(img.origin[int(d)])


def _image_get_dimension_scale(img, d):
    return float(img.scale[int(d)])


def _image_get_dimension_size(img, d):
    # DM's dimension 0 is x (the fastest, the energy axis of a spectrum).
    return float(img._array.shape[-1 - int(d)])


def _acquire_in_place(cam, img):
    if _state.exposure_s is None:
        raise RuntimeError("fake camera: AcquireInPlace before PrepareForAcquire")
    _state.spectra += 1
    if _state.blanked:
        # No electrons: a dark frame, as a real camera would read.
        img._array[...] = 0.0
        _state.dark_spectra += 1
        return
    row, col = _ds_to_pixel(*_state.beam_ds)
    signal, arow, acol, t0, t1, _dose = _scope.spectrum(row, col, _state.exposure_s, _state.mode)
    img._array[0, :] = signal
    _state.actual_ds = _pixel_to_ds(arow, acol) if math.isfinite(arow) else None
    _state.unblanked_spectra += 1
    _realtime(t1 - t0)


def _if_set_energy_offset(eV):
    _state.energy_shift_eV = float(eV)


def _if_get_energy_offset():
    return _state.energy_shift_eV


_FUNCTIONS = {
    "DS_GetScanControl": _ds_get_scan_control,
    "DS_CreateParameters": _ds_create_parameters,
    "DS_SetParametersSignal": _ds_set_parameters_signal,
    "DS_StartAcquisition": _ds_start_acquisition,
    "DS_DeleteParameters": _ds_delete_parameters,
    "DSScanSubRegion": _ds_scan_sub_region,
    "DS_MoveBeamTo": _ds_move_beam_to,
    "DS_GetBeamDSPosition": _ds_get_beam_ds_position,
    "RealImage": _real_image,
    "ImageGetID": _image_get_id,
    "FindImageByID": lambda i: FindImageByID(i),
    "SetPersistentNumberNote": _set_persistent_number_note,
    "EMSetBeamBlanked": _em_set_beam_blanked,
    "GetActiveCamera": _get_active_camera,
    "PrepareForAcquire": _prepare_for_acquire,
    "CreateImageForAcquire": _create_image_for_acquire,
    "AcquireInPlace": _acquire_in_place,
    "ImageGetDimensionOrigin": _image_get_dimension_origin,
    "ImageGetDimensionScale": _image_get_dimension_scale,
    "ImageGetDimensionSize": _image_get_dimension_size,
    "IFSetEnergyOffset": _if_set_energy_offset,
    "IFGetEnergyOffset": _if_get_energy_offset,
}
_OUT_PARAMS = {"DS_GetBeamDSPosition"}
