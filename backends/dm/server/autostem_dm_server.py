# autostem live server for Gatan DigitalMicrograph (docs/live.md, docs/live-protocol.md).
#
# Open this file in DigitalMicrograph and run it with "Execute in background" (Python 3 inside
# DM). It serves ONE authenticated client at a time on a TCP port and drives the microscope
# through DigiScan, the camera and the energy filter, within hard limits read from a settings
# file on this computer. Only the Python standard library and numpy are used.
#
# Outside DM (tests, rehearsal) it runs under python3 with the fake DigitalMicrograph module on
# PYTHONPATH:  python3 autostem_dm_server.py --settings FILE [--port N] [--key-file K]
#
# What it does differently from seed 002's server (§IV):
#  - arrays travel as raw little-endian bytes with dtype and shape in a small header, not as
#    nested Python lists;
#  - every frame is authenticated (HMAC-SHA256, per-connection key, sequence numbers);
#  - client values never reach DM script text: every number in a script is formatted here, by
#    fmt_number(), from a value that was validated as finite and inside the limits;
#  - the limits (field, exposure, dwell, survey size, points, dose, idle time) are enforced here
#    whatever the client asks; the beam is blanked on every error, on disconnect and when idle.

import hashlib
import hmac
import json
import math
import os
import secrets
import select
import socket
import struct
import sys
import time

import numpy as np

try:
    import DigitalMicrograph as DM  # inside DM, or the fake module (backends/dm/fake)
except ImportError:  # imported by the protocol tests without any DM
    DM = None

# Where the settings file is looked for when the script runs inside DM (no command line there):
# the AUTOSTEM_DM_SETTINGS environment variable, else this path. Edit it on the DM computer.
DEFAULT_SETTINGS_PATH = os.environ.get(
    "AUTOSTEM_DM_SETTINGS", os.path.join(os.path.expanduser("~"), "autostem-dm-settings.json"))

PROTOCOL_VERSION = 1
MAGIC = b"ASTM"
# magic, version, kind, op, seq, dtype, ndim, reserved, meta_len, shape[4]
HEADER = struct.Struct("<4sBBHQBBHI4I")
MAC_BYTES = 32
NONCE_BYTES = 16
MAX_META_BYTES = 65536

KIND_REQUEST, KIND_RESPONSE, KIND_ERROR, KIND_HELLO = 1, 2, 3, 4

OPS = {
    "hello": 1, "info": 2, "survey": 3, "move_beam": 4, "get_beam": 5, "blank": 6,
    "unblank": 7, "spectrum": 8, "energy_offset": 9, "stop": 10, "acquire_point": 11,
    "ping": 12, "scan_patch": 13, "estimate_point": 14,
}

# What this server offers beyond protocol version 1's first operations, announced in `info`
# (a client talking to an older server sees none and knows, e.g., that it cannot re-scan a
# drift reference).
CAPABILITIES = ["scan_patch"]
OP_NAMES = {v: k for k, v in OPS.items()}

# dtype codes: numpy little-endian type strings
DTYPES = {0: None, 1: "<u1", 2: "<u2", 3: "<i4", 4: "<f4", 5: "<f8", 6: "<u4"}
TYPE_CODES = {np.uint8: 1, np.uint16: 2, np.int32: 3, np.float32: 4, np.float64: 5, np.uint32: 6}

ELECTRONS_PER_PA_S = 1e-12 / 1.602176634e-19


class ProtocolError(Exception):
    """A frame that breaks the protocol (size, magic, MAC, sequence): the connection is closed."""


class RequestError(Exception):
    """A well-formed, authenticated request that is refused (limits, bad values)."""


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------

def derive_session_key(key, client_nonce, server_nonce):
    """Per-connection key: HMAC-SHA256(shared key, "autostem-dm-v1" | client nonce | server nonce)."""
    return hmac.new(key, b"autostem-dm-v1" + client_nonce + server_nonce, hashlib.sha256).digest()


def encode_frame(key, kind, op, seq, meta=None, array=None):
    """One frame: u32 body length, header, JSON meta, raw little-endian array bytes, HMAC tag.

    The tag is HMAC-SHA256(key, header | meta | payload)."""
    meta_bytes = json.dumps(meta or {}, separators=(",", ":"), allow_nan=False).encode()
    dtype_code, shape, payload = 0, (), b""
    if array is not None:
        a = np.asarray(array)
        code = TYPE_CODES.get(a.dtype.type)
        if code is None:
            raise ValueError("unsupported dtype %s" % a.dtype)
        if a.ndim > 4:
            raise ValueError("arrays have at most 4 dimensions")
        a = np.ascontiguousarray(a, dtype=DTYPES[code])
        dtype_code, shape, payload = code, a.shape, memoryview(a).cast("B")
    dims = list(shape) + [0] * (4 - len(shape))
    header = HEADER.pack(MAGIC, PROTOCOL_VERSION, kind, op, seq, dtype_code, len(shape), 0,
                         len(meta_bytes), *dims)
    mac = hmac.new(key, header, hashlib.sha256)
    mac.update(meta_bytes)
    mac.update(payload)
    body_len = len(header) + len(meta_bytes) + len(payload) + MAC_BYTES
    return [struct.pack("<I", body_len), header, meta_bytes, payload, mac.digest()]


def send_frame(sock, key, kind, op, seq, meta=None, array=None):
    parts = encode_frame(key, kind, op, seq, meta, array)
    # One sendall per part avoids copying a large payload into a joined buffer.
    small = b"".join(bytes(p) for p in parts[:3])
    sock.sendall(small)
    if len(parts[3]):
        sock.sendall(parts[3])
    sock.sendall(parts[4])


def recv_exact(sock, n):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise ConnectionError("connection closed by peer")
        got += k
    return buf


class Frame:
    __slots__ = ("kind", "op", "seq", "meta", "array", "mac_ok")


def read_frame(sock, keys, max_frame_bytes):
    """Reads one frame. The declared length is checked against max_frame_bytes BEFORE any buffer
    is allocated. keys: candidate keys; mac_ok tells whether the tag matched the first one.
    Raises ProtocolError on a malformed frame, ConnectionError on a closed connection."""
    (body_len,) = struct.unpack("<I", recv_exact(sock, 4))
    if body_len > max_frame_bytes:
        raise ProtocolError("frame declares %d bytes; the limit is %d" % (body_len, max_frame_bytes))
    if body_len < HEADER.size + MAC_BYTES:
        raise ProtocolError("frame of %d bytes is shorter than a header and a tag" % body_len)
    body = recv_exact(sock, body_len)
    return parse_body(body, keys)


def parse_body(body, keys):
    (magic, version, kind, op, seq, dtype_code, ndim, _reserved, meta_len,
     *dims) = HEADER.unpack_from(body, 0)
    if magic != MAGIC:
        raise ProtocolError("bad magic %r" % magic)
    if version != PROTOCOL_VERSION:
        raise ProtocolError("protocol version %d; this server speaks %d" % (version, PROTOCOL_VERSION))
    if ndim > 4 or dtype_code not in DTYPES or (dtype_code == 0 and ndim != 0):
        raise ProtocolError("bad dtype %d / ndim %d" % (dtype_code, ndim))
    if meta_len > MAX_META_BYTES:
        raise ProtocolError("metadata of %d bytes exceeds %d" % (meta_len, MAX_META_BYTES))
    shape = tuple(dims[:ndim])
    itemsize = np.dtype(DTYPES[dtype_code]).itemsize if dtype_code else 0
    payload_len = int(np.prod(shape, dtype=np.uint64)) * itemsize if ndim else 0
    if HEADER.size + meta_len + payload_len + MAC_BYTES != len(body):
        raise ProtocolError("frame length %d does not match header (meta %d, payload %d)"
                            % (len(body), meta_len, payload_len))
    signed = memoryview(body)[:len(body) - MAC_BYTES]
    tag = bytes(body[len(body) - MAC_BYTES:])
    f = Frame()
    # The tag is checked before the metadata is interpreted; an unauthenticated frame's metadata
    # is only read for an error message, never acted upon.
    f.mac_ok = hmac.compare_digest(hmac.new(keys[0], signed, hashlib.sha256).digest(), tag)
    f.kind, f.op, f.seq = kind, op, seq
    m0 = HEADER.size
    try:
        f.meta = json.loads(bytes(body[m0:m0 + meta_len]).decode() or "{}") if meta_len else {}
        if not isinstance(f.meta, dict):
            raise ValueError("not a JSON object")
    except (UnicodeDecodeError, ValueError) as e:
        if f.mac_ok:
            raise ProtocolError("metadata is not a JSON object: %s" % e)
        f.meta = {}
    if dtype_code:
        f.array = np.frombuffer(body, dtype=DTYPES[dtype_code], count=payload_len // itemsize,
                                offset=m0 + meta_len).reshape(shape)
    else:
        f.array = None
    return f


