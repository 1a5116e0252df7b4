#!/usr/bin/python3
"""Reference shifts for tests/imaging/test_registration.cpp (issue 16).

Usage: skimage_shift.py refs.npy movs.npy out.txt [upsample_factor]
refs, movs: (K, rows, cols) float64 stacks of image pairs. Writes one line per pair with
skimage.registration.phase_cross_correlation(ref, mov, upsample_factor=...)'s shift (row, col),
which registers mov onto ref: the NEGATIVE of autostem's estimate_shift convention.
Debian 12's python3-skimage (0.19) with its defaults: normalization="phase", no window.
"""
import sys

import numpy as np
from skimage.registration import phase_cross_correlation


def main():
    refs = np.load(sys.argv[1])
    movs = np.load(sys.argv[2])
    factor = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    with open(sys.argv[3], "w") as out:
        for ref, mov in zip(refs, movs):
            shift, _, _ = phase_cross_correlation(ref, mov, upsample_factor=factor)
            out.write(f"{shift[0]:.6f} {shift[1]:.6f}\n")


if __name__ == "__main__":
    main()
