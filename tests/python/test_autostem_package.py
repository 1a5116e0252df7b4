"""The `autostem` Python package (python/autostem, docs/python.md; issue 20), with unittest.

Run by ctest (tests/python/CMakeLists.txt) with PYTHONPATH=<build>/python, AUTOSTEM_CLI = the
built `autostem` tool and AUTOSTEM_DATA = ../shared/datasets. By hand:
    PYTHONPATH=build/python AUTOSTEM_CLI=build/apps/autostem python3 -m unittest -v \
        tests/python/test_autostem_package.py
A missing dataset, HyperSpy or CLI skips locally and fails under CI=true (the project's
skip-or-fail convention, tests/support/skip_or_fail.hpp).
"""

import gc
import math
import os
import subprocess
import tempfile
import unittest
import warnings

import numpy as np

import autostem
from autostem import _core

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = (os.environ.get("AUTOSTEM_DATA") or os.environ.get("AUTOSTEM_DEFAULT_DATA")
        or os.path.join(ROOT, "..", "shared", "datasets"))
CLI = os.environ.get("AUTOSTEM_CLI", "")
CI = os.environ.get("CI") == "true"

# Formats this comparison covers (told by content, as the readers do).
COMPARED_FORMATS = {"dm3", "dm4", "ser", "hspy", "emd_berkeley", "emd_velox"}
# Length units, for comparing calibrations HyperSpy gives in other units than autostem (DM
# spectrum images in µm, autostem in nm).
TO_NM = {"nm": 1.0, "µm": 1e3, "um": 1e3, "m": 1e9, "pm": 1e-3, "Å": 0.1, "A": 0.1}


def skip_or_fail(test, reason):
    """A missing optional prerequisite: a failure under CI=true, a skip otherwise."""
    if CI:
        test.fail("CI=true: a missing optional prerequisite is a failure: " + reason)
    test.skipTest(reason)


def hyperspy_api(test):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import hyperspy.api as hs
        return hs
    except ImportError:
        skip_or_fail(test, "HyperSpy is not installed (Debian python3-hyperspy)")


