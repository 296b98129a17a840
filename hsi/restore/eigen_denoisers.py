"""The 2-D denoiser FastHyDe runs on its whitened eigen-images: BM3D, or any ``denoise(images, sigma)``.

FastHyDe whitens each band by its noise level and projects on an orthonormal basis, so its
``k`` eigen-images carry white noise of unit variance (Zhuang & Bioucas-Dias 2018). Any denoiser
of white Gaussian noise can then restore them:

- :class:`BM3DEigenDenoiser`: BM3D at unit noise on the whitened images, as published;
- :class:`ScaledEigenDenoiser`: a denoiser that expects images in a fixed range (the diffusion
  prior, :class:`hsi.restore.diffusion.denoisers.PriorDenoiser`, or any object of that seam).
  Each eigen-image ``i`` is centred by ``offset_i`` and divided by ``scale_i``, then denoised
  at ``sigma_i = 1 / scale_i`` (its unit noise in the new units). The **scale rule**:
  ``scale_i = max(sqrt(var_i - 1), MIN_SIGNAL_STD) / signal_std``, with ``var_i`` the
  variance of eigen-image ``i`` over the scene's fit sample (the unit noise variance taken
  away leaves the signal's) and ``offset_i`` its mean; the signal's spread becomes
  ``signal_std``, the spread of the prior's training images. Both are fixed once per scene by
  :meth:`ScaledEigenDenoiser.fit` (never per tile, or tiles would be scaled differently and
  disagree at their seams), so every tile of the streamed path sees the same mapping.

Each class also says how the streamed path must cut its tiles (``tile``, ``margin``,
``support``, ``alignment``; :func:`hsi.tiling.subspace_stream.run_subspace`), and both are
picklable, so tiles can run on Dask workers.

References
----------
L. Zhuang, J. M. Bioucas-Dias, "Fast hyperspectral image denoising and inpainting based on
low-rank and sparse representations", IEEE JSTARS 11(3), 2018. K. Dabov et al., "Image denoising
by sparse 3-D transform-domain collaborative filtering", IEEE TIP 16(8), 2007.
"""

from __future__ import annotations

import numpy as np
import torch

from hsi.errors import ParameterError
from hsi.estimate.sure import estimate_and_divergence
from hsi.nn.diffusion_prior import full_precision
from hsi.restore.classical.fasthyde import (denoise_eigen_images, denoiser_alignment, denoiser_margin,
                                            denoiser_support)

#: Eigen-images whose signal standard deviation (whitened units) falls below this are scaled as if this strong.
MIN_SIGNAL_STD = 0.05
#: Small images (the SURE choice's fit sample) go to a denoiser together up to this many pixels per call; a
#: larger image (a streamed tile) goes alone. Bounds memory (BM3D ~2 kB per pixel) and saves per-call overhead.
BATCH_PIXELS = 1 << 16


