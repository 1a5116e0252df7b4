#!/usr/bin/python3
"""Reference numbers for DctMatchesScipy in tests/imaging/test_fista.cpp:
scipy.fft.dctn(x, type=2, norm="ortho") of x[i, j] = (i + 1)·(j + 2)² − 3·i·j (3 × 4).
Run: /usr/bin/python3 dct_reference.py"""
import numpy as np
from scipy.fft import dctn

x = np.array([[(i + 1) * (j + 2) ** 2 - 3 * i * j for j in range(4)] for i in range(3)], float)
y = dctn(x, type=2, norm="ortho")
print("const double kDct[3][4] = {")
for row in y:
    print("    {" + ", ".join(f"{v:.17g}" for v in row) + "},")
print("};")
