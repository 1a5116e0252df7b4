#!/usr/bin/env python3
"""Wall time of autostem.run from Python against the `autostem run` command (issue 20: "calling
autostem.run on a 128x128 grid from Python costs <= 10 % more wall time than the CLI").

Both do the same run: the nanowire phantom at 128x128, strategy grid (all 16384 pixels), seed 1,
results file written. The CLI is timed end to end as a user runs it (process start included);
autostem.run is timed from the call to its return (the package imported once beforehand, as in a
notebook; the results file is read only on demand). The two alternate, REPEATS times each, and
the medians are compared. Figures: docs/performance.md "Python package".

usage: PYTHONPATH=build/python python3 bench/python_run_overhead.py build/apps/autostem [REPEATS]
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

import autostem

ARGS = dict(phantom="nanowire", phantom_shape=(128, 128), strategy="grid", seed=1)
CLI_ARGS = ["--phantom", "nanowire", "--phantom-shape", "128x128", "--strategy", "grid", "--seed", "1"]


def main():
    cli = sys.argv[1]
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    py_s, cli_s = [], []
    with tempfile.TemporaryDirectory() as d:
        for i in range(repeats):
            out = os.path.join(d, "cli%d.h5" % i)
            t = time.perf_counter()
            subprocess.run([cli, "run"] + CLI_ARGS + ["--out", out, "--json"], check=True,
                           stdout=subprocess.DEVNULL)
            cli_s.append(time.perf_counter() - t)
            os.remove(out)
            out = os.path.join(d, "py%d.h5" % i)
            t = time.perf_counter()
            r = autostem.run(out=out, **ARGS)
            py_s.append(time.perf_counter() - t)
            assert r.summary["measurements"] == 128 * 128, r.summary
            os.remove(out)
    mc, mp = statistics.median(cli_s), statistics.median(py_s)
    print("autostem run (CLI)  : median %.3f s  [%s]" % (mc, ", ".join("%.3f" % v for v in cli_s)))
    print("autostem.run (Python): median %.3f s  [%s]" % (mp, ", ".join("%.3f" % v for v in py_s)))
    print("Python / CLI         : %.3f (%+.1f %%)" % (mp / mc, 100.0 * (mp / mc - 1.0)))


if __name__ == "__main__":
    main()
