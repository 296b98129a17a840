"""The denoiser seam: anything with ``denoise(images, sigma) -> images`` for white Gaussian noise.

The estimators (:mod:`hsi.restore.diffusion.estimators`) and plug-and-play restoration
(:mod:`hsi.restore.diffusion.pnp`) only call ``denoise``, so the trained diffusion prior and
a classical denoiser are interchangeable:

- :class:`PriorDenoiser`: the single-channel, noise-level-conditioned diffusion prior
  (:func:`hsi.nn.diffusion_prior.load_prior`), whose ``denoise`` is the posterior-mean
  (Tweedie) estimate at the timestep matched to ``sigma``;
- :class:`BM3DDenoiser`: :func:`hsi.restore.classical.bm3d.bm3d`.

``images`` are ``(n, rows, cols)`` or ``(n, 1, rows, cols)`` torch tensors, ``sigma`` one noise
standard deviation per image (or one for all), in the images' units; the result has the
images' shape. A method config picks one with ``denoiser: prior | bm3d`` or a nested
``_target_`` (:func:`make_denoiser`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from hsi.errors import InputError, ParameterError
from hsi.settings import MODELS_DIR

#: The shipped single-channel prior (trained by ``python cli.py train``).
DEFAULT_PRIOR = MODELS_DIR / "hsi-prior-1ch"


@runtime_checkable
class Denoiser(Protocol):
    def denoise(self, images: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor: ...


def sigma_per_image(sigma: torch.Tensor | float, n: int, like: torch.Tensor) -> torch.Tensor:
    """``sigma`` as ``(n,)`` of ``like``'s dtype and device (a scalar is repeated); must be > 0."""
    values = torch.as_tensor(sigma, dtype=like.dtype, device=like.device).reshape(-1)
    if values.numel() == 1:
        values = values.expand(n)
    if values.numel() != n:
        raise ParameterError(f"sigma must be one value or one per image ({n}); got {values.numel()}")
    if not bool((values > 0).all()):
        raise ParameterError(f"sigma must be > 0 for every image; got min {float(values.min()):.3g}")
    return values


def _stack(images: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    """``(n, rows, cols)`` or ``(n, 1, rows, cols)`` -> ``(n, rows, cols)`` and the shape to give back."""
    if images.ndim == 4 and images.shape[1] == 1:
        return images[:, 0], tuple(images.shape)
    if images.ndim == 3:
        return images, tuple(images.shape)
    raise ParameterError(f"images must be (n, rows, cols) or (n, 1, rows, cols); got {tuple(images.shape)}")


class BM3DDenoiser:
    """:func:`hsi.restore.classical.bm3d.bm3d` behind the seam; ``options`` go to it (patch, radius, ...)."""

    def __init__(self, **options):
        self.options = options

    def denoise(self, images: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
        from hsi.restore.classical.bm3d import bm3d

        stacked, shape = _stack(images)
        sigma = sigma_per_image(sigma, stacked.shape[0], stacked)
        return bm3d(stacked, sigma, **self.options).reshape(shape)


class PriorDenoiser:
    """The single-channel diffusion prior as a denoiser (its one-step Tweedie estimate).

    Parameters
    ----------
    model : the prior's folder or file (:func:`hsi.nn.diffusion_prior.load_prior`); None = the
        shipped ``models/hsi-prior-1ch``.
    device : ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
    batch : images per network call (bounds memory on large tiles).

    Raises
    ------
    InputError : the prior is missing, corrupt, or not single-channel.
    """

    def __init__(self, model: str | Path | None = None, device: str | None = "auto", batch: int = 16):
        from hsi.nn.diffusion_prior import load_prior

        self.device = resolve_device(device)
        location = DEFAULT_PRIOR if model in (None, "") else Path(str(model))
        self.prior = load_prior(location, device=self.device)
        if self.prior.channels != 1 or not hasattr(self.prior, "denoise"):
            raise InputError(f"{location}: a {self.prior.channels}-channel prior without denoise(); "
                             "the diffusion methods need a single-channel, noise-conditioned prior (python cli.py train)")
        self.batch = int(batch)

    def denoise(self, images: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
        stacked, shape = _stack(images)
        sigma = sigma_per_image(sigma, stacked.shape[0], stacked)
        source = stacked.to(self.device, torch.float32)
        pieces = []
        with torch.no_grad():
            for start in range(0, source.shape[0], self.batch):
                chunk = source[start : start + self.batch, None]
                pieces.append(self.prior.denoise(chunk, sigma[start : start + self.batch].to(self.device, torch.float32)))
        return torch.cat(pieces)[:, 0].to(images.device, images.dtype).reshape(shape)


def resolve_device(device: str | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


#: The names ``denoiser:`` accepts in a method config.
DENOISERS = {"prior": PriorDenoiser, "bm3d": BM3DDenoiser}


def make_denoiser(denoiser: str | Denoiser, model: str | Path | None = None, device: str | None = "auto") -> Denoiser:
    """A denoiser from a name (``prior`` with ``model``/``device``, ``bm3d``) or an object already built by Hydra."""
    if isinstance(denoiser, str):
        if denoiser not in DENOISERS:
            raise ParameterError(f"denoiser must be one of {', '.join(DENOISERS)} or a config with a _target_; got {denoiser!r}")
        return PriorDenoiser(model, device) if denoiser == "prior" else BM3DDenoiser()
    if not isinstance(denoiser, Denoiser):
        raise ParameterError(f"denoiser must offer denoise(images, sigma); got {type(denoiser).__name__}")
    return denoiser
