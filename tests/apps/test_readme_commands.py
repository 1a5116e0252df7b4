#!/usr/bin/python3
"""Every command of README.md runs as written and gives what the docs say of it (issue 21).

The commands are read from README.md itself — every line of a fenced code block that starts with
`build/apps/autostem` (with its `\\` continuation lines, without its trailing `# comment`) — so a
command added to the README without a check here fails this test. Each runs with `bash -c`, text
unchanged, in a scratch directory laid out like the README assumes: `build/apps/autostem` is the
tool under test and `../shared/datasets` the datasets (AUTOSTEM_DATA).

Three kinds of README line are not run verbatim, each for a stated reason:
- `autostem bench …`: run by `Cli.ReadmeBenchExamplesReproduceTheValidationVerdicts`
  (tests/apps/test_cli.cpp) with 3 seeds instead of 10 and its verdict checked there; this test
  checks that that C++ test still exists.
- `… --backend dm ... --resume …`: a pattern with `...` for the connection options, not a command
  (the live rehearsal is `dm_cli_rehearsal`, tests/backends/cli_dm_rehearsal.sh).
- `my_haadf.dm4`: the reader's own survey. It is replaced by the CuZn HAADF survey of the datasets
  (a 50×40 image), which keeps the DKL estimate to seconds.

Run by ctest (tests/apps/CMakeLists.txt) with AUTOSTEM_BIN set. A missing dataset, h5py, HyperSpy
or LibTorch build skips locally and fails under CI=true (tests/support/skip_or_fail.hpp).
"""
import csv
import math
import os
import re
import shlex
import subprocess
import sys
import tempfile
import unittest

IN_CI = os.environ.get("CI") == "true"
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.normpath(os.path.join(HERE, "..", ".."))
DATA = os.environ.get("AUTOSTEM_DATA") or os.path.join(SOURCE, "..", "shared", "datasets")
BIN = os.environ.get("AUTOSTEM_BIN", os.path.join(SOURCE, "build", "apps", "autostem"))
SURVEY_STANDIN = "../shared/datasets/eels/cuzn_si/CuZn_HAADF.hspy"


def skip_or_fail(test, reason):
    if IN_CI:
        test.fail("CI=true: a missing prerequisite is a failure: " + reason)
    test.skipTest(reason)


