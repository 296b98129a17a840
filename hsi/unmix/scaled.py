"""Abundances under a per-pixel brightness scale, learnt from the scene (empirical Bayes).

Real reflectance varies in brightness within one material (illumination, slope, shade,
grain size): a pixel is ``y = s E a + n`` with ``a`` on the simplex and a scale ``s`` near 1,
not the linear mixing model's ``s = 1`` (Veganzones et al. 2014, the scaled model behind
SCLSU; Drumetz et al. 2016, the extended linear mixing model). FCLS forces ``s = 1`` and
pays for brightness with wrong proportions; NNLS followed by normalisation (SCLSU) frees
``s`` entirely and pays in noise on scenes without brightness variability.

:class:`ScaledAbundances` decides from the scene between the two, and everything in
between, as a MAP estimate: a Gaussian prior ``s ~ N(m, tau^2)`` whose mean and variance
are estimated from the spread of the NNLS scales ``sum(b)`` beyond what the noise alone
would give them (noise from HySime's band regression). The MAP is NNLS on the pixels with
one appended band ``c * sum(b) = c * m``, ``c = sigma / tau`` (Heinz & Chang's augmented
row, softened), then ``a = b / sum(b)``. No spread beyond noise: ``tau = 0``, every pixel's
scale is the prior's mean ``m`` (the MAP's limit as ``tau -> 0``) and the step is FCLS of
``y / m``: FCLS itself when ``m = 1``, and no jump in the abundances or the reconstruction at
the switch when the scene as a whole is brighter or darker than the endmembers. Fitted once on the job's pixel sample, then applied tile by tile unchanged,
so tiled abundances equal untiled ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from hsi.arrays import Array, as_tensor, like_input
from hsi.unmix.abundance import fcls, nnls

__all__ = ["ScalePrior", "ScaledAbundances", "fit_scale_prior", "scaled_abundances"]

#: Below this share of the scale's noise variance, the prior's variance changes the
#: abundances by well under 1 %: the step is FCLS (and the appended band would be ill-conditioned).
NEGLIGIBLE_PRIOR_VARIANCE = 0.01


@dataclass(frozen=True)
class ScalePrior:
    """The brightness-scale prior learnt from a scene, and the numbers behind it.

    model : "scaled" (MAP under the prior) or "fcls" (no brightness spread beyond noise: FCLS at
        the fixed scale ``scale_median``).
    scale_median, scale_spread : median and robust std (1.4826 MAD) of the NNLS scales.
    noise_scale_spread : the std the scales would have from noise alone.
    prior_std : tau, the spread attributed to brightness (0 for "fcls").
    noise_std : rms per-band noise std (HySime's regression estimate).
    weight : c = noise_std / prior_std, the weight of the appended band (None for "fcls").
    """

    model: str
    scale_median: float
    scale_spread: float
    noise_scale_spread: float
    prior_std: float
    noise_std: float
    weight: float | None

    def reason(self) -> str:
        """One sentence for a user: which abundance model, and the figures that chose it."""
        spreads = f"the pixels' NNLS scales spread {self.scale_spread:.3g}"
        if self.weight is None:
            return (f"FCLS (every pixel's scale {self.fixed_scale():.3g}, the scales' median): {spreads}, no more "
                    f"than noise alone gives them ({self.noise_scale_spread:.3g})")
        return (f"a brightness scale per pixel times abundances summing to one (MAP, scale prior "
                f"{self.scale_median:.3g} +- {self.prior_std:.3g}): {spreads}, noise alone {self.noise_scale_spread:.3g}")

    def fixed_scale(self) -> float:
        """The scale every pixel gets under the "fcls" model: the prior's mean (1 if the scales have none)."""
        median = self.scale_median
        return median if np.isfinite(median) and median > 0 else 1.0

    def record(self) -> dict:
        """What the job's report says of the abundance model."""
        fields = {key: value for key, value in asdict(self).items() if key != "model"}
        return {"abundance_model": self.model, "reason": self.reason(), **fields}


def _noise_variances(pixels: torch.Tensor) -> torch.Tensor:
    """Per-band noise variance: HySime's band regression, or the spectral second difference on few pixels."""
    from hsi.estimate.noise import estimate_noise_regression, noise_std_spectral

    if pixels.shape[0] > 2 * pixels.shape[1]:
        return torch.diagonal(estimate_noise_regression(pixels)[1])
    return torch.as_tensor(noise_std_spectral(pixels), dtype=pixels.dtype) ** 2


def _robust_std(values: torch.Tensor) -> torch.Tensor:
    """1.4826 x the median absolute deviation: the std of a Gaussian, insensitive to outliers."""
    return 1.4826 * (values - values.median()).abs().median()


def fit_scale_prior(pixels: Array, endmembers: Array) -> ScalePrior:
    """The brightness-scale prior of ``pixels`` (n, bands) for ``endmembers`` (bands, k).

    The NNLS scale of a pixel, ``s = sum(b)``, spreads by brightness and by noise. The noise
    part is measured, not derived (the non-negativity constraints and near-collinear
    endmembers make the least-squares formula wrong by orders of magnitude): the NNLS fits are
    perturbed once by noise of the estimated per-band variances (fixed seed) and unmixed
    again; the robust spread of the change in scale is the noise's. The prior variance is
    the robust variance of the scales minus the noise's.
    """
    y = as_tensor(pixels).to(torch.float64)
    e = as_tensor(endmembers).to(torch.float64)
    b = nnls(y, e)
    scales = b.sum(dim=1)
    median = scales.median()
    spread = _robust_std(scales)
    variances = _noise_variances(y)
    generator = torch.Generator(device=y.device).manual_seed(0)
    perturbed = b @ e.T + torch.randn(y.shape, generator=generator, dtype=torch.float64, device=y.device) * variances.sqrt()
    noise_var = float(_robust_std(nnls(perturbed, e).sum(dim=1) - scales)) ** 2
    prior_var = float(spread) ** 2 - noise_var
    noise_std = float(variances.mean().sqrt())
    scaled = prior_var > NEGLIGIBLE_PRIOR_VARIANCE * noise_var and noise_std > 0
    prior_std = float(np.sqrt(prior_var)) if scaled else 0.0
    return ScalePrior(model="scaled" if scaled else "fcls", scale_median=float(median), scale_spread=float(spread),
                      noise_scale_spread=float(np.sqrt(max(noise_var, 0.0))), prior_std=prior_std,
                      noise_std=noise_std, weight=noise_std / prior_std if scaled else None)


def scaled_abundances(pixels: Array, endmembers: Array, prior: ScalePrior, *, return_scale: bool = False):
    """Sum-to-one abundances (n, k) of ``pixels`` under ``prior``; with ``return_scale`` also the scales (n,).

    When ``prior.model`` is "fcls" every scale is the prior's mean ``m`` (the limit of the MAP as
    the prior's spread goes to 0) and the abundances are FCLS of ``y / m``: they still sum to
    one, and the reconstruction is ``m E a``. A pixel whose MAP scale is 0 (below every
    endmember, e.g. negative reflectance over water) keeps that scale and FCLS's proportions.
    """
    if prior.weight is None:
        scale = prior.fixed_scale()
        data = as_tensor(pixels)
        abundances = fcls(pixels if scale == 1.0 else data / scale, endmembers)
        abundances = like_input(as_tensor(abundances), pixels)
        if not return_scale:
            return abundances
        return abundances, like_input(torch.full((data.shape[0],), scale, dtype=data.dtype, device=data.device), pixels)
    y = as_tensor(pixels).to(torch.float64)
    e = as_tensor(endmembers).to(torch.float64)
    c = float(prior.weight)
    augmented_pixels = torch.cat([y, torch.full((y.shape[0], 1), c * prior.scale_median, dtype=torch.float64)], dim=1)
    augmented_endmembers = torch.cat([e, torch.full((1, e.shape[1]), c, dtype=torch.float64)], dim=0)
    b = nnls(augmented_pixels, augmented_endmembers)
    scales = b.sum(dim=1)
    abundances = b / scales.clamp_min(1e-12)[:, None]
    unscaled = scales <= 0  # no non-negative scale fits (water, shadow below zero): b / sum(b) is 0 / 0
    if bool(unscaled.any()):
        abundances[unscaled] = as_tensor(fcls(y[unscaled], e)).to(abundances.dtype)
    abundances = like_input(abundances.to(as_tensor(pixels).dtype), pixels)
    if return_scale:
        return abundances, like_input(scales.to(as_tensor(pixels).dtype), pixels)
    return abundances


@dataclass(frozen=True)
class FittedScaledAbundances:
    """The abundance step with its prior fixed (picklable; the job streams it over the scene)."""

    prior: ScalePrior

    def __call__(self, pixels: Array, endmembers: Array):
        return scaled_abundances(pixels, endmembers, self.prior)

    def with_scale(self, pixels: Array, endmembers: Array):
        """``(abundances, scales)``: the reconstruction of a pixel is ``scale * E a``."""
        return scaled_abundances(pixels, endmembers, self.prior, return_scale=True)

    def record(self) -> dict:
        return self.prior.record()


class ScaledAbundances:
    """Abundance step that learns the scene's brightness-scale prior, then applies it.

    ``fit(pixels, endmembers)`` returns the fitted step (the job fits it on its pixel
    sample); calling the unfitted step fits on the pixels it is given (in-memory use).

    References
    ----------
    M. A. Veganzones, L. Drumetz, G. Tochon, M. Dalla Mura, A. Plaza, J. Bioucas-Dias and
    J. Chanussot, "A new extended linear mixing model to address spectral variability",
    WHISPERS 2014. L. Drumetz, M. A. Veganzones, S. Henrot, R. Phlypo, J. Chanussot and
    C. Jutten, "Blind hyperspectral unmixing using an extended linear mixing model to address
    spectral variability", IEEE TIP 25(8), 2016. D. C. Heinz and C.-I Chang, "Fully
    constrained least squares linear spectral mixture analysis", IEEE TGRS 39(3), 2001.
    J. M. Bioucas-Dias and J. M. P. Nascimento, "Hyperspectral subspace identification",
    IEEE TGRS 46(8), 2008 (the noise estimate).
    """

    def fit(self, pixels: Array, endmembers: Array) -> FittedScaledAbundances:
        return FittedScaledAbundances(fit_scale_prior(pixels, endmembers))

    def __call__(self, pixels: Array, endmembers: Array):
        return self.fit(pixels, endmembers)(pixels, endmembers)
