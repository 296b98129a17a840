"""Band statistics of the component-substitution and MRA methods (population moments, regressions)."""

from __future__ import annotations

import torch


def band_means(cube: torch.Tensor) -> torch.Tensor:
    """Mean of each band of a (rows, cols, bands) cube: (bands,)."""
    return cube.mean(dim=(0, 1))


def band_stds(cube: torch.Tensor) -> torch.Tensor:
    """Standard deviation of each band (population, as the toolboxes use): (bands,)."""
    return cube.std(dim=(0, 1), correction=0)


def covariance_with(cube: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Covariance of each band of ``cube`` (rows, cols, bands) with ``image`` (rows, cols): (bands,)."""
    centred_cube = cube - band_means(cube)
    centred_image = image - image.mean()
    return (centred_cube * centred_image[:, :, None]).mean(dim=(0, 1))


def regression_gains(cube: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """``cov(band, image) / var(image)`` per band: the least-squares slope of each band on ``image``."""
    variance = image.var(correction=0).clamp_min(torch.finfo(image.dtype).tiny)
    return covariance_with(cube, image) / variance


def match_moments(image: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, reference_std: torch.Tensor | None = None) -> torch.Tensor:
    """``image`` shifted and scaled to ``mean`` and ``std`` (broadcast over trailing band axes).

    ``reference_std`` replaces ``image``'s own standard deviation in the scaling (the MRA toolboxes
    scale by the low-pass PAN's deviation so that the *low-pass* matches the MS band).
    """
    own_std = image.std(correction=0) if reference_std is None else reference_std
    tiny = torch.finfo(image.dtype).tiny
    centred = image - image.mean()
    if mean.ndim:
        centred = centred[..., None]
    return centred * (std / own_std.clamp_min(tiny)) + mean