def readme_commands():
    """The README's `build/apps/autostem …` commands, continuation lines joined, comments cut."""
    commands, in_code, pending = [], False, None
    with open(os.path.join(SOURCE, "README.md"), encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("```"):
                in_code = not in_code
                continue
            if not in_code:
                continue
            if pending is not None:
                pending += " " + line.strip()
            elif line.startswith("build/apps/autostem"):
                pending = line.strip()
            else:
                continue
            if pending.endswith("\\"):
                pending = pending[:-1].rstrip()
                continue
            commands.append(re.sub(r"\s+#.*$", "", pending).strip())
            pending = None
    return commands


def parse_summary(text):
    """`name   value` lines of `run` / `estimate` output → {name: value}."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^\s{1,2}(\S[\w .-]*?)\s{2,}(.*)$", line)
        if m:
            out.setdefault(m.group(1).strip(), m.group(2).strip())
    return out


def h5_attrs(path):
    import h5py
    with h5py.File(path, "r") as f:
        return dict(f.attrs), f["measurements/position_px"].shape[0] if "measurements/position_px" in f else None


class ReadmeCommands(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="autostem_readme_")
        cls.work = os.path.join(cls.tmp.name, "work")
        os.makedirs(os.path.join(cls.work, "build", "apps"))
        os.makedirs(os.path.join(cls.tmp.name, "shared"))
        os.symlink(os.path.abspath(BIN), os.path.join(cls.work, "build", "apps", "autostem"))
        os.symlink(os.path.abspath(DATA), os.path.join(cls.tmp.name, "shared", "datasets"))
        cls.commands = readme_commands()
        cls.ran = set()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def readme(self, pattern):
        """The one README command matching `pattern` (a regex)."""
        found = [c for c in self.commands if re.search(pattern, c)]
        self.assertEqual(len(found), 1, "README commands matching %r: %r" % (pattern, found))
        return found[0]

    def run_readme(self, pattern, needs=(), torch=False, timeout=600):
        cmd = self.readme(pattern)
        type(self).ran.add(cmd)
        if not os.path.exists(BIN):
            skip_or_fail(self, "the autostem tool is not built: " + BIN)
        for rel in needs:
            if not os.path.exists(os.path.join(DATA, rel)):
                skip_or_fail(self, "test dataset missing: %s (set AUTOSTEM_DATA)" % rel)
        if torch and "dkl" not in subprocess.run([BIN, "strategies"], capture_output=True, text=True).stdout:
            skip_or_fail(self, "this autostem is built without LibTorch (no dkl/dcnn): " + cmd)
        cmd = cmd.replace("my_haadf.dm4", SURVEY_STANDIN)
        r = subprocess.run(["bash", "-c", cmd], cwd=self.work, capture_output=True, text=True,
                           timeout=timeout)
        text = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, "README command failed: %s\n%s" % (cmd, text[-3000:]))
        return text

    def path(self, name):
        return os.path.join(self.work, name)

    # --- the commands, in README order ------------------------------------------------------

    def test_info_names_the_spectrum_image(self):
        out = self.run_readme(r"^build/apps/autostem info ", ["eels/cuzn_si"])
        self.assertIn("50 × 40 × 162 (y, x, E)", out)  # MANIFEST: CuZn SI
        self.assertIn("Energy loss", out)

    def test_convert_output_loads_in_hyperspy_as_the_ser(self):
        self.run_readme(r"autostem convert .*16_STOimage_1\.ser", ["haadf/sto_ser"])
        try:
            import numpy as np
            import hyperspy.api as hs
        except ImportError as e:
            skip_or_fail(self, "HyperSpy not installed: %s" % e)
        ours = hs.load(self.path("sto.hspy"))
        theirs = hs.load(os.path.join(DATA, "haadf/sto_ser/16_STOimage_1.ser"))
        self.assertEqual(ours.data.shape, theirs.data.shape)
        self.assertTrue(np.array_equal(ours.data, theirs.data), "convert differs from hs.load of the SER")

    def test_grid_run_measures_every_pixel_of_the_cuzn_field(self):
        out = self.run_readme(r"run --dataset .*--strategy grid", ["eels/cuzn_si"])
        s = parse_summary(out)
        self.assertTrue(s["measurements"].startswith("2000 "), s["measurements"])  # 50 × 40
        self.assertEqual(s["stopped"], "strategy_done")
        attrs, rows = h5_attrs(self.path("run.h5"))
        self.assertEqual(rows, 2000)

    def test_random_run_stops_at_its_budget(self):
        out = self.run_readme(r"--phantom nanowire --strategy random --budget-points 200")
        s = parse_summary(out)
        self.assertTrue(s["measurements"].startswith("200 "), s["measurements"])
        self.assertEqual(s["stopped"], "budget_points")
        self.assertEqual(h5_attrs(self.path("r.h5"))[1], 200)

    def test_estimate_on_a_survey_states_its_assumptions(self):
        out = self.run_readme(r"estimate --survey \.\./shared/.*CuZn_HAADF\.hspy --strategy edge$",
                              ["eels/cuzn_si"])
        self.assertIn("assumptions", out)
        self.assertRegex(out, r"field\s+50x40 px .*<- survey file")
        self.assertRegex(out, r"pixel size\s+0\.9214 nm\s+<- survey file")
        s = parse_summary(out.split("\n plan\n")[-1])
        self.assertGreater(int(s["measurements"].split()[0]), 0)

    def test_estimate_grid_gives_the_validation_time(self):
        out = self.run_readme(r"estimate --profile rsi2024-remote --strategy grid --shape 128x128")
        s = parse_summary(out)
        self.assertTrue(s["measurements"].startswith("16384 "))
        self.assertIn("(4125 s;", s["experiment time"])  # docs/validation.md, instrument timing

    def test_estimate_137_points_gives_the_validation_time(self):
        out = self.run_readme(r"estimate --profile rsi2024-remote --points 137")
        s = parse_summary(out)
        self.assertTrue(s["measurements"].startswith("137 "))
        m = re.search(r"\(([\d.]+) s;", s["experiment time"])
        self.assertAlmostEqual(float(m.group(1)), 128, delta=0.5)  # docs/validation.md: 128 s

    def test_bench_commands_are_checked_by_the_cli_test(self):
        benches = [c for c in self.commands if " bench " in c]
        self.assertTrue(benches)
        type(self).ran.update(benches)
        with open(os.path.join(SOURCE, "tests", "apps", "test_cli.cpp"), encoding="utf-8") as f:
            self.assertIn("ReadmeBenchExamplesReproduceTheValidationVerdicts", f.read())

    def test_cs_run_then_reconstruct_gives_the_map(self):
        out = self.run_readme(r"--strategy cs --param fraction=0\.1")
        s = parse_summary(out)
        n = int(s["measurements"].split()[0])
        self.assertAlmostEqual(n / 16384, 0.1, delta=0.005)  # fraction=0.1 of the 128² field
        self.run_readme(r"^build/apps/autostem reconstruct cs\.h5")
        try:
            import h5py
        except ImportError as e:
            skip_or_fail(self, "h5py not installed: %s" % e)
        with h5py.File(self.path("map.hspy"), "r") as f:
            shapes = []
            f.visititems(lambda name, obj: shapes.append(obj.shape) if name.endswith("/data") else None)
        self.assertIn((128, 128), shapes)

    def test_dkl_run_measures_its_budget(self):
        out = self.run_readme(r"--strategy dkl --scalarizer band_mean", torch=True)
        s = parse_summary(out)
        self.assertTrue(s["measurements"].startswith("100 "), s["measurements"])
        self.assertEqual(s["stopped"], "budget_points")

    def test_atoms_dcnn_on_graphene_gives_the_documented_f1(self):
        out = self.run_readme(r"autostem atoms .*G-Si-2nm\.npy --method dcnn", ["haadf/graphene"], torch=True)
        self.assertIn("153 atoms", out)  # docs/validation.md, dcnn table: 153 found (issue-15 ensemble, default settings)
        found = [(float(r["row_px"]), float(r["col_px"]))
                 for r in csv.DictReader(open(self.path("atoms.csv")))]
        truth = [(float(r[0]), float(r[1])) for r in csv.reader(open(
            os.path.join(DATA, "haadf/graphene/G-Si-2nm-atoms.csv"))) if r and not r[0].startswith(("#", "row"))]
        self.assertEqual(len(truth), 140)  # MANIFEST
        # F1 at a 3 px match radius, one-to-one (greedy by distance, as match_atoms).
        pairs = sorted((math.dist(a, b), i, j) for i, a in enumerate(found) for j, b in enumerate(truth)
                       if math.dist(a, b) <= 3.0)
        used_f, used_t, tp = set(), set(), 0
        for _, i, j in pairs:
            if i not in used_f and j not in used_t:
                used_f.add(i), used_t.add(j)
                tp += 1
        f1 = 2 * tp / (len(found) + len(truth))
        self.assertAlmostEqual(f1, 0.956, delta=0.01)  # docs/validation.md: F1 0.956 (default settings; 0.827 with denoise=none)

    def test_dcnn_run_on_the_lattice_measures_the_defects(self):
        out = self.run_readme(r"--phantom lattice --strategy dcnn --param target=defects", torch=True)
        m = re.search(r"(\d+) targets \(defects\), (\d+) planned", out)
        self.assertIsNotNone(m, out)
        self.assertGreater(int(m.group(1)), 0)
        s = parse_summary(out)
        self.assertEqual(int(s["measurements"].split()[0]), int(m.group(2)))
        self.assertEqual(s["stopped"], "strategy_done")

    def test_profiles_lists_the_shipped_profiles(self):
        out = self.run_readme(r"^build/apps/autostem profiles$")
        for name in ("rsi2024-remote", "rsi2024-local", "ideal"):
            self.assertIn(name, out)

    def test_estimate_on_my_survey_edge(self):
        out = self.run_readme(r"estimate --survey my_haadf\.dm4 --strategy edge$", ["eels/cuzn_si"])
        self.assertIn("<- survey file", out)

    def test_estimate_on_my_survey_dkl_charges_the_stated_compute(self):
        out = self.run_readme(r"estimate --survey my_haadf\.dm4 --strategy dkl", ["eels/cuzn_si"], torch=True)
        s = parse_summary(out.split("\n plan\n")[-1])
        self.assertTrue(s["measurements"].startswith("200 ") or s["stopped"] == "strategy_done", out)
        self.assertRegex(out, r"compute charged\s+[\d.]+ s over \d+ decisions \(fixed: 2 s per decision\)")

    def test_zz_every_readme_command_is_checked(self):
        # Runs last (unittest sorts by name): every README command was run by a test above, except
        # the documented pattern with `...`.
        missing = [c for c in self.commands if c not in self.ran and " ... " not in c]
        self.assertEqual(missing, [], "README commands without a check in this test")


if __name__ == "__main__":
    unittest.main(verbosity=2)
