#!/usr/bin/env python3
"""Paired comparison of the dkl strategy's fast path with the exact-every-step path (issue 22).

Runs `autostem bench` twice per ground truth with the same seeds — dkl (update=exact, the
default) and dkl with --param dkl.update=fast — and reports, per ground truth:
  * spectra to the first top-1 % pixel per seed and the median of the paired log ratios
    log(fast/exact) with its distribution-free 95 % interval (order statistics of the ratios,
    binomial(n, ½) ranks); a run that never got there counts as budget + 1 (conservative for
    the variant that missed);
  * the fast path's 95 % predictive-interval coverage: share of values within ±1.96 predictive
    standard deviations of the posterior before they were added (AUTOSTEM_DKL_STATS lines);
  * the exact median of uniform random sampling without replacement (from summary.md).

    /usr/bin/python3 scripts/dkl_fast_quality.py --autostem build/apps/autostem --seeds 30 \
        --only nanoparticles --out /tmp/dklq
Exact-every-step runs are slow (≈ 1 min per 100-spectrum run on the 2-core VM); --exact-seeds
limits them (the pairs are the seeds both variants ran), --reuse-exact DIR takes them from an
earlier --out DIR (the exact path does not depend on the fast path's parameters), --no-exact
skips them (tuning), --fast-param KEY=VALUE adds dkl parameters to the fast runs.
Only the standard library.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

DATA = Path(os.environ.get("AUTOSTEM_DATA", "/work/shared/datasets"))
CASES = {
    "nanoparticles": ["--phantom", "nanoparticles:64x64", "--scalarizer", "band_mean:3.3:3.7"],
    "cuzn": ["--dataset", ",".join(str(DATA / "eels" / "cuzn_si" / n)
                                   for n in ("CuZn_EELS_mapping_tutorial.hspy", "CuZn_HAADF.hspy")),
             "--scalarizer", "edge:931:60:850:920"],
}


def bench(exe: str, case: str, seeds: int, start: int, budget: int, fast: bool, out: Path, stats: Path | None,
          extra: list[str] = (), threads: int = 2):
    cmd = [exe, "bench", *CASES[case], "--strategies", "dkl", "--seeds", str(seeds), "--seed-start", str(start),
           "--budget-points", str(budget), "--threads", str(threads), "--no-plots", "--out", str(out)]
    if fast:
        cmd += ["--param", "dkl.update=fast"]
        for kv in extra:
            cmd += ["--param", "dkl." + kv]
    env = dict(os.environ)
    if stats:
        env["AUTOSTEM_DKL_STATS"] = str(stats)
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    with open(out / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    md = (out / "summary.md").read_text()
    return {int(r["seed"]): float(r["n_top1pct"]) for r in rows}, md


def median_ci(v: list[float]) -> tuple[float, float, float]:
    v = sorted(v)
    n = len(v)
    med = (v[(n - 1) // 2] + v[n // 2]) / 2
    # Largest k with P(Binom(n, ½) < k) ≤ 2.5 %: [v_(k), v_(n−k+1)] covers the median with ≥ 95 %.
    k, cum = 0, 0.0
    while True:
        p = math.comb(n, k) / 2 ** n
        if cum + p > 0.025:
            break
        cum += p
        k += 1
    if k == 0:
        return med, -math.inf, math.inf
    return med, v[k - 1], v[n - k]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--autostem", default="build/apps/autostem")
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--exact-seeds", type=int, default=None)
    ap.add_argument("--seed-start", type=int, default=0)
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--only", default="nanoparticles,cuzn")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--reuse-exact", type=Path, default=None)
    ap.add_argument("--no-exact", action="store_true")
    ap.add_argument("--fast-param", action="append", default=[])
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    for case in a.only.split(","):
        stats = a.out / f"{case}_fast_stats.jsonl"
        a.out.mkdir(parents=True, exist_ok=True)
        stats.unlink(missing_ok=True)
        fast, md = bench(a.autostem, case, a.seeds, a.seed_start, a.budget, True, a.out / f"{case}_fast", stats,
                         a.fast_param, a.threads)
        if a.no_exact:
            exact = {}
        elif a.reuse_exact:
            with open(a.reuse_exact / f"{case}_exact" / "summary.csv") as f:
                exact = {int(r["seed"]): float(r["n_top1pct"]) for r in csv.DictReader(f)}
        else:
            exact, _ = bench(a.autostem, case, a.exact_seeds or a.seeds, a.seed_start, a.budget, False,
                             a.out / f"{case}_exact", None, (), a.threads)
        cap = a.budget + 1
        val = lambda x: cap if x < 0 else x  # noqa: E731
        pairs = sorted(s for s in fast if s in exact and not math.isnan(fast[s]) and not math.isnan(exact[s]))
        ratios = [math.log(val(fast[s]) / val(exact[s])) for s in pairs]
        lines = [json.loads(l) for l in stats.read_text().splitlines()] if stats.exists() else []
        scored = sum(l["scored"] for l in lines)
        covered = sum(l["covered95"] for l in lines)
        m = re.search(r"after a median of \*\*(\d+) \[(\d+)–(\d+)\]\*\*", md)
        print(f"\n## {case}: {len(pairs)} paired seeds, budget {a.budget}")
        print("seed  exact  fast")
        for s in pairs:
            print(f"{s:4d}  {exact[s]:5.0f}  {fast[s]:5.0f}")
        fm = sorted(val(fast[s]) for s in fast)
        em = sorted(val(exact[s]) for s in exact) or [math.nan]
        print(f"fast median {fm[(len(fm)-1)//2]/2 + fm[len(fm)//2]/2:g} over {len(fm)} seeds; exact median "
              f"{em[(len(em)-1)//2]/2 + em[len(em)//2]/2:g} over {len(exact)} seeds (never = {cap})")
        if ratios:
            med, lo, hi = median_ci(ratios)
            print(f"median paired log(fast/exact) = {med:+.3f} (ratio {math.exp(med):.3f}), 95 % interval "
                  f"[{lo:+.3f}, {hi:+.3f}] (ratio {math.exp(lo):.3f}–{math.exp(hi):.3f})")
        if scored:
            print(f"95 % predictive interval coverage (fast): {covered}/{scored} = {100 * covered / scored:.1f} % "
                  f"over {len(lines)} runs; retrains {sum(l['retrains_started'] for l in lines)}, of them "
                  f"waited for {sum(l['waits'] for l in lines)}; surprises {sum(l['surprises'] for l in lines)}")
        if m:
            print(f"exact uniform random median {m.group(1)} [{m.group(2)}–{m.group(3)}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
