#!/usr/bin/python3
"""Reference numbers for tests/imaging/test_reconstruction.cpp (BiharmonicMatchesSkimage).

Run with Debian's python3-skimage (0.19.3):  /usr/bin/python3 biharmonic_reference.py
Prints C++ initialisers: the known samples (row, col, value) and skimage's inpaint_biharmonic
result on the whole 9×11 grid. The image is a smooth function plus a fixed pseudo-random
pattern; about 35 % of the pixels are known, including some on every border so that the
truncated border stencils are exercised.
"""
import numpy as np
from skimage.restoration import inpaint_biharmonic

rows, cols = 9, 11
rng = np.random.default_rng(7)
r, c = np.mgrid[0:rows, 0:cols]
image = 100.0 + 20.0 * np.sin(r / 2.0) * np.cos(c / 3.0) + rng.normal(0.0, 5.0, (rows, cols))
known = rng.random((rows, cols)) < 0.35
mask = ~known  # skimage: 1 = to inpaint
out = inpaint_biharmonic(image, mask)

print(f"// {known.sum()} known of {rows * cols} pixels")
print("const std::vector<std::array<double, 3>> kKnown = {")
for (i, j) in zip(*np.nonzero(known)):
    print(f"    {{{i}, {j}, {image[i, j]:.17g}}},")
print("};")
print("const double kExpected[%d][%d] = {" % (rows, cols))
for i in range(rows):
    print("    {" + ", ".join(f"{v:.17g}" for v in out[i]) + "},")
print("};")
