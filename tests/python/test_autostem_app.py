"""autostem.run / bench / estimate and strategies written in Python (issue 20, docs/python.md).

unittest test cases (pytest runs them too). Run by ctest `autostem_python_app` with
PYTHONPATH=<build>/python and AUTOSTEM_CLI = the built `autostem` tool. By hand:
    PYTHONPATH=build/python AUTOSTEM_CLI=build/apps/autostem python3 -m unittest -v \
        tests/python/test_autostem_app.py
The live rehearsal needs the autostem_sim module (target autostem_sim_py) for the fake DM
server; without it (or without the CLI) the test skips locally and fails under CI=true.
"""

import glob
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import numpy as np

import autostem

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.environ.get("AUTOSTEM_CLI", "")
CI = os.environ.get("CI") == "true"


def skip_or_fail(test, reason):
    if CI:
        test.fail("CI=true: a missing optional prerequisite is a failure: " + reason)
    test.skipTest(reason)


def cli(test, *args):
    """The autostem tool's --json summary for ARGS (a dict)."""
    if not CLI or not os.path.exists(CLI):
        skip_or_fail(test, "the autostem tool is not built (AUTOSTEM_CLI=%r)" % CLI)
    r = subprocess.run([CLI] + list(args) + ["--json"], capture_output=True, text=True, timeout=600)
    test.assertEqual(r.returncode, 0, r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


class MaxSurveyFirst:
    """maximum survey intensity first: the brightest survey pixels, in order"""

    def begin(self, survey, context):
        n = context["budget_points"] or survey.size
        order = np.argsort(-survey, axis=None, kind="stable")[:n]
        self.todo = np.column_stack(np.unravel_index(order, survey.shape)).astype(float)

    def propose(self, max_points):
        batch, self.todo = self.todo[:max_points], self.todo[max_points:]
        return batch

    def observe(self, measurements):
        pass


class RepeatsItself(MaxSurveyFirst):
    """a broken strategy: proposes the same pixel again and again, ignoring the budget"""

    def propose(self, max_points):
        return [(1.0, 1.0)] * max_points


class FailsAfterTen(MaxSurveyFirst):
    """a strategy whose observe raises after ten measurements"""

    def begin(self, survey, context):
        super().begin(survey, context)
        self.seen = 0

    def observe(self, measurements):
        self.seen += len(measurements["index"])
        if self.seen >= 10:
            raise ValueError("model diverged")


class Recorder(MaxSurveyFirst):
    """keeps what observe was given, and publishes a prediction map"""
    instances = []

    def __init__(self, scale="1"):
        self.scale = float(scale)
        Recorder.instances.append(self)

    def begin(self, survey, context):
        super().begin(survey, context)
        self.context = context
        self.shape = survey.shape
        self.batches = []

    def observe(self, measurements):
        self.batches.append({k: np.array(v) for k, v in measurements.items()})

    def prediction(self):
        return {"mean": np.full(self.shape, self.scale), "uncertainty": None, "acquisition": None}

    def parameters(self):
        return {"scale": self.scale}


autostem.register_strategy("maxsurvey", MaxSurveyFirst)
autostem.register_strategy("repeats", RepeatsItself)
autostem.register_strategy("fails", FailsAfterTen)
autostem.register_strategy("recorder", Recorder)


class RunFromPython(unittest.TestCase):
    def test_run_equals_the_cli_run(self):
        """Same options, same seed: autostem.run and `autostem run` give the same summary and
        the same measurements (one option parser, one session builder)."""
        opts = dict(phantom="nanowire", phantom_shape=(32, 32), strategy="random", seed=4,
                    budget_points=60, compute="fixed:0", profile="rsi2024-remote")
        with tempfile.TemporaryDirectory() as d:
            r = autostem.run(out=os.path.join(d, "py.h5"), **opts)
            c = cli(self, "run", "--phantom", "nanowire", "--phantom-shape", "32x32", "--strategy", "random",
                    "--seed", "4", "--budget-points", "60", "--compute", "fixed:0", "--profile",
                    "rsi2024-remote", "--out", os.path.join(d, "cli.h5"))
            for k in ("measurements", "time_s", "dose_e_per_A2", "electrons", "stop_reason", "field"):
                self.assertEqual(r.summary[k], c[k], k)
            self.assertEqual(r.summary["measurements"], 60)
            self.assertEqual(r.status, 0)
            from autostem import load_run

            other = load_run(os.path.join(d, "cli.h5"), hyperspy=False)
            np.testing.assert_array_equal(r.positions, other.record["requested"])
            np.testing.assert_array_equal(r.signals, other.record["signals"])
            self.assertEqual(int(r.measured.sum()), 60)
            self.assertEqual(r.data.shape[:2], (32, 32))

    def test_the_gil_is_released_while_cpp_runs(self):
        """Another Python thread keeps running during autostem.run (a C++ strategy: the GIL
        is never needed by the run)."""
        import threading
        ticks, stop = [0], threading.Event()

        def count():
            while not stop.is_set():
                ticks[0] += 1
                time.sleep(0.001)

        t = threading.Thread(target=count)
        t.start()
        try:
            start = time.perf_counter()
            r = autostem.run(phantom="nanowire", phantom_shape=(64, 64), strategy="grid", seed=1)
            took = time.perf_counter() - start
        finally:
            stop.set()
            t.join()
        self.assertEqual(r.summary["measurements"], 64 * 64)
        # The counter thread ticks about once a millisecond (slower on a loaded machine); with
        # the GIL held by the run it would not tick at all until the run returned.
        self.assertGreater(took, 0.2)
        self.assertGreater(ticks[0], 20)

    def test_bad_option_is_the_clis_usage_error(self):
        with self.assertRaises(autostem.UsageError) as e:
            autostem.run(phantom="nanowire", phantom_shape=(16, 16), mode="sideways")
        self.assertIn("mode", str(e.exception))
        self.assertIsInstance(e.exception, ValueError)
        with self.assertRaises(ValueError):
            autostem.run(phantom="nanowire", phantom_shape=(16, 16), strategy="no-such-strategy")

    def test_estimate_equals_the_cli(self):
        # compute fixed:0: measured strategy compute would differ between any two runs.
        e = autostem.estimate(strategy="grid", shape=(64, 64), param={"step": 4}, compute="fixed:0")
        c = cli(self, "estimate", "--strategy", "grid", "--shape", "64x64", "--param", "step=4",
                "--compute", "fixed:0")
        self.assertEqual(e["time_s"], c["time_s"])
        self.assertEqual(e["measurements"], c["measurements"])
        self.assertGreater(e["time_s"], 0)


class PythonStrategies(unittest.TestCase):
    def test_max_survey_first_conforms(self):
        self.assertIn("maxsurvey", autostem.strategy_names())
        self.assertEqual(autostem.conformance("maxsurvey"), [])

    def test_a_broken_strategy_fails_conformance(self):
        failures = autostem.conformance("repeats")
        self.assertTrue(any("twice" in f for f in failures), failures)
        self.assertTrue(any("budget" in f or "still proposes" in f for f in failures), failures)

    def test_runs_in_the_session_and_sees_numpy_measurements(self):
        Recorder.instances.clear()
        r = autostem.run(phantom="nanowire", phantom_shape=(24, 24), strategy="recorder", seed=2,
                         budget_points=25, batch=4, param={"scale": 3}, prediction_every=10)
        self.assertEqual(r.summary["measurements"], 25)
        self.assertEqual(r.summary["stop_reason"], "budget_points")
        rec = Recorder.instances[-1]
        self.assertEqual(rec.context["budget_points"], 25)
        self.assertEqual((rec.context["field_rows"], rec.context["field_cols"]), (24, 24))
        got = {k: np.concatenate([b[k] for b in rec.batches]) for k in rec.batches[0]}
        # What the strategy observed is what the results file holds, in order.
        np.testing.assert_array_equal(got["requested"], r.positions)
        np.testing.assert_array_equal(got["signal"], r.signals)
        np.testing.assert_array_equal(got["index"], np.arange(25))
        self.assertTrue(all(len(b["index"]) <= 4 for b in rec.batches))
        # The brightest survey pixels first (the survey the strategy saw is the file's).
        survey = r.result.record["survey"]["image"]
        first = tuple(int(v) for v in r.positions[0])
        self.assertEqual(survey[first], survey.max())
        # Its prediction maps and parameters reach the results file.
        preds = r.predictions
        self.assertTrue(preds)
        np.testing.assert_array_equal(next(iter(preds.values()))["mean"], np.full((24, 24), 3.0))
        self.assertEqual(r.result.summary["strategy_parameters"]["scale"], "3.0")

    def test_an_exception_in_python_ends_the_run_keeping_the_measurements(self):
        with self.assertRaises(autostem.RunError) as e:
            autostem.run(phantom="nanowire", phantom_shape=(16, 16), strategy="fails", budget_points=50)
        self.assertIn("model diverged", str(e.exception))
        self.assertIn("fails.observe", str(e.exception))
        res = e.exception.result
        self.assertEqual(res.summary["stop_reason"], "error")
        self.assertGreaterEqual(res.summary["measurements"], 10)
        self.assertEqual(len(res.positions), res.summary["measurements"])

    def test_benched_beside_a_cpp_strategy(self):
        b = autostem.bench(phantom=["nanowire:32x32"], strategies=["random", "maxsurvey"], seeds=2,
                           budget_points=40)
        self.assertEqual(b.status, 0, b.stdout)
        self.assertEqual(sorted(b.strategies()), ["maxsurvey", "random"])
        self.assertEqual(len(b.runs), 4)
        for run in b.runs:
            self.assertEqual(run["error"], "")
            self.assertEqual(len(run["recall_curve"]), run["measurements"])
            self.assertTrue(np.all(np.diff(run["dose_curve"]) >= 0))
        self.assertEqual(len(b.summary), 4)
        dose, recall = b.curve("maxsurvey")
        self.assertEqual(len(dose), len(recall))
        self.assertTrue(0 <= recall[-1] <= 1)


class ReconstructKeepsTheSourceMetadata(unittest.TestCase):
    def test_reconstruction_of_a_run_over_a_dm_file_keeps_its_metadata(self):
        """Issue 20: `autostem reconstruct` of a run simulated over a DM spectrum image writes
        the source's Acquisition_instrument (HyperSpy's names, as hs.load of the DM file gives
        them) and its tags in original_metadata."""
        data = os.environ.get("AUTOSTEM_DATA") or os.environ.get("AUTOSTEM_DEFAULT_DATA") or ""
        src = os.path.join(data, "eels", "si_dm4", "EELS_SI.dm4")
        if not os.path.exists(src):
            skip_or_fail(self, "dataset missing: " + src)
        try:
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import hyperspy.api as hs
        except ImportError:
            skip_or_fail(self, "HyperSpy is not installed")
        with tempfile.TemporaryDirectory() as d:
            run = autostem.run(dataset=src, strategy="random", seed=1,  # a 2×2 spectrum image
                               out=os.path.join(d, "run.h5"))
            self.assertEqual(run.summary["measurements"], 4)
            out = os.path.join(d, "map.hspy")
            if not CLI or not os.path.exists(CLI):
                skip_or_fail(self, "the autostem tool is not built")
            r = subprocess.run([CLI, "reconstruct", run.path, "--method", "linear", "--out", out],
                               capture_output=True, text=True, timeout=600)
            self.assertEqual(r.returncode, 0, r.stderr)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ours, ref = hs.load(out), hs.load(src)
            ai_ref = ref.metadata.Acquisition_instrument.as_dictionary()
            ai_ours = ours.metadata.Acquisition_instrument.as_dictionary()
            self.assertEqual(ai_ours["TEM"]["beam_energy"], ai_ref["TEM"]["beam_energy"])
            self.assertEqual(ai_ours["TEM"]["convergence_angle"], ai_ref["TEM"]["convergence_angle"])
            self.assertEqual(ai_ours["TEM"]["Detector"]["EELS"]["collection_angle"],
                             ai_ref["TEM"]["Detector"]["EELS"]["collection_angle"])
            self.assertEqual(ai_ours["TEM"]["microscope"], ai_ref["TEM"]["microscope"])
            tags = ours.original_metadata.ImageList.TagGroup0.ImageTags.as_dictionary()
            ref_tags = ref.original_metadata.ImageList.TagGroup0.ImageTags.as_dictionary()
            self.assertEqual(tags["Microscope Info"]["Voltage"], ref_tags["Microscope Info"]["Voltage"])
            self.assertEqual(ours.metadata.Reconstruction.method, "linear")


class LiveAgainstTheFakeDmServer(unittest.TestCase):
    def test_python_strategy_runs_live(self):
        """`autostem dm-server --fake` on loopback, autostem.run(backend="dm") with the Python
        strategy: the budget of points measured through the real server script."""
        if not CLI or not os.path.exists(CLI):
            skip_or_fail(self, "the autostem tool is not built (AUTOSTEM_CLI=%r)" % CLI)
        pkg = os.path.dirname(os.path.dirname(autostem.__file__))
        if not glob.glob(os.path.join(pkg, "autostem_sim*.so")):
            skip_or_fail(self, "autostem_sim (target autostem_sim_py) is not built: the fake DM server needs it")
        work = tempfile.mkdtemp(prefix="autostem-live-py-")
        server = None
        try:
            key = os.path.join(work, "key")
            with open(key, "w") as f:
                f.write(os.urandom(32).hex())
            port_file = os.path.join(work, "port")
            server = subprocess.Popen(
                [CLI, "dm-server", "--fake", "--phantom", "nanowire", "--phantom-shape", "32x32", "--seed", "2",
                 "--port", "0", "--port-file", port_file, "--key-file", key, "--lifetime-s", "120"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for _ in range(600):
                if os.path.exists(port_file) and os.path.getsize(port_file):
                    break
                time.sleep(0.1)
            else:
                self.fail("the fake DM server did not start: " + server.stderr.read().decode())
            with open(port_file) as f:
                port = f.read().strip()
            r = autostem.run(backend="dm", port=port, key_file=key, strategy="maxsurvey", seed=2,
                             exposure=0.05, dwell=1e-5, budget_points=15, out=os.path.join(work, "live.h5"))
            self.assertEqual(r.summary["measurements"], 15)
            self.assertEqual(r.summary["stop_reason"], "budget_points")
            survey = r.result.record["survey"]["image"]
            first = tuple(int(v) for v in r.positions[0])
            self.assertEqual(survey[first], survey.max())
        finally:
            if server is not None:
                server.kill()
                server.wait()
                server.stderr.close()
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
