"""A cheap complete estimate to start plug-and-play inpainting from, and how wrong it is per eigen-image.

Plug-and-play HQS (:mod:`hsi.restore.diffusion.pnp`) started from a neighbour fill needs its
denoiser's level to start high (the fill is far from the image) and many iterations to come
down. A better start, here a classical inpainting of the cube (``fill``: ``lrtv_inpaint``'s
low rank + TV), lets the levels start lower, but only as low as that start's error: a level
below the error leaves the start's artefacts in place, one far above it throws the start away.

The error of the fill at the *missing* pixels is what matters, and it is never observed. It is
estimated by hold-out: a random ``holdout_fraction`` of the observed pixels is hidden, the fill
is run again, and its error at those hidden pixels, mapped to each normalised eigen-image, is
the root-mean-square error per eigen-image (slightly pessimistic: the hold-out run misses
``holdout_fraction`` more of the pixels). The first level of eigen-image ``i`` is
``level_factor`` times that error. No reference is consulted: only observed pixels.

References
----------
K. Zhang, Y. Li, W. Zuo, L. Zhang, L. Van Gool, R. Timofte, "Plug-and-play image restoration with
deep denoiser prior", IEEE TPAMI 44(10), 2022 (the denoiser's level as the estimate's error).
M. Stone, "Cross-validatory choice and assessment of statistical predictions", J. R. Stat. Soc. B
36(2), 1974 (hold-out estimate of a predictor's error).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from hsi.errors import ParameterError


class HoldOutWarmStart:
    """``fill``'s estimate of each tile and, per eigen-image, the first HQS level its hold-out error implies.

    Parameters
    ----------
    fill : ``fill(cube) -> cube``: a ``(rows, cols, bands)`` float32 cube with NaN where missing
        to a complete one (a Hydra ``_partial_`` of e.g. :func:`hsi.restore.classical.inpaint.lrtv_inpaint`).
    holdout_fraction : share of the observed pixels hidden to measure the fill's error.
    level_factor : first level = this times the hold-out error (> 1: the error at missing pixels
        is not white, and a level a little above it lets the denoiser move the start).
    seed : seeds the choice of hidden pixels.
    """

    def __init__(self, fill: Callable, holdout_fraction: float = 0.1, level_factor: float = 3.0, seed: int = 0):
        if not callable(fill):
            raise ParameterError(f"fill must be a function of a cube; got {type(fill).__name__}")
        if not 0 < float(holdout_fraction) < 1 or not float(level_factor) > 0:
            raise ParameterError(f"holdout_fraction must be in (0, 1) and level_factor > 0; "
                                 f"got {holdout_fraction}, {level_factor}")
        self.fill, self.holdout_fraction = fill, float(holdout_fraction)
        self.level_factor, self.seed = float(level_factor), int(seed)

    def _filled(self, cube: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(self.fill(cube), dtype=np.float64))

    def __call__(self, cubes: torch.Tensor, observed: torch.Tensor,
                 to_images: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Start images and first levels for ``(n, rows, cols, bands)`` tiles.

        ``observed`` ``(n, rows, cols)`` is True where a pixel is observed; ``to_images`` maps
        ``(n, rows, cols, bands)`` float64 cubes to ``(n, k, rows, cols)`` normalised eigen-images.
        Returns ``(start, levels)``: ``(n, k, rows, cols)`` and ``(n, k)``, each tile's own levels
        (hidden pixels drawn afresh from ``seed`` for every tile), so a tile's start never depends
        on the tiles batched with it; ``inf`` where nothing could be held out (no evidence the fill
        is any good).
        """
        starts, errors = [], []
        k = None
        for cube, seen in zip(cubes.cpu().numpy(), observed.cpu().numpy()):
            if not seen.any():  # nothing observed (nodata): nothing to fill from, nothing to measure
                starts.append(torch.zeros(cube.shape, dtype=torch.float64))
                errors.append(None)
                continue
            holed = np.where(seen[..., None], cube, np.nan).astype(np.float32)
            starts.append(self._filled(holed))
            hidden = seen & (np.random.default_rng(self.seed).random(seen.shape) < self.holdout_fraction)
            if not hidden.any() or hidden.sum() == seen.sum():
                errors.append(None)
                continue
            refilled = self._filled(np.where(hidden[..., None], np.nan, holed).astype(np.float32))
            truth = torch.as_tensor(np.where(hidden[..., None], cube, 0.0).astype(np.float64))
            difference = to_images(torch.stack([refilled, truth]).to(cubes.device))
            error = (difference[0] - difference[1])[:, torch.as_tensor(hidden, device=cubes.device)]
            errors.append(self.level_factor * error.pow(2).mean(1).sqrt())
        start = to_images(torch.stack(starts).to(cubes.device))
        unknown = torch.full(start.shape[1:2], float("inf"), dtype=start.dtype, device=start.device)
        levels = torch.stack([unknown if error is None else error.to(start.dtype) for error in errors])
        return start, levels