# --------------------------------------------------------------------------------------------
# Settings and limits
# --------------------------------------------------------------------------------------------

DEFAULT_LIMITS = {
    "max_survey_pixels": 2048 * 2048,
    "max_patch_pixels": 512 * 512,
    "min_dwell_s": 1e-7,
    "max_dwell_s": 1e-3,
    "max_exposure_s": 5.0,
    "max_points_per_session": 100000,
    "max_dose_e_per_A2_per_session": 1e9,
    "max_idle_s": 30.0,
    "max_frame_bytes": 1 << 20,
    "connection_timeout_s": 120.0,
    "field_ds_bounds": None,   # [x_min, x_max, y_min, y_max] in DigiScan units, or null
    "max_binning": 16,
    "energy_offset_eV": [-100.0, 3000.0],
    # The session's field from the client (issue 17; `autostem run --survey-shape RxC
    # --pixel-size NM`): the largest survey [rows, cols] a client may ask (null: only the
    # settings' survey_shape), the pixel sizes it may ask, [min_nm, max_nm] (null: only the
    # settings' pixel_size_nm), and the relative tolerance between the pixel size asked and the
    # one DM's survey calibration shows (a different one refuses the session after its survey).
    "max_survey_shape": None,
    "pixel_size_nm_range": None,
    "pixel_size_tolerance": 0.05,
}

# Length units of a DM image calibration (GetDimensionUnitString) in nm.
LENGTH_UNITS_NM = {"nm": 1.0, "pm": 1e-3, "\u00c5": 0.1, "A": 0.1, "angstrom": 0.1,
                   "\u00b5m": 1e3, "\u03bcm": 1e3, "um": 1e3, "mm": 1e6}


def _finite(x, what):
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
        raise RequestError("%s must be a finite number, got %r" % (what, x))
    return float(x)


