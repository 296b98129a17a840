"""Prior benchmark: the single-channel prior as a denoiser of held-out photographs, against BM3D.

The images are the luma of the Kodak photographs the training never sees
(:data:`hsi.train.images.HELD_OUT_KODAK`), a central crop of each, mapped to the prior's scale by
:func:`hsi.nn.diffusion_prior.normalise` (about ``[-1, 1]``). White Gaussian noise of standard
deviation ``sigma`` (in that scale) is added with a seeded generator; the prior's
``denoise(noisy, sigma)`` (one network call, Tweedie) and BM3D at the same ``sigma`` are scored
by PSNR with peak-to-peak 2 (the normalised range), averaged over the images. A second table
calls the prior with a wrong noise level (``sigma`` times a factor) to show how much the
conditioning matters.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from hsi.errors import InputError
from hsi.metrics.quality import psnr_per_band
from hsi.nn.diffusion_prior import SINGLE_CHANNEL_PRIOR, load_prior, normalise
from hsi.restore.classical.bm3d import bm3d
from hsi.train.images import HELD_OUT_KODAK, luma_and_channels

PEAK = 2.0  # PSNR peak: the width of the normalised range [-1, 1]


def held_out_images(data_dir: str | Path, crop: int) -> torch.Tensor:
    """``(n, 1, crop, crop)`` normalised central crops of the held-out Kodak lumas."""
    import skimage.io

    folder = Path(data_dir) / "natural" / "kodak24"
    lumas = []
    for name in HELD_OUT_KODAK:
        path = folder / name
        if not path.is_file():
            raise InputError(f"{path}: held-out Kodak image not found (data_dir is {data_dir})")
        luma = luma_and_channels(name, skimage.io.imread(path))[0][1]
        top, left = (luma.shape[0] - crop) // 2, (luma.shape[1] - crop) // 2
        lumas.append(luma[top:top + crop, left:left + crop])
    return normalise(torch.from_numpy(np.stack(lumas))[:, None])[0]


def mean_psnr(clean: torch.Tensor, estimate: torch.Tensor) -> float:
    """PSNR (dB, peak :data:`PEAK`) of each image, averaged."""
    as_cube = lambda images: images[:, 0].permute(1, 2, 0)  # noqa: E731  (rows, cols, images)
    return float(np.mean(psnr_per_band(as_cube(clean), as_cube(estimate), data_range=PEAK)))


def run_benchmark(data_dir: str, model: str | None = None, sigmas: Sequence[float] = (0.05, 0.1, 0.2, 0.4),
                  mismatch: Sequence[float] = (0.5, 0.71, 1.41, 2.0), crop: int = 256, with_bm3d: bool = True,
                  quick: bool = False, threads: int | None = 1, seed: int = 0) -> dict[str, list[dict]]:
    """Tables ``denoise`` (noisy / prior / BM3D PSNR per sigma) and ``mismatch`` (prior at sigma x factor)."""
    if threads is not None:
        torch.set_num_threads(int(threads))
    if quick:
        sigmas, crop = [s for s in sigmas if s in (0.1, 0.2)] or list(sigmas)[:2], min(int(crop), 128)
    prior = load_prior(model or SINGLE_CHANNEL_PRIOR)
    clean = held_out_images(data_dir, int(crop))
    denoise_rows, mismatch_rows = [], []
    for sigma in sigmas:
        generator = torch.Generator().manual_seed(int(seed) * 1000 + int(round(sigma * 1000)))
        noisy = clean + float(sigma) * torch.randn(clean.shape, generator=generator)
        started = time.perf_counter()
        estimate = prior.denoise(noisy, float(sigma))
        row = {"sigma": float(sigma), "images": int(clean.shape[0]), "noisy_psnr": mean_psnr(clean, noisy),
               "prior_psnr": mean_psnr(clean, estimate), "prior_s": time.perf_counter() - started}
        if with_bm3d:
            started = time.perf_counter()
            row["bm3d_psnr"] = mean_psnr(clean, bm3d(noisy[:, 0], float(sigma))[:, None])
            row["bm3d_s"] = time.perf_counter() - started
            row["prior_minus_bm3d_db"] = row["prior_psnr"] - row["bm3d_psnr"]
        denoise_rows.append(row)
        for factor in mismatch:
            mismatch_rows.append({"sigma": float(sigma), "assumed_factor": float(factor),
                                  "prior_psnr": mean_psnr(clean, prior.denoise(noisy, float(sigma) * factor)),
                                  "matched_psnr": row["prior_psnr"]})
    return {"denoise": denoise_rows, "mismatch": mismatch_rows}
