"""A convex blend of two denoisers, its weight chosen per image by Monte-Carlo SURE (no ground truth).

For ``y = x + sigma * n`` with ``n`` white, unit variance and ``sigma`` known (the whitened
eigen-images of :mod:`hsi.restore.diffusion.eigen_domain`), Stein's unbiased risk estimate of
a denoiser ``f`` is

    SURE(f) = ||y - f(y)||^2 / N - sigma^2 + 2 sigma^2 div f(y) / N,

and the divergence is estimated with one probe ``b`` (Rademacher) and a small step
``eps``: ``div f(y) ~ b . (f(y + eps b) - f(y)) / eps`` (Ramani, Blu, Unser 2008). For the
blend ``f_a = a f_1 + (1 - a) f_2`` SURE is a parabola in ``a``: its minimiser,

    a = (<y - f_2, f_1 - f_2> - sigma^2 (div f_1 - div f_2)) / ||f_1 - f_2||^2,

clipped to [0, 1], weights the two estimates of each image (four denoiser calls per image).

References
----------
S. Ramani, T. Blu, M. Unser, "Monte-Carlo SURE: a black-box optimization of regularization
parameters for general denoising algorithms", IEEE TIP 17(9):1540-1554, 2008. C. M. Stein,
"Estimation of the mean of a multivariate normal distribution", Ann. Statist. 9(6), 1981.
"""

from __future__ import annotations

from pathlib import Path

import torch

from hsi.errors import ParameterError
from hsi.estimate.sure import estimate_and_divergence
from hsi.restore.diffusion.denoisers import Denoiser, _stack, make_denoiser, sigma_per_image


class SureBlendDenoiser:
    """``a D_1 + (1 - a) D_2`` per image, ``a`` in [0, 1] minimising Monte-Carlo SURE.

    Parameters
    ----------
    denoisers : two denoisers: names (``prior``, ``bm3d``) or objects with ``denoise``.
    model, device : for a ``prior`` given by name (:class:`~hsi.restore.diffusion.denoisers.PriorDenoiser`).
    epsilon : the divergence probe's step, as a fraction of each image's ``sigma``.
    seed : seeds the probe (each call restarts from it, so tiles are reproducible).
    """

    def __init__(self, denoisers=("prior", "bm3d"), model: str | Path | None = None, device: str | None = "auto",
                 epsilon: float = 0.01, seed: int = 0):
        if len(denoisers) != 2:
            raise ParameterError(f"SureBlendDenoiser blends exactly two denoisers; got {len(denoisers)}")
        if not float(epsilon) > 0:
            raise ParameterError(f"epsilon must be > 0 (a fraction of sigma); got {epsilon}")
        self.denoisers: list[Denoiser] = [make_denoiser(d, model, device) for d in denoisers]
        self.epsilon, self.seed = float(epsilon), int(seed)
        self.weights: torch.Tensor | None = None  # (n,) weight of the first denoiser at the last call

    def denoise(self, images: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
        stacked, shape = _stack(images)
        sigma = sigma_per_image(sigma, stacked.shape[0], stacked)
        generator = torch.Generator(device=stacked.device).manual_seed(self.seed)
        probe = torch.randint(0, 2, stacked.shape, generator=generator, device=stacked.device).to(stacked.dtype) * 2 - 1
        step = self.epsilon * sigma
        first, div_first = estimate_and_divergence(lambda x: self.denoisers[0].denoise(x, sigma), stacked, probe, step)
        second, div_second = estimate_and_divergence(lambda x: self.denoisers[1].denoise(x, sigma), stacked, probe, step)
        difference = first - second
        numerator = ((stacked - second) * difference).sum(dim=(-2, -1)) - sigma ** 2 * (div_first - div_second)
        energy = (difference ** 2).sum(dim=(-2, -1))
        weights = torch.where(energy > 0, numerator / energy.clamp_min(torch.finfo(energy.dtype).tiny),
                              torch.ones_like(energy)).clamp(0, 1)
        self.weights = weights.detach()
        return (second + weights[:, None, None] * difference).reshape(shape)
