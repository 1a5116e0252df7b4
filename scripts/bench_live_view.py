#!/usr/bin/python3
"""Does the live view keep up, and what does it cost the run? (issue 18, docs/performance.md)

For each case, `autostem run` on the nanowire phantom with the random strategy is timed (wall_s
from --json) without --view and with --view and a headless Chromium page attached (Selenium;
Debian chromium + chromium-driver + python3-selenium). With the page, the page is reloaded
(disconnect + reconnect) RELOADS times during the run, and at the end the script checks that the
page holds exactly the run's measurements in the file's order (keeps up, correct after
reconnecting) and reports how far it lagged the server while the run went on.

Cases: --pace 0.01 (100 measurements/s, a paced simulated run: the issue's target) and no pace
(as fast as the simulator goes: the sink's cost per measurement). Repeats each REPEATS times,
alternating with and without, and prints medians.

usage: scripts/bench_live_view.py AUTOSTEM_BIN [--points N] [--repeats R] [--reloads K]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import h5py
from selenium import webdriver
from selenium.webdriver.chrome.service import Service


def driver():
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1100"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=opts)


def run(bin_, out, n, pace, view, d, reloads):
    args = [bin_, "run", "--phantom", "nanowire", "--phantom-shape", "128x128", "--strategy", "random",
            "--budget-points", str(n), "--seed", "1", "--json", "--out", out]
    if pace:
        args += ["--pace", str(pace)]
    if view:
        args += ["--view", "0"]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lags, page_n = [], None
    if view:
        url = None
        err = []

        def read():
            for line in p.stderr:
                err.append(line)
        while url is None:
            line = p.stderr.readline()
            if not line:
                raise RuntimeError("no live view URL")
            m = re.search(r"live view at (http://\S+)", line)
            url = m.group(1) if m else None
        threading.Thread(target=read, daemon=True).start()
        d.get(url)
        port = int(re.search(r":(\d+)/", url).group(1))
        reload_at = set()
        t0 = time.time()
        k = 0
        while p.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=5) as r:
                    server_n = len(json.loads(r.read())["points"])
                page_n = d.execute_script("return window.autostem.points.length")
                lags.append(server_n - page_n)
            except Exception:
                pass
            el = time.time() - t0
            if k < reloads and pace and el > (k + 1) * n * pace / (reloads + 1):
                d.refresh()
                k += 1
            time.sleep(0.2)
        time.sleep(0.3)
        page_points = d.execute_script("return window.autostem.points")
    out_text = p.stdout.read()
    p.wait()
    summary = json.loads(out_text.strip().splitlines()[-1])
    with h5py.File(out, "r") as f:
        pos = f["measurements/position_px"][:]
    ok = None
    if view:
        ok = len(page_points) == len(pos) and all(
            abs(a[0] - b[0]) < 1e-9 and abs(a[1] - b[1]) < 1e-9 for a, b in zip(page_points, pos))
    return summary["wall_s"], lags, ok, len(pos)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("--points", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--reloads", type=int, default=3)
    a = ap.parse_args()
    d = driver()
    tmp = tempfile.mkdtemp()
    try:
        for pace in (0.01, 0.0):
            base, viewed, lag_all, oks = [], [], [], []
            for i in range(a.repeats):
                w, _, _, n = run(a.bin, os.path.join(tmp, "a.h5"), a.points, pace, False, d, 0)
                base.append(w)
                w, lags, ok, n2 = run(a.bin, os.path.join(tmp, "b.h5"), a.points, pace, True, d, a.reloads)
                viewed.append(w)
                lag_all += lags
                oks.append(ok)
            mb, mv = statistics.median(base), statistics.median(viewed)
            print(f"pace {pace or 'none'} s, {a.points} measurements, {a.repeats} repeats: "
                  f"without view {mb:.3f} s, with view + page {mv:.3f} s, slowdown {100 * (mv / mb - 1):+.1f} %; "
                  f"page lag behind the server: median {statistics.median(lag_all) if lag_all else 'n/a'}, "
                  f"max {max(lag_all) if lag_all else 'n/a'} measurements; "
                  f"page == file after {a.reloads if pace else 0} reloads: {all(oks)}")
            sys.stdout.flush()
    finally:
        d.quit()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
