"""Monte-Carlo divergence of a black-box denoiser, the term Stein's unbiased risk estimate needs.

For ``y = x + sigma n`` (``n`` white, unit variance) SURE of a denoiser ``f`` is
``||y - f(y)||^2 / N - sigma^2 + 2 sigma^2 div f(y) / N``; the divergence of a black box is
estimated with one random probe ``b`` and a small step: ``div f(y) ~ b . (f(y + step b) - f(y)) / step``.
Used by ``restore method=auto`` (choice of the eigen-image denoiser) and by the SURE blend.

References
----------
S. Ramani, T. Blu, M. Unser, "Monte-Carlo SURE: a black-box optimization of regularization
parameters for general denoising algorithms", IEEE TIP 17(9):1540-1554, 2008.
"""

from __future__ import annotations

from typing import Callable

import torch


def estimate_and_divergence(denoise: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
                            probe: torch.Tensor, step: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
    """``f(images)`` and the Monte-Carlo divergence of ``f`` per image of ``(n, rows, cols)`` images.

    ``probe``: same shape as ``images``; ``step``: a float or one per image ``(n,)``.
    Two calls of ``denoise``; the divergence is ``(n,)``, summed over each image's pixels.
    """
    step = torch.as_tensor(step, dtype=images.dtype, device=images.device).reshape(-1)
    step = step.expand(images.shape[0]) if step.numel() == 1 else step
    estimate = denoise(images)
    moved = denoise(images + step[:, None, None] * probe)
    return estimate, (probe * (moved - estimate)).flatten(1).sum(1) / step
