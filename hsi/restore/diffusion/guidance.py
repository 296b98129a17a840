"""Observation models and their data-consistency (proximal) steps, on normalised subspace images.

Every model is linear, acts on each channel alike and has Gaussian noise whose covariance
across channels is known (:class:`ChannelNoise`). Rotating the channels to the eigenbasis of
that covariance makes the noise independent per channel (the operators commute with the
rotation), so each guidance step solves, per rotated channel ``c``,

    x0 = argmin_x ||y_c - H x||^2 / (2 v_c) + rho / 2 ||x - x0_hat||^2,

the proximal (DDRM/DiffPIR-style projection) step between the prior's clean estimate
``x0_hat`` and the data. ``rho`` follows the denoiser's level (plug-and-play HQS,
:mod:`hsi.restore.diffusion.pnp`) or the reverse process (:mod:`hsi.restore.diffusion.selfsupervised`). Closed forms for denoising and inpainting; conjugate
gradients with the exact operator and its autograd adjoint for blur + decimation.

References
----------
B. Kawar, M. Elad, S. Ermon, J. Song, "Denoising diffusion restoration models", NeurIPS 2022.
Y. Zhu, K. Zhang, J. Liang, J. Cao, B. Wen, R. Timofte, L. Van Gool, "Denoising diffusion models
for plug-and-play image restoration", CVPR Workshops 2023 (DiffPIR). H. Chung, J. Kim, M. T.
Mccann, M. L. Klasky, J. C. Ye, "Diffusion posterior sampling for general noisy inverse
problems", ICLR 2023 (DPS).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from hsi.errors import ParameterError


class ChannelNoise:
    """Per-pixel Gaussian noise with a ``(c, c)`` covariance across channels, and its eigenbasis."""

    def __init__(self, covariance: np.ndarray):
        cov = np.asarray(covariance, dtype=np.float64)
        if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
            raise ParameterError(f"noise covariance must be square (c, c); got shape {cov.shape}")
        variances, basis = np.linalg.eigh((cov + cov.T) / 2)
        self.variances = np.maximum(variances, 1e-12)
        self.basis = basis

    @property
    def rms(self) -> float:
        return float(np.sqrt(self.variances.mean()))

    def rotate(self, images: torch.Tensor) -> torch.Tensor:
        """``(n, c, ...)`` to the eigenbasis (independent noise per channel)."""
        q = torch.as_tensor(self.basis, dtype=images.dtype, device=images.device)
        return torch.einsum("dc,nc...->nd...", q.T, images)

    def unrotate(self, images: torch.Tensor) -> torch.Tensor:
        q = torch.as_tensor(self.basis, dtype=images.dtype, device=images.device)
        return torch.einsum("cd,nd...->nc...", q, images)

    def variance_tensor(self, like: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (like.ndim - 2)
        return torch.as_tensor(self.variances, dtype=like.dtype, device=like.device).view(shape)


class Denoising:
    """``y = x + n``."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images

    def initial(self, observed: torch.Tensor) -> torch.Tensor:
        return observed

    def proximal(self, estimate: torch.Tensor, observed: torch.Tensor, variance: torch.Tensor, rho: float) -> torch.Tensor:
        return (observed / variance + rho * estimate) / (1 / variance + rho)