def load_settings(path, overrides=None):
    """Reads the JSON settings file; overrides (port, key_file, host) from the command line.
    Raises ValueError naming the file and the field on a bad value."""
    try:
        with open(path, "r", encoding="utf-8") as fh:
            s = json.load(fh)
    except OSError as e:
        raise ValueError("%s: cannot read settings: %s" % (path, e))
    except ValueError as e:
        raise ValueError("%s: not JSON: %s" % (path, e))
    s.update({k: v for k, v in (overrides or {}).items() if v is not None})
    limits = dict(DEFAULT_LIMITS)
    unknown = set(s.get("limits", {})) - set(DEFAULT_LIMITS)
    if unknown:
        raise ValueError("%s: unknown limits %s" % (path, sorted(unknown)))
    limits.update(s.get("limits", {}))
    for k, v in limits.items():
        if k in ("field_ds_bounds", "energy_offset_eV", "max_survey_shape", "pixel_size_nm_range"):
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError("%s: limits.%s must be a finite number >= 0, got %r" % (path, k, v))
    def numbers(v, n):
        return (isinstance(v, list) and len(v) == n and
                all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                    for x in v))
    b = limits["field_ds_bounds"]
    if b is not None and not (numbers(b, 4) and b[0] < b[1] and b[2] < b[3]):
        raise ValueError("%s: limits.field_ds_bounds must be null or [x_min, x_max, y_min, y_max] "
                         "with min < max, got %r" % (path, b))
    e = limits["energy_offset_eV"]
    if not (numbers(e, 2) and e[0] <= e[1]):
        raise ValueError("%s: limits.energy_offset_eV must be [min, max], got %r" % (path, e))
    m = limits["max_survey_shape"]
    if m is not None and not (isinstance(m, list) and len(m) == 2 and
                              all(isinstance(n, int) and not isinstance(n, bool) and
                                  1 <= n <= 16384 for n in m)):
        raise ValueError("%s: limits.max_survey_shape must be null or [rows, cols] (1..16384), "
                         "got %r" % (path, m))
    r = limits["pixel_size_nm_range"]
    if r is not None and not (numbers(r, 2) and 0 < r[0] <= r[1]):
        raise ValueError("%s: limits.pixel_size_nm_range must be null or [min_nm, max_nm] with "
                         "0 < min <= max, got %r" % (path, r))
    limits["max_frame_bytes"] = max(int(limits["max_frame_bytes"]), 4096)
    s["limits"] = limits
    key_file = s.get("key_file")
    if not key_file:
        raise ValueError("%s: key_file is required" % path)
    s["key"] = read_key_file(key_file)
    shape = s.get("survey_shape")
    if (not isinstance(shape, list) or len(shape) != 2 or
            not all(isinstance(n, int) and 1 <= n <= 16384 for n in shape)):
        raise ValueError("%s: survey_shape must be [rows, cols] (1..16384), got %r" % (path, shape))
    s.setdefault("host", "127.0.0.1")
    s.setdefault("port", 8765)
    s.setdefault("allowed_clients", ["127.0.0.1"])
    s.setdefault("detectors", {"HAADF": 0})
    s.setdefault("probe_current_pA", 30.0)
    s.setdefault("pixel_size_nm", 1.0)
    s.setdefault("default_dwell_s", 16e-6)
    s.setdefault("default_exposure_s", 0.25)
    s.setdefault("name", "DigitalMicrograph")
    for k in ("probe_current_pA", "pixel_size_nm", "default_dwell_s", "default_exposure_s"):
        v = s[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (v > 0 and math.isfinite(v)):
            raise ValueError("%s: %s must be a finite number > 0, got %r" % (path, k, v))
    # The dose (and points) already delivered, kept on this computer across server restarts
    # (issue 17): by default next to the settings file; null = not kept (a rehearsal's
    # temporary settings). Delete the file to start a new budget (a new specimen area).
    if "dose_file" not in s:
        s["dose_file"] = os.path.splitext(os.path.abspath(path))[0] + ".dose.json"
        s["dose_file_is_default"] = True
    if s["dose_file"] is not None and not isinstance(s["dose_file"], str):
        raise ValueError("%s: dose_file must be a path or null, got %r" % (path, s["dose_file"]))
    s.setdefault("survey_bytes_per_pixel", 4)
    if s["survey_bytes_per_pixel"] not in (4, 8):
        raise ValueError("%s: survey_bytes_per_pixel must be 4 or 8, got %r"
                         % (path, s["survey_bytes_per_pixel"]))
    if not isinstance(s["port"], int) or not 0 <= s["port"] <= 65535:
        raise ValueError("%s: port must be 0..65535, got %r" % (path, s["port"]))
    return s


def read_key_file(path):
    """The shared key: the file's text, hex-decoded when it is hex, else its raw bytes (stripped).
    At least 16 bytes. Raises ValueError naming the file."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read().strip()
    except OSError as e:
        raise ValueError("key file %s: %s" % (path, e))
    try:
        key = bytes.fromhex(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = raw
    if len(key) < 16:
        raise ValueError("key file %s: the key has %d bytes; at least 16 are required "
                         "(e.g. 64 hex digits from `openssl rand -hex 32`)" % (path, len(key)))
    return key


def fmt_number(x):
    """The only way a number enters DM script text: a finite float written with repr() (shortest
    round-trip form, digits, '.', 'e', '-', '+' only). Raises RequestError otherwise."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
        raise RequestError("refusing to write a non-finite number into DM script: %r" % (x,))
    if isinstance(x, int):
        return str(x)
    text = repr(float(x))
    assert all(c in "0123456789.e-+" for c in text), text
    return text


# --------------------------------------------------------------------------------------------
# The microscope, through DigitalMicrograph
# --------------------------------------------------------------------------------------------

# Every DM script the server runs. Placeholders are filled with fmt_number() values only; results
# come back through persistent number tags under "autostem:". A site that needs other DM calls
# edits this table and nothing else.
SCRIPTS = {
    "survey": (
        "number sc = DS_GetScanControl()\n"
        "number p = DS_CreateParameters({cols}, {rows}, 0, {dwell_us}, 0)\n"
        "image img := RealImage(\"autostem survey\", {depth}, {cols}, {rows})\n"
        "DS_SetParametersSignal(p, {signal}, {depth}, 1, ImageGetID(img))\n"
        "DS_StartAcquisition(p, 0, 1)\n"
        "DS_DeleteParameters(p)\n"
        "SetPersistentNumberNote(\"autostem:survey_id\", ImageGetID(img))\n"),
    # The drift reference's re-scan: DigiScan's sub-region scan of the survey image (DM script
    # reference, DigiScan functions: "DSScanSubRegion(image refImage, image dstImage, number top,
    # number left, number bottom, number right, number pixelTime)": the rectangle, in refImage's
    # pixel frame, of an image acquired with DigiScan, sampled by dstImage's size, pixelTime in
    # µs, refImage's signal; returns when acquired, beam parked). dstImage must match refImage's
    # data type and depth.
    "patch": (
        "image ref := FindImageByID({survey_id})\n"
        "image img := RealImage(\"autostem patch\", {depth}, {cols}, {rows})\n"
        "DSScanSubRegion(ref, img, {top}, {left}, {bottom}, {right}, {dwell_us})\n"
        "SetPersistentNumberNote(\"autostem:patch_id\", ImageGetID(img))\n"),
    "move_beam": "DS_MoveBeamTo({x}, {y})\n",
    "get_beam": (
        "number x = 0\n"
        "number y = 0\n"
        "DS_GetBeamDSPosition(x, y)\n"
        "SetPersistentNumberNote(\"autostem:beam_x\", x)\n"
        "SetPersistentNumberNote(\"autostem:beam_y\", y)\n"),
    "blank": "EMSetBeamBlanked({state})\n",
    "prepare_camera": (
        "number cam = GetActiveCamera()\n"
        "PrepareForAcquire(cam, {exposure_s}, {binning}, {top}, {left}, {bottom}, {right})\n"
        "image img := CreateImageForAcquire(cam, \"autostem spectrum\")\n"
        "SetPersistentNumberNote(\"autostem:spectrum_id\", ImageGetID(img))\n"
        "SetPersistentNumberNote(\"autostem:energy_origin\", ImageGetDimensionOrigin(img, 0))\n"
        "SetPersistentNumberNote(\"autostem:energy_scale\", ImageGetDimensionScale(img, 0))\n"
        "SetPersistentNumberNote(\"autostem:channels\", ImageGetDimensionSize(img, 0))\n"),
    "acquire": (
        "number cam = GetActiveCamera()\n"
        "image img := FindImageByID({image_id})\n"
        "AcquireInPlace(cam, img)\n"),
    "set_energy_offset": "IFSetEnergyOffset({eV})\n",
    "get_energy_offset": "SetPersistentNumberNote(\"autostem:energy_offset\", IFGetEnergyOffset())\n",
}


class Microscope:
    """DigiScan, camera, blanker and energy filter through DM script text built from SCRIPTS."""

    def __init__(self, dm):
        self.dm = dm
        self.blanked = None
        self.camera = None          # (exposure_s, binning, readout) the camera is prepared for
        self.spectrum_id = None
        self.energy = None          # (origin, scale, channels) of the prepared spectrum image
        self.survey_id = None       # DM image id of the last survey (a patch's reference)
        self.survey_depth = None

    def _run(self, name, **values):
        self.dm.ExecuteScriptString(SCRIPTS[name].format(
            **{k: fmt_number(v) for k, v in values.items()}))

    def _note(self, label):
        ok, value = self.dm.GetPersistentTagGroup().GetTagAsFloat("autostem:" + label)
        if not ok or not math.isfinite(value):
            raise RuntimeError("DM did not return autostem:%s" % label)
        return value

    def blank(self, state=True):
        self._run("blank", state=1 if state else 0)
        self.blanked = bool(state)

    def survey(self, rows, cols, dwell_s, signal, depth=4):
        self._run("survey", rows=rows, cols=cols, dwell_us=dwell_s * 1e6, signal=signal,
                  depth=depth)
        survey_id = int(self._note("survey_id"))
        img = self.dm.FindImageByID(survey_id)
        a = img.GetNumArray()
        data = np.array(a, dtype="<f8" if a.dtype.itemsize == 8 else "<f4", copy=True)
        self.survey_id, self.survey_depth = survey_id, depth
        tags = img.GetTagGroup()

        def tag(path):
            ok, v = tags.GetTagAsFloat(path)
            if not ok or not math.isfinite(v):
                raise RuntimeError("survey image has no finite tag '%s'" % path)
            return v
        # DigiScan calibration (DESIGN.md §8): offset = 'DS Offset' − 'Image Center' × 'Spacing'.
        spacing = (tag("Spacing:X"), tag("Spacing:Y"))
        if spacing[0] == 0 or spacing[1] == 0:
            raise RuntimeError("survey image tag 'Spacing' is zero")
        offset = (tag("DS Offset:X") - tag("Image Center:X") * spacing[0],
                  tag("DS Offset:Y") - tag("Image Center:Y") * spacing[1])
        return data, offset, spacing, self.calibration(img)

    def calibration(self, img):
        """The survey's spatial calibration as DM holds it (issue 17): {"pixel_size_nm": x's
        scale in nm, or None when the image is not calibrated in a length unit; "scale", "units":
        as DM gives them; "magnification": the 'Microscope Info:Indicated Magnification' tag, or
        None without one}. Never raises for a missing calibration or tag."""
        scale = float(img.GetDimensionScale(0))
        units = str(img.GetDimensionUnitString(0)).strip()
        factor = LENGTH_UNITS_NM.get(units)
        pixel = scale * factor if factor is not None and math.isfinite(scale) and scale > 0 else None
        tags = img.GetTagGroup()

        def optional_tag(path):
            ok, v = tags.GetTagAsFloat(path)
            return float(v) if ok and math.isfinite(v) and v > 0 else None
        mag = optional_tag("Microscope Info:Indicated Magnification")
        return {"pixel_size_nm": pixel, "scale": scale if math.isfinite(scale) else None,
                "units": units, "magnification": mag}

    def patch(self, top, left, rows, cols, dwell_s):
        """Sub-region scan of the last survey image: rows x cols pixels at the survey's pitch,
        the rectangle [top, top + rows) x [left, left + cols) in its pixel frame (pixel k spans
        [k, k + 1)). Returns the (rows, cols) array."""
        self._run("patch", survey_id=self.survey_id, depth=self.survey_depth, rows=rows,
                  cols=cols, top=top, left=left, bottom=top + rows, right=left + cols,
                  dwell_us=dwell_s * 1e6)
        a = self.dm.FindImageByID(int(self._note("patch_id"))).GetNumArray()
        return np.array(a, dtype="<f8" if a.dtype.itemsize == 8 else "<f4", copy=True)

    def move_beam(self, x, y):
        self._run("move_beam", x=x, y=y)

    def beam_position(self):
        self._run("get_beam")
        return self._note("beam_x"), self._note("beam_y")

    def prepare(self, exposure_s, binning, readout):
        setting = (exposure_s, binning, tuple(readout))
        if self.camera == setting:
            return
        top, left, bottom, right = readout
        self._run("prepare_camera", exposure_s=exposure_s, binning=binning, top=top, left=left,
                  bottom=bottom, right=right)
        self.spectrum_id = int(self._note("spectrum_id"))
        # DM's calibration is value = (index − origin) × scale; autostem's offset + index × scale.
        origin, scale = self._note("energy_origin"), self._note("energy_scale")
        self.energy = (-origin * scale, scale, int(self._note("channels")))
        self.camera = setting

    def acquire_spectrum(self):
        self._run("acquire", image_id=self.spectrum_id)
        a = np.asarray(self.dm.FindImageByID(self.spectrum_id).GetNumArray())
        # A 2-D readout is summed over its rows (the non-energy axis) into one spectrum.
        if a.ndim == 2:
            a = a.sum(axis=0)
        return np.array(a, dtype="<f4", copy=True).reshape(-1)

    def set_energy_offset(self, eV):
        self._run("set_energy_offset", eV=eV)

    def energy_offset(self):
        self._run("get_energy_offset")
        return self._note("energy_offset")


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------

class Server:
    RESULT_CACHE = 256  # completed acquire_point results kept for a resuming client

    def __init__(self, settings, dm, log=None):
        self.s = settings
        self.limits = settings["limits"]
        self.key = settings["key"]
        self.scope = Microscope(dm)
        self.log = log or (lambda msg: print("autostem-dm: " + msg, flush=True))
        self.survey_geom = None     # (rows, cols, offset, spacing) of the last survey
        self.survey_detector = None
        # The session's field (issue 17): asked by the client in `info` within the limits, else
        # the settings' survey_shape and pixel_size_nm. pixel_asked: the client named a pixel
        # size, which DM's survey calibration must then confirm.
        self.field = self._settings_field()
        self.survey_calibration = None  # the last survey's calibration as DM reported it
        self.points = 0             # spectra delivered in this budget (dose_file: across restarts)
        self.electrons = 0.0        # electrons delivered in this budget (dose_file: across restarts)
        self.dose_file = settings.get("dose_file")
        self._load_dose()
        self.results = {}           # (run, acq_id) -> (meta, array) for idempotent resume
        self.result_order = []
        self.last_activity = time.monotonic()
        self.t0 = time.monotonic()
        # The session clock of every reported time. A DM module that is a simulator (the fake,
        # backends/dm/fake) offers its simulated clock and timing model, so that a rehearsal runs
        # on the simulated run's time; inside DigitalMicrograph there is none and the clock is
        # this computer's monotonic clock since the server started.
        rehearsal = getattr(dm, "autostem_rehearsal", None)
        self.rehearsal = rehearsal() if callable(rehearsal) else None
        # Synchronized spectrum imaging (si_scan) is offered only where the acquisition mode can
        # be honoured: in a rehearsal, by the simulator's SI timing. DM script for DigiScan-
        # synchronised SI is not written yet, so a live server refuses si_scan (issue 17).
        self.capabilities = list(CAPABILITIES)
        if self.rehearsal is not None and hasattr(self.rehearsal, "set_mode"):
            self.capabilities.append("si_scan")
        self.sock = None
        self.stopping = False
        self.safe_blank()

    # --- the dose budget, kept across restarts ---------------------------------------------
    def _load_dose(self):
        """Reads the dose already spent from dose_file (absent: nothing spent yet). A file that
        cannot be read or holds nonsense stops the server: a budget must never reset silently."""
        if not self.dose_file or not os.path.exists(self.dose_file):
            return
        try:
            with open(self.dose_file, "r", encoding="utf-8") as fh:
                d = json.load(fh)
            electrons, points = float(d["electrons"]), int(d["points"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError("dose file %s cannot be read (%s); fix or delete it to start a new "
                             "budget" % (self.dose_file, e))
        if not (math.isfinite(electrons) and electrons >= 0 and points >= 0):
            raise ValueError("dose file %s holds electrons %r, points %r" % (self.dose_file,
                                                                           electrons, points))
        self.electrons, self.points = electrons, points
        self.log("dose budget: %.4g e- and %d spectra already spent (%s)"
                 % (electrons, points, self.dose_file))

    def _save_dose(self):
        """Writes the dose spent to dose_file (atomically: a temporary file, then rename) after
        every acquisition, before its answer is sent, so a killed server loses none of it."""
        if not self.dose_file:
            return
        tmp = self.dose_file + ".tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump({"electrons": self.electrons, "points": self.points,
                           "field_area_A2": self.field_area_A2()}, fh)
            os.replace(tmp, self.dose_file)
        except OSError as e:
            self.log("WARNING: could not keep the dose spent in %s: %s" % (self.dose_file, e))

    # --- safety ---------------------------------------------------------------------------
    def safe_blank(self):
        try:
            self.scope.blank(True)
        except Exception as e:  # the beam state is then unknown: say so loudly
            self.log("WARNING: could not blank the beam: %s" % e)

    def check_idle(self):
        if (self.scope.blanked is False and
                time.monotonic() - self.last_activity > self.limits["max_idle_s"]):
            self.log("idle for more than %.3g s: blanking the beam" % self.limits["max_idle_s"])
            self.safe_blank()

    def now_s(self):
        """Session time in seconds: simulated in a rehearsal, else monotonic since start."""
        if self.rehearsal is not None:
            return float(self.rehearsal.now_s())
        return time.monotonic() - self.t0

    def field_area_A2(self):
        rows, cols = self.field["shape"]
        return rows * cols * (self.field["pixel_size_nm"] ** 2) * 100.0

    # --- the session's field ----------------------------------------------------------------
    def _settings_field(self):
        return {"shape": tuple(self.s["survey_shape"]),
                "pixel_size_nm": float(self.s["pixel_size_nm"]), "pixel_asked": False}

    def _field_from(self, meta):
        """The field a client asks in `info` (survey_shape [rows, cols], pixel_size_nm), checked
        against limits.max_survey_shape, max_survey_pixels, pixel_size_nm_range; what it does
        not ask is the settings'. Raises RequestError naming the limit."""
        lim = self.limits
        field = self._settings_field()
        if meta.get("survey_shape") is not None:
            shape = meta["survey_shape"]
            if (not isinstance(shape, list) or len(shape) != 2 or
                    not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1
                            for n in shape)):
                raise RequestError("survey_shape must be [rows, cols] (integers >= 1), got %r"
                                   % (shape,))
            rows, cols = shape
            m = lim["max_survey_shape"]
            if m is None and (rows, cols) != field["shape"]:
                raise RequestError("survey_shape %dx%d: this server's settings fix the survey at "
                                   "%dx%d (limits.max_survey_shape is null); ask for that or have "
                                   "limits.max_survey_shape set on the microscope PC"
                                   % (rows, cols, field["shape"][0], field["shape"][1]))
            if m is not None and (rows > m[0] or cols > m[1]):
                raise RequestError("survey_shape %dx%d exceeds limits.max_survey_shape %dx%d"
                                   % (rows, cols, m[0], m[1]))
            if rows * cols > lim["max_survey_pixels"]:
                raise RequestError("survey_shape %dx%d exceeds max_survey_pixels %d"
                                   % (rows, cols, lim["max_survey_pixels"]))
            field["shape"] = (rows, cols)
        if meta.get("pixel_size_nm") is not None:
            px = _finite(meta["pixel_size_nm"], "pixel_size_nm")
            r = lim["pixel_size_nm_range"]
            tol = float(lim["pixel_size_tolerance"])
            if r is None:
                p0 = field["pixel_size_nm"]
                if abs(px - p0) > tol * p0:
                    raise RequestError("pixel_size_nm %r: this server's settings fix the pixel "
                                       "size at %r nm (limits.pixel_size_nm_range is null); ask "
                                       "for that or have limits.pixel_size_nm_range set on the "
                                       "microscope PC" % (px, p0))
            elif not r[0] <= px <= r[1]:
                raise RequestError("pixel_size_nm %r outside limits.pixel_size_nm_range [%r, %r]"
                                   % (px, r[0], r[1]))
            field["pixel_size_nm"] = px
            field["pixel_asked"] = True
        return field

    def _check_calibration(self, cal):
        """After a survey: DM's calibration against the session's pixel size. Asked by the
        client: a calibration outside pixel_size_tolerance (or none) refuses the session (raises
        RequestError; no position is accepted until a survey that agrees). Not asked: a
        difference is logged and reported, as the settings' value is used as before."""
        want = self.field["pixel_size_nm"]
        got = cal.get("pixel_size_nm")
        tol = float(self.limits["pixel_size_tolerance"])
        mag = cal.get("magnification")
        at = " at magnification %.6g" % mag if mag else ""
        if got is None:
            msg = ("the survey image in DM has no length calibration (scale %r, units %r)"
                   % (cal.get("scale"), cal.get("units")))
            if self.field["pixel_asked"]:
                raise RequestError(msg + "; cannot confirm the pixel size asked, %r nm" % want)
            self.log("WARNING: " + msg + "; using the settings' pixel_size_nm %r" % want)
            return
        if abs(got - want) > tol * want:
            msg = ("DM's survey calibration is %.6g nm per pixel%s; the session's pixel size is "
                   "%.6g nm (tolerance %.3g %%)" % (got, at, want, 100.0 * tol))
            if self.field["pixel_asked"]:
                raise RequestError(msg + ": set the magnification on the microscope, or ask for "
                                   "--pixel-size %.6g" % got)
            self.log("WARNING: " + msg + " (the settings' value is used for the dose budget)")

    # --- network --------------------------------------------------------------------------
    def bind(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.s["host"], self.s["port"]))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        return self.sock.getsockname()[1]

    def serve(self, lifetime_s=None):
        """Accepts clients one after another until stopping or lifetime_s has passed."""
        deadline = None if lifetime_s is None else time.monotonic() + lifetime_s
        try:
            while not self.stopping and (deadline is None or time.monotonic() < deadline):
                self.check_idle()
                try:
                    conn, addr = self.sock.accept()
                except socket.timeout:
                    continue
                except OSError:
                    if self.stopping:
                        break
                    raise
                with conn:
                    if addr[0] not in self.s["allowed_clients"]:
                        self.log("refused connection from %s (not in allowed_clients)" % addr[0])
                        continue
                    self.log("client %s:%d connected" % addr)
                    try:
                        self.handle(conn, deadline)
                    except (ConnectionError, socket.timeout, OSError) as e:
                        self.log("client %s:%d gone: %s" % (addr[0], addr[1], e))
                    except ProtocolError as e:
                        self.log("client %s:%d: protocol error: %s" % (addr[0], addr[1], e))
                    finally:
                        self.safe_blank()
        finally:
            self.safe_blank()
            self.sock.close()

    def handle(self, conn, deadline):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        max_frame = int(self.limits["max_frame_bytes"])
        server_nonce = secrets.token_bytes(NONCE_BYTES)
        # The hello is signed with the shared key so the client knows it talks to a key holder.
        send_frame(conn, self.key, KIND_HELLO, OPS["hello"], 0,
                   {"server": "autostem-dm", "version": PROTOCOL_VERSION,
                    "nonce": server_nonce.hex()})
        conn.settimeout(min(self.limits["connection_timeout_s"], 10.0))
        try:
            f = read_frame(conn, [self.key], max_frame)
        except ProtocolError as e:
            self._refuse(conn, self.key, 1, str(e))
            raise
        if not f.mac_ok:
            self._refuse(conn, self.key, 1, "authentication failed: bad tag on the client hello "
                                              "(wrong key?)")
            raise ProtocolError("bad hello tag")
        if f.kind != KIND_HELLO or f.op != OPS["hello"] or f.seq != 1:
            self._refuse(conn, self.key, f.seq, "expected a client hello with sequence 1")
            raise ProtocolError("bad hello")
        try:
            client_nonce = bytes.fromhex(str(f.meta.get("nonce", "")))
        except ValueError:
            client_nonce = b""
        if (f.meta.get("server_nonce") != server_nonce.hex() or len(client_nonce) != NONCE_BYTES):
            self._refuse(conn, self.key, 1, "hello does not answer this connection's nonce "
                                            "(replayed?)")
            raise ProtocolError("stale hello")
        key = derive_session_key(self.key, client_nonce, server_nonce)
        seq = 1
        send_frame(conn, key, KIND_RESPONSE, OPS["hello"], seq, {"ok": True})
        self.log("client authenticated")
        idle_tick = 0.25
        # Once a frame has started, the rest must follow within this time (a stalled or
        # malicious client cannot hold the server mid-frame for longer).
        conn.settimeout(min(self.limits["connection_timeout_s"], 10.0))
        last_frame = time.monotonic()
        while not self.stopping and (deadline is None or time.monotonic() < deadline):
            # Wait for the start of a frame without a timeout inside a frame, so that a partial
            # read never desynchronizes the stream; meanwhile watch the idle beam.
            readable, _, _ = select.select([conn], [], [], idle_tick)
            if not readable:
                self.check_idle()
                if time.monotonic() - last_frame > self.limits["connection_timeout_s"]:
                    self.log("client silent for %.3g s: closing" % self.limits["connection_timeout_s"])
                    return
                continue
            try:
                f = read_frame(conn, [key], max_frame)
            except ProtocolError as e:
                self._refuse(conn, key, seq + 1, str(e))
                raise
            last_frame = time.monotonic()
            if not f.mac_ok:
                self._refuse(conn, key, seq + 1, "authentication failed: bad tag (tampered frame?)")
                raise ProtocolError("bad tag")
            if f.kind != KIND_REQUEST or f.seq != seq + 1:
                self._refuse(conn, key, seq + 1, "sequence %d where %d was expected "
                             "(replayed or reordered frame)" % (f.seq, seq + 1))
                raise ProtocolError("bad sequence")
            seq = f.seq
            op = OP_NAMES.get(f.op)
            self.last_activity = time.monotonic()
            try:
                if op is None or op == "hello":
                    raise RequestError("unknown operation %d" % f.op)
                meta, array = getattr(self, "op_" + op)(f.meta, f.array)
            except RequestError as e:
                self.safe_blank()
                self.log("refused %s: %s" % (op or f.op, e))
                send_frame(conn, key, KIND_ERROR, f.op, seq, {"error": str(e), "refused": True})
                continue
            except Exception as e:  # DM failed: blank, report, keep serving
                self.safe_blank()
                self.log("%s failed: %s" % (op, e))
                send_frame(conn, key, KIND_ERROR, f.op, seq, {"error": "%s failed: %s" % (op, e)})
                continue
            self.last_activity = time.monotonic()
            send_frame(conn, key, KIND_RESPONSE, f.op, seq, meta, array)
            if op == "stop":
                return

    def _refuse(self, conn, key, seq, message):
        self.safe_blank()
        self.log("refused: " + message)
        try:
            send_frame(conn, key, KIND_ERROR, 0, seq, {"error": message, "refused": True,
                                                      "fatal": True})
        except OSError:
            pass

    # --- operations -------------------------------------------------------------------------
    def op_ping(self, meta, array):
        # blanked: the last blanker command this server gave DM (null before any).
        return {"t_s": self.now_s(), "blanked": self.scope.blanked}, None

    def op_info(self, meta, array):
        """Describes the instrument and sets the session's field: survey_shape, pixel_size_nm
        asked in meta within the limits (_field_from), else the settings' — a new field needs no
        restart (issue 17). A field other than the last survey's needs a new survey first."""
        lim = self.limits
        field = self._field_from(meta)
        if (field["shape"], field["pixel_size_nm"]) != (self.field["shape"],
                                                       self.field["pixel_size_nm"]):
            self.survey_geom = None
            self.log("session field: %dx%d pixels of %.6g nm%s"
                     % (field["shape"][0], field["shape"][1], field["pixel_size_nm"],
                        " (asked by the client)" if field["pixel_asked"] or
                        field["shape"] != tuple(self.s["survey_shape"]) else ""))
        self.field = field
        self.scope.prepare(float(self.s["default_exposure_s"]), 1, (0, 0, 0, 0))
        origin, scale, channels = self.scope.energy
        rows, cols = self.field["shape"]
        return {
            "name": self.s["name"], "field_rows": rows, "field_cols": cols,
            "pixel_size_nm": self.field["pixel_size_nm"],
            "max_survey_shape": lim["max_survey_shape"],
            "pixel_size_nm_range": lim["pixel_size_nm_range"],
            "pixel_size_tolerance": lim["pixel_size_tolerance"],
            "detectors": sorted(self.s["detectors"]),
            "default_dwell_s": self.s["default_dwell_s"],
            "default_exposure_s": self.s["default_exposure_s"],
            "probe_current_pA": self.s["probe_current_pA"],
            "max_exposure_s": lim["max_exposure_s"], "max_points": lim["max_points_per_session"],
            "max_dose_e_per_A2": lim["max_dose_e_per_A2_per_session"],
            "points_used": self.points, "electrons_used": self.electrons,
            "energy_offset_eV": origin, "dispersion_eV": scale, "channels": channels,
            "capabilities": self.capabilities, "max_patch_pixels": lim["max_patch_pixels"],
            "min_dwell_s": lim["min_dwell_s"], "max_dwell_s": lim["max_dwell_s"],
            "clock": "simulated" if self.rehearsal is not None else "monotonic",
            "t_s": self.now_s(),
        }, None

    def op_survey(self, meta, array):
        rows, cols = self.field["shape"]
        dwell = _finite(meta.get("dwell_s", 0.0), "dwell_s") or float(self.s["default_dwell_s"])
        lim = self.limits
        if not lim["min_dwell_s"] <= dwell <= lim["max_dwell_s"]:
            raise RequestError("dwell_s %r outside the limits [%r, %r]"
                               % (dwell, lim["min_dwell_s"], lim["max_dwell_s"]))
        if rows * cols > lim["max_survey_pixels"]:
            raise RequestError("survey of %dx%d exceeds max_survey_pixels %d"
                               % (rows, cols, lim["max_survey_pixels"]))
        detector = meta.get("detector") or sorted(self.s["detectors"])[0]
        if not isinstance(detector, str) or detector not in self.s["detectors"]:
            raise RequestError("unknown detector %r; this server has %s"
                               % (detector, sorted(self.s["detectors"])))
        electrons = self.s["probe_current_pA"] * dwell * rows * cols * ELECTRONS_PER_PA_S
        self._check_dose(electrons)
        self._not_before(meta)
        t0 = self.now_s()
        self.scope.blank(False)
        self.survey_geom = None
        try:
            data, offset, spacing, cal = self.scope.survey(
                rows, cols, dwell, int(self.s["detectors"][detector]),
                int(self.s["survey_bytes_per_pixel"]))
        finally:
            self.electrons += electrons
            self._save_dose()
            self.safe_blank()
        t1 = self.now_s()
        if data.shape != (rows, cols):
            raise RuntimeError("DigiScan returned %s, expected (%d, %d)" % (data.shape, rows, cols))
        self.survey_calibration = cal
        self._check_calibration(cal)  # may refuse: then no position is accepted
        self.survey_geom = (rows, cols, offset, spacing)
        self.survey_detector = detector
        return {"dwell_s": dwell, "detector": detector, "t_start_s": t0,
                "t_end_s": t1, "acquire_s": t1 - t0, "electrons": electrons,
                "ds_offset": list(offset), "ds_spacing": list(spacing),
                "pixel_size_nm": self.field["pixel_size_nm"],
                "dm_pixel_size_nm": cal["pixel_size_nm"], "dm_scale": cal["scale"],
                "dm_units": cal["units"], "dm_magnification": cal["magnification"]}, data

    def _int(self, meta, key, lo, hi):
        v = meta.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise RequestError("%s must be an integer %d..%d, got %r" % (key, lo, hi, v))
        return v

    def op_scan_patch(self, meta, array):
        """Re-scans a rectangle of the survey field (a drift reference) with DigiScan's
        sub-region scan: rows x cols pixels at the survey's pitch, pixel (i, j) at survey position
        (row0 + offset_row + i, col0 + offset_col + j); offset (px, fractional) is the drift
        correction in force. Limits: a survey first; rows, cols >= 2; rows x cols <=
        max_patch_pixels; every scanned pixel inside the survey field (and field_ds_bounds);
        min_dwell_s <= dwell_s <= max_dwell_s; the survey's detector (a sub-region scan records
        its reference's signal); the dose budget."""
        if self.survey_geom is None or self.scope.survey_id is None:
            raise RequestError("no survey yet: a patch is a sub-region of the survey, acquire one "
                               "first")
        rows_f, cols_f = self.survey_geom[0], self.survey_geom[1]
        row0 = self._int(meta, "row0", 0, rows_f - 1)
        col0 = self._int(meta, "col0", 0, cols_f - 1)
        rows = self._int(meta, "rows", 2, rows_f)
        cols = self._int(meta, "cols", 2, cols_f)
        lim = self.limits
        if rows * cols > lim["max_patch_pixels"]:
            raise RequestError("patch of %dx%d exceeds max_patch_pixels %d"
                               % (rows, cols, lim["max_patch_pixels"]))
        if row0 + rows > rows_f or col0 + cols > cols_f:
            raise RequestError("patch rows [%d, %d) x cols [%d, %d) is not inside the %dx%d field"
                               % (row0, row0 + rows, col0, col0 + cols, rows_f, cols_f))
        off_r = _finite(meta.get("offset_row", 0.0), "offset_row")
        off_c = _finite(meta.get("offset_col", 0.0), "offset_col")
        top, left = row0 + off_r, col0 + off_c
        # Pixel centres top + i, i < rows, must lie in the field [-0.5, rows_f - 0.5), the same
        # bounds as a beam position; the corners are checked against field_ds_bounds.
        if not (-0.5 <= top and top + (rows - 1) < rows_f - 0.5 and
                -0.5 <= left and left + (cols - 1) < cols_f - 0.5):
            raise RequestError("patch at offset (%r, %r) px scans rows [%r, %r] x cols [%r, %r], "
                               "outside the field [-0.5, %g) x [-0.5, %g)"
                               % (off_r, off_c, top, top + rows - 1, left, left + cols - 1,
                                  rows_f - 0.5, cols_f - 0.5))
        self._pixel_to_ds(top, left)
        self._pixel_to_ds(top + rows - 1, left + cols - 1)
        dwell = _finite(meta.get("dwell_s", 0.0), "dwell_s") or float(self.s["default_dwell_s"])
        if not lim["min_dwell_s"] <= dwell <= lim["max_dwell_s"]:
            raise RequestError("dwell_s %r outside the limits [%r, %r]"
                               % (dwell, lim["min_dwell_s"], lim["max_dwell_s"]))
        detector = meta.get("detector") or self.survey_detector
        if detector != self.survey_detector:
            raise RequestError("detector %r: a sub-region scan records the survey's signal (%r)"
                               % (detector, self.survey_detector))
        electrons = self.s["probe_current_pA"] * dwell * rows * cols * ELECTRONS_PER_PA_S
        self._check_dose(electrons)
        self._not_before(meta)
        t0 = self.now_s()
        self.scope.blank(False)
        try:
            data = self.scope.patch(top, left, rows, cols, dwell)
        finally:
            self.electrons += electrons
            self._save_dose()
            self.safe_blank()
        t1 = self.now_s()
        if data.shape != (rows, cols):
            raise RuntimeError("DigiScan returned %s, expected (%d, %d)" % (data.shape, rows, cols))
        return {"row0": row0, "col0": col0, "rows": rows, "cols": cols, "offset_row": off_r,
                "offset_col": off_c, "dwell_s": dwell, "detector": detector, "t_start_s": t0,
                "t_end_s": t1, "acquire_s": t1 - t0, "electrons": electrons}, data

    def op_estimate_point(self, meta, array):
        """Session time one more spectrum adds, from the simulator's timing model: only in a
        rehearsal (a live microscope has no model; the client measures instead)."""
        if self.rehearsal is None:
            raise RequestError("estimate_point: no timing model on a live microscope")
        exposure, _binning, _readout = self._spectrum_settings(meta)
        mode = self._mode(meta)
        return {"exposure_s": exposure, "mode": mode,
                "time_s": float(self.rehearsal.estimate_point_s(exposure, mode))}, None

    def _mode(self, meta):
        """The acquisition mode of a request: "point" (default) or "si_scan" where offered."""
        mode = meta.get("mode", "point")
        if mode not in ("point", "si_scan"):
            raise RequestError("mode must be \"point\" or \"si_scan\", got %r" % (mode,))
        if mode == "si_scan" and "si_scan" not in self.capabilities:
            raise RequestError("si_scan (synchronized spectrum imaging) is not offered by this "
                               "server; use point mode")
        return mode

    def _not_before(self, meta):
        """Rehearsal: the simulated microscope idles until the client's session time
        not_before_s (the strategy computed meanwhile). Ignored on a live microscope, whose clock
        is real time."""
        if self.rehearsal is None or "not_before_s" not in meta:
            return
        self.rehearsal.advance_to(_finite(meta["not_before_s"], "not_before_s"))

    def _pixel_to_ds(self, row, col):
        if self.survey_geom is None:
            raise RequestError("no survey yet: acquire a survey before positioning the beam")
        rows, cols, (ox, oy), (sx, sy) = self.survey_geom
        row = _finite(row, "row")
        col = _finite(col, "col")
        # The bounds and the message of autostem::check_inside_field (core/field.hpp).
        if not (-0.5 <= row < rows - 0.5 and -0.5 <= col < cols - 0.5):
            raise RequestError("position (row %g, col %g) is outside the field [-0.5, %g) x [-0.5, %g)"
                               % (row, col, rows - 0.5, cols - 0.5))
        x, y = ox + col * sx, oy + row * sy
        b = self.limits["field_ds_bounds"]
        if b is not None and not (b[0] <= x <= b[1] and b[2] <= y <= b[3]):
            raise RequestError("position (%r, %r) maps to DigiScan (%r, %r), outside "
                               "field_ds_bounds %r" % (row, col, x, y, b))
        return x, y

    def _ds_to_pixel(self, x, y):
        rows, cols, (ox, oy), (sx, sy) = self.survey_geom
        return (y - oy) / sy, (x - ox) / sx

    def op_move_beam(self, meta, array):
        x, y = self._pixel_to_ds(meta.get("row"), meta.get("col"))
        self.scope.move_beam(x, y)
        return {}, None

    def op_get_beam(self, meta, array):
        if self.survey_geom is None:
            raise RequestError("no survey yet")
        row, col = self._ds_to_pixel(*self.scope.beam_position())
        return {"row": row, "col": col}, None

    def op_blank(self, meta, array):
        self.scope.blank(True)
        return {"blanked": True}, None

    def op_unblank(self, meta, array):
        self.scope.blank(False)
        return {"blanked": False}, None

    def op_stop(self, meta, array):
        self.safe_blank()
        return {"blanked": True}, None

    def op_energy_offset(self, meta, array):
        if "eV" in meta:
            lo, hi = self.limits["energy_offset_eV"]
            eV = _finite(meta["eV"], "eV")
            if not lo <= eV <= hi:
                raise RequestError("energy offset %r eV outside [%r, %r]" % (eV, lo, hi))
            self.scope.set_energy_offset(eV)
            self.scope.camera = None  # the calibration changed: prepare again
        return {"eV": self.scope.energy_offset()}, None

    def _spectrum_settings(self, meta):
        exposure = _finite(meta.get("exposure_s", 0.0), "exposure_s") or \
            float(self.s["default_exposure_s"])
        if not 0 < exposure <= self.limits["max_exposure_s"]:
            raise RequestError("exposure_s %r outside (0, %r] (max_exposure_s)"
                               % (exposure, self.limits["max_exposure_s"]))
        binning = meta.get("binning", 1)
        if not isinstance(binning, int) or isinstance(binning, bool) or \
                not 1 <= binning <= self.limits["max_binning"]:
            raise RequestError("binning must be an integer 1..%d, got %r"
                               % (self.limits["max_binning"], binning))
        readout = meta.get("readout", [0, 0, 0, 0])
        if (not isinstance(readout, list) or len(readout) != 4 or
                not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 65536
                        for v in readout)):
            raise RequestError("readout must be [top, left, bottom, right] integers 0..65536 "
                               "(all 0 = full), got %r" % (readout,))
        return exposure, binning, readout

    def _check_dose(self, electrons):
        limit = self.limits["max_dose_e_per_A2_per_session"] * self.field_area_A2()
        if self.electrons + electrons > limit:
            raise RequestError("dose budget exhausted: %.4g e- delivered, this acquisition adds "
                               "%.4g, the session limit is %.4g e- (%.4g e-/A^2 over the field)"
                               % (self.electrons, electrons, limit,
                                  self.limits["max_dose_e_per_A2_per_session"]))

    def _spectrum(self, exposure, binning, readout):
        if self.points + 1 > self.limits["max_points_per_session"]:
            raise RequestError("point budget exhausted: %d spectra delivered, "
                               "max_points_per_session is %d"
                               % (self.points, self.limits["max_points_per_session"]))
        electrons = self.s["probe_current_pA"] * exposure * ELECTRONS_PER_PA_S
        self._check_dose(electrons)
        self.scope.prepare(exposure, binning, readout)
        if self.scope.blanked is not False:
            self.scope.blank(False)
        try:
            signal = self.scope.acquire_spectrum()
        finally:
            # Counted even when the camera failed: the beam was on.
            self.points += 1
            self.electrons += electrons
            self._save_dose()
        origin, scale, _ = self.scope.energy
        return signal, electrons, origin, scale

    def op_spectrum(self, meta, array):
        if self.survey_geom is None:
            raise RequestError("no survey yet")
        exposure, binning, readout = self._spectrum_settings(meta)
        t0 = self.now_s()
        signal, electrons, origin, scale = self._spectrum(exposure, binning, readout)
        return {"exposure_s": exposure, "electrons": electrons, "t_start_s": t0,
                "t_end_s": self.now_s(), "energy_offset_eV": origin,
                "dispersion_eV": scale}, signal

    def op_acquire_point(self, meta, array):
        """Move, acquire, read back in one round trip. Idempotent per (run, acq_id): a client
        that lost the answer asks again and gets the same measurement, not a second exposure."""
        run = str(meta.get("run", ""))[:64]
        acq_id = meta.get("acq_id")
        if not isinstance(acq_id, int) or isinstance(acq_id, bool) or acq_id < 0:
            raise RequestError("acq_id must be an integer >= 0, got %r" % (acq_id,))
        request = (meta.get("row"), meta.get("col"), meta.get("exposure_s"),
                   meta.get("mode", "point"))
        cached = self.results.get((run, acq_id))
        if cached is not None:
            m, a, asked = cached
            if asked != request:
                raise RequestError("acquisition %d of run %s was made with other parameters "
                                   "%r; refusing to answer %r with it" % (acq_id, run, asked,
                                                                           request))
            return dict(m, resumed=True), a
        exposure, binning, readout = self._spectrum_settings(meta)
        mode = self._mode(meta)
        x, y = self._pixel_to_ds(meta.get("row"), meta.get("col"))
        self._not_before(meta)
        if "si_scan" in self.capabilities:  # a rehearsal: the simulator's mode for this spectrum
            self.rehearsal.set_mode(mode)
        t0 = self.now_s()
        self.scope.move_beam(x, y)
        signal, electrons, origin, scale = self._spectrum(exposure, binning, readout)
        arow, acol = self._ds_to_pixel(*self.scope.beam_position())
        t1 = self.now_s()
        out = {"exposure_s": exposure, "electrons": electrons, "t_start_s": t0,
               "t_end_s": t1, "actual_row": arow, "actual_col": acol,
               "energy_offset_eV": origin, "dispersion_eV": scale, "acq_id": acq_id}
        self.results[(run, acq_id)] = (out, signal, request)
        self.result_order.append((run, acq_id))
        if len(self.result_order) > self.RESULT_CACHE:
            self.results.pop(self.result_order.pop(0), None)
        return out, signal


