#!/usr/bin/python3
"""Reference values for tests/imaging/test_metrics.cpp (SSIM, PSNR, NRMSE, Otsu, Gaussian filter).

Run with Debian's python3-skimage (0.19.3) and python3-scipy:
    /usr/bin/python3 tests/imaging/reference/ssim_reference.py
and paste the printed numbers into test_metrics.cpp. The images are closed-form functions of
(row, col) so that the C++ test rebuilds them exactly; the C++ helpers `pair_truth` and
`pair_estimate` must stay in step with `truth()` and `estimate()` here.
"""
import numpy as np
import scipy.ndimage as ndi
import skimage
from skimage.filters import threshold_otsu
from skimage.metrics import (normalized_root_mse, peak_signal_noise_ratio,
                             structural_similarity)


def truth(rows=48, cols=40):
    r, c = np.mgrid[0:rows, 0:cols].astype(np.float64)
    return 100.0 * np.sin(r / 4.0) * np.cos(c / 6.0) + 2.0 * r + 0.5 * c


def estimate(rows=48, cols=40):
    r, c = np.mgrid[0:rows, 0:cols].astype(np.float64)
    return truth(rows, cols) + 20.0 * np.sin(0.7 * r + 1.3 * c) + 5.0 * np.cos(r * c / 9.0)


def bimodal(rows=64, cols=64):
    # Two flat regions (10 and 50) plus a deterministic ripple.
    r, c = np.mgrid[0:rows, 0:cols].astype(np.float64)
    base = np.where(c < 24, 10.0, 50.0)
    return base + 3.0 * np.sin(r * 0.9 + c * 0.4)


def main():
    print("skimage", skimage.__version__)
    t, e = truth(), estimate()
    rng = t.max() - t.min()
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    print("data_range %.17g" % rng)
    print("ssim(truth, estimate, data_range=range) %.17g" % structural_similarity(t, e, data_range=rng, **kw))
    print("ssim(truth, estimate, data_range=500) %.17g" % structural_similarity(t, e, data_range=500.0, **kw))
    print("ssim(truth, truth) %.17g" % structural_similarity(t, t, data_range=rng, **kw))
    print("psnr %.17g" % peak_signal_noise_ratio(t, e, data_range=rng))
    print("nrmse(min-max) %.17g" % normalized_root_mse(t, e, normalization="min-max"))
    print("otsu(bimodal) %.17g" % threshold_otsu(bimodal()))
    g = ndi.gaussian_filter(t, sigma=1.5, mode="reflect", truncate=3.5)
    print("gaussian_filter(truth, 1.5, reflect, truncate 3.5)[0,0] %.17g" % g[0, 0])
    print("gaussian_filter(truth, 1.5, reflect, truncate 3.5)[20,17] %.17g" % g[20, 17])
    g2 = ndi.gaussian_filter(t, sigma=2.0, mode="reflect", truncate=4.0)
    print("gaussian_filter(truth, 2.0, reflect, truncate 4)[47,0] %.17g" % g2[47, 0])


if __name__ == "__main__":
    main()