class Inpainting:
    """``y = M x + n`` with a pixel mask ``M`` ``(n, 1, rows, cols)``, True where observed."""

    def __init__(self, mask: torch.Tensor):
        self.mask = mask.bool()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images * self.mask

    def initial(self, observed: torch.Tensor) -> torch.Tensor:
        """Normalised convolution: observed pixels averaged over growing neighbourhoods fill the gaps."""
        mask = self.mask.to(observed.dtype)
        result, todo = observed * mask, ~self.mask
        for width in (3, 7, 15, 31, 63, 127):
            pad = [width // 2] * 4
            blurred = F.avg_pool2d(F.pad(observed * mask, pad, mode="replicate"), width, stride=1)
            support = F.avg_pool2d(F.pad(mask, pad, mode="replicate"), width, stride=1)
            fill = todo & (support > 0)
            result = torch.where(fill, blurred / support.clamp_min(1e-12), result)
            todo = todo & ~fill
            if not bool(todo.any()):
                break
        return result

    def proximal(self, estimate: torch.Tensor, observed: torch.Tensor, variance: torch.Tensor, rho: float) -> torch.Tensor:
        fused = (observed / variance + rho * estimate) / (1 / variance + rho)
        return torch.where(self.mask, fused, estimate)


class BlurDecimation:
    """``y = S B x + n``: per-channel blur then decimation by ``scale``.

    The blur is an isotropic Gaussian PSF of ``blur_sigma`` pixels (on the high-resolution
    grid; :func:`hsi.degrade.mtf.gaussian_blur`) or, when ``blur_sigma`` is None, the Gaussian
    MTF of Wald's protocol with ``nyquist_gain`` (:func:`hsi.degrade.mtf.mtf_blur`); then
    :func:`hsi.degrade.mtf.decimate` (first kept pixel ``scale // 2``), as the degradation
    functions of :mod:`hsi.degrade.mtf` do.

    Parameters
    ----------
    scale : integer decimation factor.
    blur_sigma : Gaussian PSF standard deviation in high-resolution pixels, or None.
    nyquist_gain : MTF amplitude at the low-resolution Nyquist frequency (used when
        ``blur_sigma`` is None; 0.3 = generic sensor).
    kernel_size : odd taps of the MTF kernel (the Gaussian PSF uses ``2 ceil(4 sigma) + 1``).
    cg_iterations : conjugate-gradient iterations of each proximal step.
    """

    def __init__(self, scale: int, blur_sigma: float | None = None, nyquist_gain: float = 0.3,
                 kernel_size: int = 41, cg_iterations: int = 8):
        if int(scale) != scale or scale < 2:
            raise ParameterError(f"scale must be an integer >= 2 for super-resolution; got {scale}")
        if blur_sigma is not None and not float(blur_sigma) > 0:
            raise ParameterError(f"blur_sigma must be > 0 pixels (or None for the MTF blur); got {blur_sigma}")
        self.scale, self.nyquist_gain, self.kernel_size = int(scale), float(nyquist_gain), int(kernel_size)
        self.blur_sigma = None if blur_sigma is None else float(blur_sigma)
        self.cg_iterations = int(cg_iterations)

    def blur(self, stacked: torch.Tensor) -> torch.Tensor:
        """Blur of ``(rows, cols, channels)`` on the high-resolution grid."""
        from hsi.degrade.mtf import gaussian_blur, mtf_blur

        if self.blur_sigma is not None:
            return gaussian_blur(stacked, self.blur_sigma)
        return mtf_blur(stacked, self.nyquist_gain, self.scale, size=self.kernel_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        from hsi.degrade.mtf import decimate

        n, c, rows, cols = images.shape
        stacked = images.permute(2, 3, 0, 1).reshape(rows, cols, n * c)
        low = decimate(self.blur(stacked), self.scale)
        return low.reshape(low.shape[0], low.shape[1], n, c).permute(2, 3, 0, 1)

    def initial(self, observed: torch.Tensor) -> torch.Tensor:
        return F.interpolate(observed, scale_factor=self.scale, mode="bicubic", align_corners=False)

    def proximal(self, estimate: torch.Tensor, observed: torch.Tensor, variance: torch.Tensor, rho: float) -> torch.Tensor:
        """Conjugate gradients on ``(H^T H / v + rho) x = H^T y / v + rho x0_hat``, per image and channel."""
        _, pullback = torch.func.vjp(self.forward, torch.zeros_like(estimate))
        normal = lambda x: pullback(self.forward(x) / variance)[0] + rho * x  # noqa: E731
        rhs = pullback(observed / variance)[0] + rho * estimate
        x = estimate.clone()
        residual = rhs - normal(x)
        direction = residual.clone()
        power = (residual * residual).sum(dim=(2, 3), keepdim=True)
        for _ in range(self.cg_iterations):
            image = normal(direction)
            step = power / (direction * image).sum(dim=(2, 3), keepdim=True).clamp_min(1e-30)
            x = x + step * direction
            residual = residual - step * image
            new_power = (residual * residual).sum(dim=(2, 3), keepdim=True)
            direction = residual + (new_power / power.clamp_min(1e-30)) * direction
            power = new_power
        return x
