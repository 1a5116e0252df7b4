#!/usr/bin/env python3
"""How the dcnn finder's denoise=auto merge rule and its border default were chosen (issue 15).

Input: the directory written by
    AUTOSTEM_DUMP=DIR build/tests/torch/test_atomnet_unseen --gtest_filter='*DumpMergeEvidence*'
(validation phantoms only: contaminated 800000+, low-dose 810000 + k, k < 30). Per image it holds
the atoms found on the Bragg-filtered survey ("f") and on the survey as it is ("p"), each with the
other run's ensemble-mean P(atom) within 0.25 spacing ("evidence"), and the true atoms ("t").
Prints mean F1 (3 px, one-to-one), worst F1 and the pooled fraction of detections inside the
phantom's non-lattice mask for each candidate rule, below lattice_snr < thr (above it: "p").
Rules: none; bragg (all "f"); cur (the first rule: "f" with a "p" within 0.4 spacing, plus "p"
without an "f"); (tp, tf): "f" with evidence >= tp, plus "p" without an "f" with evidence >= tf.
Needs numpy and scipy (Debian python3-numpy, python3-scipy). docs/dcnn.md "denoise=auto, second rule".
"""
import glob
import sys

import numpy as np
from scipy.optimize import linear_sum_assignment


def load(path):
    head = open(path).readline().split()
    spacing = float(head[2])
    snr = float(head[4]) if len(head) > 4 else float("inf")
    rows = np.genfromtxt(path, delimiter=",", skip_header=1, names=True, dtype=None, encoding=None)
    return spacing, snr, rows


def f1(det, truth, tol=3.0):
    if len(det) == 0 or len(truth) == 0:
        return 0.0
    d = np.hypot(det[:, None, 0] - truth[None, :, 0], det[:, None, 1] - truth[None, :, 1])
    cost = np.where(d <= tol, d, 1e6)
    r, c = linear_sum_assignment(cost)
    tp = (cost[r, c] <= tol).sum()
    return 2.0 * tp / (len(det) + len(truth))


def kept(rows, snr, rule, thr):
    f, p = rows[rows["set"] == "f"], rows[rows["set"] == "p"]
    if snr >= thr or rule == "none":
        return p
    if rule == "bragg":
        return f
    if rule == "cur":
        return np.concatenate([f[f["partner"] == 1], p[p["partner"] == 0]])
    tp, tf = rule
    return np.concatenate([f[f["evidence"] >= tp], p[(p["partner"] == 0) & (p["evidence"] >= tf)]])


def evaluate(images, rule, thr=0.55, border_spacings=0.0):
    scores, inside, found = [], 0, 0
    for spacing, snr, rows in images:
        k = kept(rows, snr, rule, thr)
        size = rows[rows["set"] == "size"][0]
        h, w = size["row"], size["col"]
        edge = np.minimum.reduce([k["row"], k["col"], h - 1 - k["row"], w - 1 - k["col"]])
        k = k[edge >= border_spacings * spacing]
        inside += int(k["inside"].sum())
        found += len(k)
        k = k[k["inside"] == 0]
        t = rows[rows["set"] == "t"]
        scores.append(f1(np.stack([k["row"], k["col"]], 1), np.stack([t["row"], t["col"]], 1)))
    return float(np.mean(scores)), float(np.min(scores)), inside / max(found, 1)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: choose-denoise-rule.py DUMP_DIR")
    images = [load(f) for f in sorted(glob.glob(sys.argv[1] + "/[cl]*.csv"))]
    images = [i for i in images if i[0] > 0]
    print(f"{len(images)} validation images, {sum(i[1] < 0.55 for i in images)} with lattice_snr < 0.55")
    rules = ["none", "bragg", "cur"] + [(tp, tf) for tp in (0.0, 0.1, 0.3, 0.5, 0.6, 0.7, 0.8) for tf in (0.0, 0.5, 1.1)]
    for rule in rules:
        m, w, i = evaluate(images, rule)
        print(f"rule {str(rule):12s} mean F1 {m:.4f}  worst {w:.3f}  inside {100 * i:.2f} %")
    for thr in (0.45, 0.55, 0.65, 1.0, float("inf")):
        m, w, i = evaluate(images, (0.5, 1.1), thr)
        print(f"rule (0.5, 1.1), auto_snr {thr}: mean F1 {m:.4f}  worst {w:.3f}  inside {100 * i:.2f} %")
    for b in (0.0, 0.05, 0.1, 0.15, 0.2, 0.3):
        m, w, i = evaluate(images, (0.5, 1.1), 0.55, b)
        print(f"rule (0.5, 1.1), border {b} spacing: mean F1 {m:.4f}  worst {w:.3f}  inside {100 * i:.2f} %")


if __name__ == "__main__":
    main()