def hs_load(hs, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = hs.load(path)
    return s if isinstance(s, list) else [s]


def dataset_files():
    """Every file of the datasets autostem reads and this test compares, sorted."""
    out = []
    for d, _, names in os.walk(DATA):
        for n in names:
            if os.path.splitext(n)[1].lower() not in (".dm3", ".dm4", ".ser", ".emd", ".hspy", ".hdf5", ".h5"):
                continue
            p = os.path.join(d, n)
            if _core.detect_format(p) in COMPARED_FORMATS:
                out.append(p)
    return sorted(out)


def physical(scale, offset, units):
    """(scale, offset, units) in nm when the units are lengths, unchanged otherwise."""
    f = TO_NM.get(units)
    return (scale * f, offset * f, "nm") if f else (scale, offset, units)


def hs_units(u):
    return "" if u in (None, "<undefined>") or not isinstance(u, str) else u


class LoadTest(unittest.TestCase):
    def test_numpy_load_shares_memory_and_keeps_owner_alive(self):
        # MANIFEST.md: dm/rosettasciio/2D/test-1.dm3 is int16 [[1, 2], [3, 4]].
        path = os.path.join(DATA, "dm", "rosettasciio", "2D", "test-1.dm3")
        if not os.path.exists(path):
            skip_or_fail(self, "test dataset missing: " + path + " (set AUTOSTEM_DATA)")
        sigs = autostem.load(path)
        self.assertEqual(len(sigs), 1)
        data = sigs[0]["data"]
        self.assertFalse(data.flags.owndata)  # a view on the reader's buffer, not a copy
        self.assertIsNotNone(data.base)
        del sigs
        gc.collect()
        np.testing.assert_array_equal(data, np.array([[1, 2], [3, 4]], dtype=np.int16))
        self.assertEqual(data.dtype, np.int16)

    def test_load_missing_file_names_it(self):
        with self.assertRaises(RuntimeError) as cm:
            autostem.load("/nonexistent/file.dm3")
        self.assertIn("/nonexistent/file.dm3", str(cm.exception))

    def test_load_matches_hyperspy(self):
        hs = hyperspy_api(self)
        files = dataset_files()
        if not files:
            skip_or_fail(self, "no DM/SER/EMD/.hspy files under " + DATA + " (set AUTOSTEM_DATA)")
        compared = 0
        for path in files:
            rel = os.path.relpath(path, DATA)
            with self.subTest(file=rel):
                ours = autostem.load(path, hyperspy=True)
                ours = ours if isinstance(ours, list) else [ours]
                try:
                    theirs = hs_load(hs, path)
                except OSError as e:  # e.g. fpd_file_test.hdf5: an EMD HyperSpy does not read
                    self.skipTest("HyperSpy cannot read it: %s" % e)
                self.assertEqual(len(ours), len(theirs), "number of signals")
                for a, b in zip(ours, theirs):
                    self.compare(path, a, b)
                compared += 1
        self.assertGreater(compared, 0)

    def compare(self, path, a, b):
        """autostem's signal a against HyperSpy's b: class, data, axes, original_metadata keys."""
        self.assertEqual(type(a).__name__, type(b).__name__, "signal class")
        if os.path.basename(path) == "test_fft_packed_complex8.dm4":
            # Known difference: autostem unpacks DM's packed-complex FFT into the full (5, 5)
            # array; HyperSpy 1.7.3 returns the packed half (5, 4). Nothing more to compare.
            self.assertEqual((a.data.shape, b.data.shape), ((5, 5), (5, 4)))
            return
        self.assertEqual(a.data.shape, b.data.shape, "shape")
        if b.data.dtype == np.float16:
            # Known difference: autostem's readers have no float16; they widen it to float32.
            self.assertEqual(a.data.dtype, np.float32, "float16 widened to float32")
        else:
            self.assertEqual(a.data.dtype, b.data.dtype, "dtype")
        np.testing.assert_array_equal(a.data, b.data, "data")
        for ax_a, ax_b in zip(a.axes_manager._axes, b.axes_manager._axes):
            self.assertEqual(ax_a.size, ax_b.size)
            self.assertEqual(ax_a.navigate, ax_b.navigate, "navigate of axis " + str(ax_b.name))
            sa, oa, ua = physical(ax_a.scale, ax_a.offset, hs_units(ax_a.units))
            ob_raw = ax_b.offset
            if _core.detect_format(path) == "ser" and hs_units(ax_b.units) == "nm":
                # Known HyperSpy 1.7.3 bug: its SER reader converts the scale to nm but leaves
                # the offset in metres (-5.13e-09 "nm" for 16_STOimage_1.ser).
                ob_raw = ax_b.offset * 1e9
            sb, ob, ub = physical(ax_b.scale, ob_raw, hs_units(ax_b.units))
            self.assertEqual(ua, ub, "units of axis " + str(ax_b.name))
            self.assertTrue(math.isclose(sa, sb, rel_tol=1e-6), "scale %r vs %r" % (sa, sb))
            self.assertTrue(math.isclose(oa, ob, rel_tol=1e-6, abs_tol=1e-6 * abs(sb)),
                            "offset %r vs %r (axis %s)" % (oa, ob, ax_b.name))
        keys_b = set(b.original_metadata.keys()) - {"root"}  # HyperSpy's empty DM 'root' node
        keys_a = set(a.original_metadata.keys())
        if _core.detect_format(path) in ("dm3", "dm4", "hspy"):
            self.assertEqual(keys_a, keys_b, "original_metadata top-level keys")

    def test_ser_rows_match_hyperspy(self):
        # TIA stores rows bottom-up; autostem flips them as HyperSpy and ncempy do (docs/readers.md).
        hs = hyperspy_api(self)
        path = os.path.join(DATA, "haadf", "sto_ser", "16_STOimage_1.ser")
        if not os.path.exists(path):
            skip_or_fail(self, "test dataset missing: " + path)
        a = autostem.load(path)[0]["data"]
        b = hs_load(hs, path)[0].data
        np.testing.assert_array_equal(a, b)


def run_cli(test, out, *args):
    if not CLI or not os.path.exists(CLI):
        skip_or_fail(test, "the autostem tool is not built (AUTOSTEM_CLI=%r)" % CLI)
    cmd = [CLI, "run", "--phantom", "nanowire", "--phantom-shape", "32x32", "--profile", "ideal",
           "--seed", "1", "--out", out] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    test.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class LoadRunTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_grid_run_equals_ground_truth_up_to_noise(self):
        out = os.path.join(self.tmp.name, "grid.h5")
        run_cli(self, out, "--strategy", "grid")
        run = autostem.load_run(out, hyperspy=False)
        truth = autostem.phantom("nanowire", 1, 32, 32)
        self.assertTrue(run.measured.all(), "a grid run measures every pixel")
        rec = run.record
        # The simulator's spectrum: Poisson(λ) + N(0, σ²) per channel with
        # λ = truth × (current / recorded current) × (exposure / recorded exposure), profile
        # 'ideal' (gain 1, dark 0, σ = 2, no drift). Over C channels the total T has mean Λ = Σλ
        # and variance Λ + C σ²: every pixel's |T − Λ| < 5 sd (fixed seed).
        scale = (rec["probe_current_pA"][0] / truth["recorded"]["probe_current_pA"]
                 * rec["exposure_s"][0] / truth["recorded"]["exposure_s"])
        lam = np.clip(truth["spectrum_image"].astype(np.float64) * scale, 0, None)
        channels = lam.shape[2]
        total_measured = run.data.sum(axis=2)
        total_expected = lam.sum(axis=2)
        sd = np.sqrt(total_expected + channels * 4.0)
        z = (total_measured - total_expected) / sd
        self.assertLess(np.abs(z).max(), 5.0)
        # Per channel, z = (m − λ)/sqrt(λ + σ²) has mean 0 and variance 1: its mean over all
        # n values is within 5/sqrt(n) of 0.
        zc = (run.data - lam) / np.sqrt(lam + 4.0)
        self.assertLess(abs(zc.mean()), 5.0 / math.sqrt(zc.size))
        self.assertEqual(run.summary["strategy"], "grid")
        self.assertEqual(run.summary["seed"], 1)

    def test_random_run_nan_exactly_where_unmeasured(self):
        out = os.path.join(self.tmp.name, "random.h5")
        run_cli(self, out, "--strategy", "random", "--budget-points", "200")
        run = autostem.load_run(out, hyperspy=False)
        req = np.rint(run.record["requested"]).astype(int)
        measured = np.zeros((32, 32), bool)
        measured[req[:, 0], req[:, 1]] = True
        self.assertEqual(len(req), 200)
        self.assertLess(measured.sum(), 32 * 32)
        nan_pixels = np.isnan(run.data).all(axis=2)
        np.testing.assert_array_equal(nan_pixels, ~measured)
        self.assertFalse(np.isnan(run.data[measured]).any())
        self.assertEqual(run.summary["stop_reason"], "budget_points")

        hs = hyperspy_api(self)
        s = autostem.load_run(out).signal
        self.assertIsInstance(s, hs.signals.EELSSpectrum)
        self.assertEqual(s.data.shape, run.data.shape)
        y, x, e = s.axes_manager._axes
        px = run.record["survey"]["pixel_size_nm"]
        self.assertAlmostEqual(y.scale, px)
        self.assertAlmostEqual(x.scale, px)
        self.assertEqual(y.units, "nm")
        self.assertAlmostEqual(e.scale, run.record["energy"]["dispersion_eV"])
        self.assertAlmostEqual(e.offset, run.record["energy"]["offset_eV"])
        md = s.metadata.autostem
        self.assertEqual(md.strategy, "random")
        self.assertEqual(md.seed, 1)
        self.assertEqual(md.profile, "ideal")
        self.assertEqual(md.stop_reason, "budget_points")
        sv = autostem.load_run(out).survey
        self.assertEqual(sv.data.shape, (32, 32))
        self.assertAlmostEqual(sv.axes_manager[0].scale, px)

    def test_predictions_are_maps_on_the_survey_grid(self):
        out = os.path.join(self.tmp.name, "edge.h5")
        run_cli(self, out, "--strategy", "edge", "--budget-points", "60")
        run = autostem.load_run(out, hyperspy=False)
        self.assertEqual(sorted(run.predictions), sorted(run.record["prediction_steps"]))
        # edge stores its acquisition map at least at the end (the last prediction is always kept).
        self.assertTrue(any(m[n] is not None for m in run.predictions.values()
                            for n in ("mean", "uncertainty", "acquisition")))
        for step, maps in run.predictions.items():
            for name in ("mean", "uncertainty", "acquisition"):
                if maps[name] is not None:
                    self.assertEqual(maps[name].shape, (32, 32), "%s at step %d" % (name, step))

    def test_not_a_results_file_is_named(self):
        path = os.path.join(self.tmp.name, "nothing.h5")
        with open(path, "wb") as f:
            f.write(b"not hdf5")
        with self.assertRaises(RuntimeError) as cm:
            autostem.load_run(path, hyperspy=False)
        self.assertIn("nothing.h5", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