def _batches(n: int, pixels_per_image: int) -> list[slice]:
    """Consecutive slices of ``n`` images, each at most :data:`BATCH_PIXELS` pixels (at least one image)."""
    size = max(1, BATCH_PIXELS // max(1, pixels_per_image))
    return [slice(start, start + size) for start in range(0, n, size)]


class BM3DEigenDenoiser:
    """BM3D at unit noise on whitened eigen-images (``options`` go to :func:`hsi.restore.classical.bm3d.bm3d`).

    One image at a time (BM3D holds about 2 kB per pixel of an image) unless the images are small
    (:data:`BATCH_PIXELS`), all at once with ``shared_groups`` (matched jointly). Tiles of 256 px; margin ``patch + radius``
    (:func:`~hsi.restore.classical.fasthyde.denoiser_margin`), exact with ``support``.
    """

    tile = 256

    def __init__(self, **options):
        self.options = dict(options)
        self.support = denoiser_support(**self.options)
        self.margin = denoiser_margin(**self.options)
        self.alignment = denoiser_alignment(**self.options)

    def fit(self, images: torch.Tensor) -> "BM3DEigenDenoiser":
        """Nothing to fit: the whitened noise is unit whatever the scene."""
        return self

    def describe(self) -> dict:
        return {"denoiser": "bm3d"}

    def denoise(self, images: torch.Tensor, index=None) -> torch.Tensor:
        """``(k, rows, cols)`` whitened eigen-images -> denoised, same shape (``index``: unused, all at unit noise)."""
        if self.options.get("shared_groups"):
            return denoise_eigen_images(images, **self.options)
        return torch.cat([denoise_eigen_images(images[part], **self.options)
                          for part in _batches(images.shape[0], images.shape[1] * images.shape[2])])


class ScaledEigenDenoiser:
    """A ``denoise(images, sigma)`` denoiser on eigen-images scaled scene-wide to its range (see the module).

    Parameters
    ----------
    denoiser : an object with ``denoise(images (n, rows, cols), sigma (n,))`` (the seam of
        :mod:`hsi.restore.diffusion.denoisers`).
    signal_std : spread each eigen-image's signal is scaled to (0.45: the prior's training images).
    tile : side of the streamed path's denoising tiles (128: fastest for the prior on CPU).
    margin : pixels of context around each tile. The prior's U-Net has group normalisation and a
        self-attention mid block, so no finite margin is exact: the tiles' own statistics differ from
        the whole image's. On a 256 x 256 synthetic scene (4 tiles of 128) the mean difference to the
        untiled result was 0.024 / 0.019 / 0.019 / 0.016 of the unit noise at margins 0 / 8 / 16 / 32
        and the largest 1.26 / 0.28 / 0.29 / 0.27: 8 removes the seams, more buys little
        (``tests/tiling/test_subspace_stream.py`` bounds it).
    alignment : tile origins are multiples of this (the U-Net's downsampling factor, 4), so every
        tile sees the untiled pixel grid.
    """

    def __init__(self, denoiser, signal_std: float = 0.45, tile: int = 128, margin: int = 8, alignment: int = 4):
        if not callable(getattr(denoiser, "denoise", None)):
            raise ParameterError(f"denoiser must offer denoise(images, sigma); got {type(denoiser).__name__}")
        if not signal_std > 0 or int(tile) < 1 or int(margin) < 0 or int(alignment) < 1:
            raise ParameterError(f"signal_std > 0, tile >= 1, margin >= 0 and alignment >= 1 required; "
                                 f"got {signal_std}, {tile}, {margin}, {alignment}")
        self.denoiser, self.signal_std = denoiser, float(signal_std)
        self.tile, self.margin, self.alignment = int(tile), int(margin), int(alignment)
        self.support = self.margin  # no exact support: the network sees its whole input
        self.offset: torch.Tensor | None = None
        self.scale: torch.Tensor | None = None

    def fit(self, images: torch.Tensor) -> "ScaledEigenDenoiser":
        """Scene-wide ``offset`` and ``scale`` from the fit sample's ``(n, k, rows, cols)`` whitened eigen-images."""
        coefficients = images.double().transpose(0, 1).reshape(images.shape[1], -1).T
        self.offset = coefficients.mean(0)
        signal = (coefficients.var(0) - 1).clamp_min(MIN_SIGNAL_STD ** 2).sqrt()  # unit noise taken away
        self.scale = signal / self.signal_std
        return self

    @property
    def sigma(self) -> torch.Tensor:
        """``(k,)`` noise level of each scaled eigen-image."""
        if self.scale is None:
            raise ParameterError("the eigen-image denoiser must be fitted on the scene's coefficients first")
        return 1.0 / self.scale

    def describe(self) -> dict:
        return {"denoiser": type(self.denoiser).__name__, "signal_std": self.signal_std,
                "sigma_per_eigen_image": np.round(self.sigma.numpy(), 4).tolist()}

    def denoise(self, images: torch.Tensor, index=None) -> torch.Tensor:
        """``(m, rows, cols)`` whitened eigen-images -> denoised, same shape and dtype.

        ``index``: which eigen-image each one is (None: all ``k``, in order). One image per
        call of the denoiser unless they are small (:data:`BATCH_PIXELS`): a network's activations
        grow with the batch (a U-Net of 32 channels holds tens of MB per image of a 300-px tile per
        layer), and two tiles run side by side, so batching the ``k`` images of a tile would multiply
        the peak memory for little speed on CPU.
        """
        sigma = self.sigma
        index = torch.arange(sigma.numel()) if index is None else torch.as_tensor(index).reshape(-1)
        if images.shape[0] != index.numel():
            raise ParameterError(f"expected {index.numel()} eigen-images; got {images.shape[0]}")
        offset, scale = self.offset[index].to(images.dtype)[:, None, None], self.scale[index].to(images.dtype)[:, None, None]
        scaled = ((images - offset) / scale).float()
        levels = sigma[index].float()
        restored = torch.cat([self.denoiser.denoise(scaled[part], levels[part])
                              for part in _batches(scaled.shape[0], scaled.shape[1] * scaled.shape[2])])
        return restored.to(images.dtype) * scale + offset


def sure_per_image(denoiser, images: torch.Tensor, epsilon: float = 0.01,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Monte-Carlo SURE of ``denoiser`` on each eigen-image of ``(n, k, rows, cols)`` whitened samples: ``(k,)``.

    With unit white noise, ``SURE = |y - f(y)|^2 / N - 1 + 2 div f / N`` is an unbiased estimate of
    the mean squared error ``|f(y) - x|^2 / N`` that needs no clean image; the divergence is
    ``b . (f(y + epsilon b) - f(y)) / epsilon`` for one random probe ``b`` (Ramani, Blu & Unser 2008).
    """
    n, k, rows, cols = images.shape
    flat = images.transpose(0, 1).reshape(k * n, rows, cols).contiguous()
    index = torch.arange(k).repeat_interleave(n)
    probe = torch.randn(flat.shape, generator=generator, dtype=flat.dtype)
    estimate, divergence = estimate_and_divergence(lambda x: denoiser.denoise(x, index), flat, probe, epsilon)
    residual = ((flat - estimate) ** 2).reshape(k, -1).double().mean(1)
    divergence = divergence.double().reshape(k, n).sum(1) / (n * rows * cols)
    return residual - 1 + 2 * divergence


def sure_sample(images: torch.Tensor, max_pixels: int) -> torch.Tensor:
    """At most ``max_pixels`` pixels of ``(n, k, rows, cols)`` sample images: whole blocks, or the
    centred square of one block when a block alone is larger."""
    n, _, rows, cols = images.shape
    if rows * cols <= max_pixels:
        return images[:max(1, min(n, max_pixels // (rows * cols)))]
    side = max(1, int(np.sqrt(max_pixels)))
    height, width = min(rows, side), min(cols, max(side, max_pixels // min(rows, side)))
    top, left = (rows - height) // 2, (cols - width) // 2
    return images[:1, :, top:top + height, left:left + width]


class SureChoiceEigenDenoiser:
    """Per eigen-image, the candidate denoiser with the lowest SURE on the scene's fit sample.

    Which 2-D denoiser restores an eigen-image best depends on what it shows (the prior, trained
    on photographs, wins on textures; BM3D on piecewise-smooth fields with straight edges), not on
    its noise level alone. The whitened noise is unit and white, so Stein's unbiased risk estimate
    (:func:`sure_per_image`) ranks the candidates on the scene itself, with no clean image, once
    per scene, on at most ``max_pixels`` pixels of the fit sample (:func:`sure_sample`): it costs
    two calls of each candidate there (the sample's small blocks batched per call, in float32), so it is kept small (16,384 pixels: the risks' standard error
    is then about 0.01 of the unit noise variance, and both candidates see the same noise and
    probe, so their difference is sharper still). Every tile then uses the same choice. Tiles are
    cut for the strictest chosen candidate.

    Parameters
    ----------
    candidates : name -> eigen-image denoiser (:class:`BM3DEigenDenoiser`, :class:`ScaledEigenDenoiser`).
    max_pixels : pixels of the fit sample SURE is computed on (whole blocks, at least one).
    epsilon : the divergence probe's step (whitened units).
    seed : seeds the probe.

    References
    ----------
    S. Ramani, T. Blu, M. Unser, "Monte-Carlo SURE: a black-box optimization of regularization
    parameters for general denoising algorithms", IEEE TIP 17(9), 2008. C. Stein, "Estimation of
    the mean of a multivariate normal distribution", Ann. Statist. 9(6), 1981.
    """

    def __init__(self, candidates: dict, max_pixels: int = 16_384, epsilon: float = 0.01, seed: int = 0):
        if not candidates:
            raise ParameterError("candidates must name at least one eigen-image denoiser")
        self.candidates, self.names = dict(candidates), list(candidates)
        self.max_pixels, self.epsilon, self.seed = int(max_pixels), float(epsilon), int(seed)
        self.choice: list[str] | None = None
        self.sure: dict[str, list[float]] = {}

    def fit(self, images: torch.Tensor) -> "SureChoiceEigenDenoiser":
        """Fit every candidate on the ``(n, k, rows, cols)`` sample, then choose per eigen-image by SURE."""
        for candidate in self.candidates.values():
            candidate.fit(images)
        sample = sure_sample(images, self.max_pixels)
        risks = []
        for name in self.names:
            generator = torch.Generator().manual_seed(self.seed)  # the same probe for every candidate
            with full_precision():  # the divergence divides by epsilon: no bfloat16 rounding in it
                risk = sure_per_image(self.candidates[name], sample, self.epsilon, generator)
            self.sure[name] = [round(float(r), 5) for r in risk]
            risks.append(risk)
        best = torch.stack(risks).argmin(0)
        self.choice = [self.names[int(i)] for i in best]
        return self

    def _chosen(self) -> list:
        if self.choice is None:
            raise ParameterError("the eigen-image denoiser must be fitted on the scene's sample first")
        return [self.candidates[name] for name in dict.fromkeys(self.choice)]

    @property
    def tile(self) -> int:
        return max(candidate.tile for candidate in self._chosen())

    @property
    def margin(self) -> int:
        return max(candidate.margin for candidate in self._chosen())

    @property
    def support(self) -> int:
        return max(candidate.support for candidate in self._chosen())

    @property
    def alignment(self) -> int:
        return int(np.lcm.reduce([candidate.alignment for candidate in self._chosen()]))

    def parts(self) -> list[tuple[tuple[int, ...], object]]:
        """``(eigen-images, candidate)`` for each chosen candidate: the streamed path tiles each part with its
        candidate's own tile and margin (the prior's cost per pixel grows with its tile: self-attention over it)."""
        self._chosen()
        return [(tuple(i for i, chosen in enumerate(self.choice) if chosen == name), self.candidates[name])
                for name in dict.fromkeys(self.choice)]

    def describe(self) -> dict:
        return {"denoiser": "sure_choice", "choice_per_eigen_image": self.choice, "sure_per_eigen_image": self.sure,
                **{name: self.candidates[name].describe() for name in self.names}}

    def denoise(self, images: torch.Tensor, index=None) -> torch.Tensor:
        """``(m, rows, cols)`` whitened eigen-images (``index``: which ones; None = all ``k``) -> denoised."""
        self._chosen()
        index = torch.arange(len(self.choice)) if index is None else torch.as_tensor(index).reshape(-1)
        out = torch.empty_like(images)
        for name in dict.fromkeys(self.choice):
            mine = torch.tensor([self.choice[int(i)] == name for i in index])
            if mine.any():
                out[mine] = self.candidates[name].denoise(images[mine].contiguous(), index[mine])
        return out