def _raise(message):
    raise RuntimeError(message)


def run_check(settings, dm, out=print):
    """--check (docs/live.md §6): runs each group of DM calls the server uses once with the beam
    blanked, before a first session on a microscope. Returns [(step, ok, message)]; prints one
    line per step. Never unblanks: a survey or patch scan with the beam blanked records noise and
    delivers no electrons. The beam is blanked again at the end whatever happened."""
    scope = Microscope(dm)
    lim = settings["limits"]
    results = []

    def step(name, fn):
        try:
            detail = fn()
            results.append((name, True, detail or ""))
            out("check %-28s ok%s" % (name, (" (" + detail + ")") if detail else ""))
        except Exception as e:  # report and go on: the point is to see everything that fails
            results.append((name, False, str(e)))
            out("check %-28s FAILED: %s" % (name, e))

    step("blank the beam", lambda: scope.blank(True))
    if scope.blanked is not True:
        out("check: the beam could not be blanked; nothing else is tried")
        return results
    exposure = min(0.01, float(lim["max_exposure_s"]))
    step("prepare the camera", lambda: (scope.prepare(exposure, 1, (0, 0, 0, 0)),
                                         "%d channels, %.4g eV/channel" % (scope.energy[2],
                                                                          scope.energy[1]))[1])
    step("dark spectrum (blanked)", lambda: "%d values" % scope.acquire_spectrum().size)
    step("read the filter offset", lambda: "%g eV" % scope.energy_offset())
    step("set the filter offset (same)", lambda: scope.set_energy_offset(scope.energy_offset()))
    def survey():
        rows, cols = settings["survey_shape"]
        dwell = max(float(lim["min_dwell_s"]), 1e-6)
        signal = int(sorted(settings["detectors"].values())[0])
        data, offset, spacing, cal = scope.survey(rows, cols, dwell, signal,
                                                  int(settings.get("survey_bytes_per_pixel", 4)))
        return ("%dx%d, DigiScan offset %r, spacing %r, pixel %r %s (%r nm), magnification %r"
                % (rows, cols, offset, spacing, cal["scale"], cal["units"], cal["pixel_size_nm"],
                   cal["magnification"]))
    step("survey scan (blanked)", survey)
    step("read the beam position", lambda: "%r" % (scope.beam_position(),))
    step("move the beam (to where it is)", lambda: scope.move_beam(*scope.beam_position()))
    step("sub-region scan 4x4 (blanked)",
         lambda: "%r" % (scope.patch(0.0, 0.0, 4, 4, max(float(lim["min_dwell_s"]), 1e-6)).shape,)
         if scope.survey_id is not None else _raise("needs the survey scan, which failed"))
    try:
        scope.blank(True)
    except Exception as e:
        out("check: WARNING: could not blank the beam at the end: %s" % e)
    failed = [r for r in results if not r[1]]
    out("check: %d of %d steps ok; beam %s" % (len(results) - len(failed), len(results),
                                               "blanked" if scope.blanked else "NOT KNOWN BLANKED"))
    return results


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(description="autostem live server for DigitalMicrograph")
    p.add_argument("--settings", default=DEFAULT_SETTINGS_PATH)
    p.add_argument("--port", type=int)
    p.add_argument("--host")
    p.add_argument("--key-file")
    p.add_argument("--port-file", help="write the bound port here (for --port 0)")
    p.add_argument("--lifetime-s", type=float, help="exit after this many seconds (tests)")
    p.add_argument("--check", action="store_true",
                   help="run each DM call once with the beam blanked and report (docs/live.md "
                        "§6); also AUTOSTEM_DM_CHECK=1 inside DM")
    p.add_argument("--settings-is-temporary", action="store_true",
                   help="remove the settings file (and its directory, when empty) once read")
    a = p.parse_args(argv)
    if DM is None:
        print("autostem-dm: the DigitalMicrograph module is not available (run inside DM, or put "
              "backends/dm/fake on PYTHONPATH for a rehearsal)", file=sys.stderr)
        return 2
    try:
        settings = load_settings(a.settings, {"port": a.port, "host": a.host,
                                              "key_file": a.key_file})
    except ValueError as e:
        print("autostem-dm: %s" % e, file=sys.stderr)
        return 2
    finally:
        if a.settings_is_temporary:
            try:
                os.remove(a.settings)
                os.rmdir(os.path.dirname(os.path.abspath(a.settings)))
            except OSError:
                pass
    if a.check or os.environ.get("AUTOSTEM_DM_CHECK") == "1":
        results = run_check(settings, DM)
        return 0 if all(ok for _, ok, _ in results) else 1
    if a.settings_is_temporary and settings.get("dose_file_is_default"):
        # A rehearsal's generated settings: no dose file next to them unless they name one.
        settings["dose_file"] = None
    try:
        server = Server(settings, DM)
    except ValueError as e:
        print("autostem-dm: %s" % e, file=sys.stderr)
        return 2
    port = server.bind()
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write("%d\n" % port)
        os.replace(tmp, a.port_file)
    server.log("listening on %s:%d (allowed clients: %s)"
               % (settings["host"], port, ", ".join(settings["allowed_clients"])))
    try:
        server.serve(a.lifetime_s)
    except KeyboardInterrupt:
        pass
    server.log("stopped; beam blanked")
    return 0


if __name__ == "__main__":
    # Inside DM there is no command line (sys.argv may be missing or empty): the settings path
    # above applies, and the script returns instead of exiting DM's interpreter.
    _argv = list(getattr(sys, "argv", None) or [])
    if len(_argv) > 1:
        sys.exit(main(_argv[1:]))
    main([])
