#!/usr/bin/python3
"""Compressed sensing side by side: autostem's reconstructions versus scikit-image's
inpaint_biharmonic on the same samples (docs/compressed-sensing.md).

usage: /usr/bin/python3 bench/cs_compare.py BUILD_DIR [DATA_DIR]

BUILD_DIR holds the `autostem` executable (apps/autostem or autostem) and cs_compare_data
(bench/). DATA_DIR defaults to ../shared/datasets. Needs Debian's python3-skimage (0.19.3),
python3-numpy.

For each image and sampling fraction: n = round(f·N) distinct pixels drawn with
numpy.random.default_rng(seed).choice(N, n, replace=False); the sample values are
  - nanoparticles phantom survey (128×128): Poisson(truth · scale) / scale with the survey scaled
    so that its mean is 200 counts (noisy measurements), truth = the noise-free survey;
  - SrTiO3 HAADF (256×256 crop, raw counts) and graphene (256×256): the raw pixel values, truth =
    the raw image (as the brief's reference figures); the raw image's own shot noise caps PSNR,
    so a second score uses truth = the raw image smoothed by a Gaussian of σ = 1 px (an estimate
    of the noise-free image; note it also favours smooth reconstructions).
Every method gets exactly the same (row, col, value) samples (.npy handed to
`autostem reconstruct SAMPLES.npy --shape RxC --method M --out OUT.npy`). PSNR and SSIM are
skimage.metrics' (data_range = truth max − min, SSIM with gaussian_weights, sigma 1.5,
use_sample_covariance False — the definitions of core/metrics.hpp).
"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.restoration import inpaint_biharmonic

METHODS = ["nearest", "linear", "biharmonic", "tv", "particles", "fista"]


def find(build, names):
    for n in names:
        p = os.path.join(build, n)
        if os.path.exists(p):
            return p
    sys.exit(f"cs_compare.py: none of {names} in {build}")


def score(truth, est):
    rng = truth.max() - truth.min()
    return (peak_signal_noise_ratio(truth, est, data_range=rng),
            structural_similarity(truth, est, data_range=rng, gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False))


def run(autostem, name, truth_raw, fraction, noisy, seed, tmp, extra_truth=None):
    rows, cols = truth_raw.shape
    N = rows * cols
    n = int(round(fraction * N))
    rng = np.random.default_rng(seed)
    idx = rng.choice(N, n, replace=False)
    r, c = np.unravel_index(idx, (rows, cols))
    if noisy:
        scale = 200.0 / truth_raw.mean()
        vals = rng.poisson(truth_raw[r, c] * scale) / scale
    else:
        vals = truth_raw[r, c].astype(float)
    samples = np.stack([r, c, vals], axis=1).astype(np.float64)
    sp = os.path.join(tmp, "samples.npy")
    np.save(sp, samples)
    truths = {"raw": truth_raw}
    if extra_truth is not None:
        truths["smoothed"] = extra_truth
    rows_out = []
    # skimage's biharmonic on the same samples.
    img = np.zeros((rows, cols))
    img[r, c] = vals
    mask = np.ones((rows, cols), bool)
    mask[r, c] = False
    t0 = time.perf_counter()
    sk = inpaint_biharmonic(img, mask)
    t_sk = time.perf_counter() - t0
    rows_out.append(("skimage biharmonic", sk, t_sk))
    for m in METHODS:
        out = os.path.join(tmp, f"{m}.npy")
        t0 = time.perf_counter()
        subprocess.run([autostem, "reconstruct", sp, "--shape", f"{rows}x{cols}", "--method", m,
                        "--out", out], check=True, stdout=subprocess.DEVNULL)
        rows_out.append((f"autostem {m}", np.load(out), time.perf_counter() - t0))
    result = []
    for label, est, t in rows_out:
        s = {k: score(v, est) for k, v in truths.items()}
        result.append((label, s, t))
    return result


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    build = sys.argv[1]
    data = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "datasets")
    autostem = find(build, ["apps/autostem", "autostem"])
    exporter = find(build, ["bench/cs_compare_data", "cs_compare_data"])
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([exporter, data, tmp], check=True)
        cases = [
            ("nanoparticles phantom survey (128×128), Poisson noise on the samples",
             np.load(os.path.join(tmp, "nanoparticles.npy")), [0.1], True, None),
            ("SrTiO3 HAADF 16_STOimage_1.ser, 256×256 crop of the first stored rows",
             np.load(os.path.join(tmp, "sto.npy")), [0.05, 0.1, 0.2], False, "smooth"),
            ("graphene G-Si-2nm.npy (256×256)",
             np.load(os.path.join(tmp, "graphene.npy")), [0.05, 0.1, 0.2], False, "smooth"),
        ]
        for title, truth, fractions, noisy, extra in cases:
            smooth = gaussian_filter(truth, 1.0) if extra else None
            print(f"\n### {title}\n")
            hdr = "| fraction | method | PSNR (dB) | SSIM |"
            sep = "|---|---|---|---|"
            if extra:
                hdr += " PSNR vs σ=1 smoothed (dB) | SSIM vs smoothed |"
                sep += "---|---|"
            print(hdr + " time (s) |")
            print(sep + "---|")
            for f in fractions:
                res = run(autostem, title, truth, f, noisy, 0, tmp, smooth)
                best = max(p for (l, s, t) in res if l.startswith("autostem") for p in [s["raw"][0]])
                ref = [s["raw"][0] for (l, s, t) in res if l == "skimage biharmonic"][0]
                for label, s, t in res:
                    line = f"| {f:.0%} | {label} | {s['raw'][0]:.2f} | {s['raw'][1]:.3f} |"
                    if extra:
                        line += f" {s['smoothed'][0]:.2f} | {s['smoothed'][1]:.3f} |"
                    print(line + f" {t:.2f} |")
                print(f"| {f:.0%} | best autostem − skimage biharmonic | {best - ref:+.2f} dB | | "
                      + ("| |" if extra else "") + " |")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
