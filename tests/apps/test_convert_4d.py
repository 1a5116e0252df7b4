#!/usr/bin/python3
"""4D-STEM files through `autostem convert` (issue 19): the Merlin .mib fixtures and the FPD HDF5
file of ../shared/datasets/4dstem become .hspy files that HyperSpy opens as 4D signals
(navigation (x, y), signal (kx, ky)) whose data equal (a) the detector file decoded here with
NumPy (MIB: big-endian frames after each header, rows in file order; FPD: h5py, colour axis
dropped) and (b) HyperSpy's own load of the same array saved by HyperSpy itself.

Run by ctest with AUTOSTEM_BIN set; AUTOSTEM_DATA names the datasets. Missing HyperSpy: exit 77.
"""
import os
import subprocess
import sys
import tempfile
import unittest
import warnings

try:
    import numpy as np
    import h5py
    import hyperspy.api as hs
except ImportError as e:  # pragma: no cover
    if os.environ.get("CI") == "true":
        print(f"CI=true: missing prerequisite {e}", file=sys.stderr)
        sys.exit(1)
    print(f"autostem: SKIPPED test_convert_4d: {e}", file=sys.stderr)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("AUTOSTEM_DATA") or os.path.join(HERE, "..", "..", "..", "shared", "datasets")
BIN = os.environ.get("AUTOSTEM_BIN", "autostem")


def mib_frames(path):
    with open(path, "rb") as f:
        raw = f.read()
    head = raw[:768].decode("ascii", "replace").split(",")
    hs_, w, h, t = int(head[2]), int(head[4]), int(head[5]), head[6]
    dt = {"U08": "u1", "U16": ">u2", "U32": ">u4"}[t]
    stride = hs_ + w * h * np.dtype(dt).itemsize
    n = len(raw) // stride
    a = np.frombuffer(raw[: n * stride], dtype=np.uint8).reshape(n, stride)[:, hs_:]
    return np.ascontiguousarray(a).view(dt).reshape(n, h, w).astype(dt.replace(">", "<"))


def load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hs.load(path)


class Convert4D(unittest.TestCase):
    def convert(self, src, env=None):
        out = os.path.join(self.tmp.name, os.path.basename(src) + ".hspy")
        r = subprocess.run([BIN, "convert", src, out], capture_output=True, text=True,
                           env={**os.environ, **(env or {})})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return load(out)

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def check_same_as_hyperspy_own(self, s, expected):
        self.assertEqual(s.axes_manager.navigation_dimension, 2)
        self.assertEqual(s.axes_manager.signal_dimension, 2)
        self.assertEqual(s.data.shape, expected.shape)
        self.assertEqual(s.data.dtype, expected.dtype)
        np.testing.assert_array_equal(s.data, expected)
        own_path = os.path.join(self.tmp.name, "own.hspy")
        hs.signals.Signal2D(expected).save(own_path, overwrite=True)
        own = load(own_path)
        self.assertEqual(own.axes_manager.navigation_shape, s.axes_manager.navigation_shape)
        self.assertEqual(own.axes_manager.signal_shape, s.axes_manager.signal_shape)
        np.testing.assert_array_equal(own.data, s.data)

    def test_merlin_scan_with_caller_shape(self):
        src = os.path.join(DATA, "4dstem", "merlin", "001_4x2_6bit.mib")
        if not os.path.exists(src):
            self.skipTest("dataset missing")
        s = self.convert(src, {"AUTOSTEM_MIB_SCAN": "2x4"})
        expected = mib_frames(src).reshape(2, 4, 256, 256)
        self.check_same_as_hyperspy_own(s, expected)
        self.assertEqual(int(s.data.sum()), 3623664)  # MANIFEST

    def test_merlin_every_fixture(self):
        for name in ["002_4x2_6bit_roi128.mib", "Single_9_Frame_CounterDepth_12_Rows_256.mib",
                     "Quad_1_Frame_CounterDepth_24_Rows_256.mib"]:
            with self.subTest(name=name):
                src = os.path.join(DATA, "4dstem", "merlin", name)
                if not os.path.exists(src):
                    self.skipTest("dataset missing")
                s = self.convert(src)
                frames = mib_frames(src)
                self.check_same_as_hyperspy_own(s, frames.reshape(1, *frames.shape))

    def test_fpd_hdf5(self):
        src = os.path.join(DATA, "4dstem", "fpd_merlin", "fpd_file_test.hdf5")
        if not os.path.exists(src):
            self.skipTest("dataset missing")
        s = self.convert(src)
        with h5py.File(src, "r") as f:
            expected = f["fpd_expt/fpd_data/data"][...][:, :, 0].astype("<u2")
        self.check_same_as_hyperspy_own(s, expected)
        self.assertEqual(int(s.data.max()), 3493)


if __name__ == "__main__":
    unittest.main()
