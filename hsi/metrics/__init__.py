"""Quality metrics: full-reference quality, no-reference pansharpening quality, unmixing scores.

Every metric is one torch implementation that accepts numpy arrays or torch tensors (CPU or
GPU), computes in float64 and returns Python floats (scalars) or numpy arrays (per-band or
per-endmember values).
"""

from hsi.metrics.quality import ergas, mpsnr, mssim, psnr_per_band, q2n, rmse, sam, scc, ssim_per_band, uiqi
from hsi.metrics.pansharp import d_lambda, d_lambda_khan, d_s, hqnr, qnr
from hsi.metrics.unmix import (
    abundance_rmse,
    match_abundances,
    match_endmembers,
    sad_per_endmember,
    spectral_angles_deg,
    unmixing_scores,
)

__all__ = [
    "psnr_per_band",
    "mpsnr",
    "ssim_per_band",
    "mssim",
    "sam",
    "ergas",
    "rmse",
    "uiqi",
    "scc",
    "q2n",
    "d_lambda",
    "d_s",
    "qnr",
    "d_lambda_khan",
    "hqnr",
    "spectral_angles_deg",
    "match_endmembers",
    "match_abundances",
    "sad_per_endmember",
    "abundance_rmse",
    "unmixing_scores",
]
