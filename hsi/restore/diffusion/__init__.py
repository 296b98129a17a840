"""Diffusion-prior restoration in FastHyDe's whitened eigen-image domain, and a self-supervised mode.

One responsibility per module: ``denoisers`` (the seam: the single-channel prior or BM3D behind
``denoise(images, sigma)``), ``eigen_domain`` (whitened eigen-images scaled to the prior's
range, each with its own noise level), ``estimators`` (Tweedie, posterior samples and their
mean), ``pnp`` (plug-and-play HQS for super-resolution and inpainting), ``warm_start`` (a
classical fill to start inpainting from, and the levels its hold-out error implies), ``guidance``
(observation models and their proximal steps), ``restorer`` (the tile functions the restore
job and the benchmark call), ``schedules`` and ``selfsupervised`` (DDS2M-like, no trained
prior). Results are always final iterates: nothing looks at ground truth.
"""

from hsi.restore.diffusion.denoisers import BM3DDenoiser, Denoiser, PriorDenoiser, make_denoiser
from hsi.restore.diffusion.estimators import posterior_mean, posterior_sample, tweedie
from hsi.restore.diffusion.pnp import hqs
from hsi.restore.diffusion.restorer import DiffusionRestorer, PnPRestorer
from hsi.restore.diffusion.selfsupervised import SelfSupervisedRestorer, dds2m_restore

__all__ = ["BM3DDenoiser", "Denoiser", "PriorDenoiser", "make_denoiser", "posterior_mean", "posterior_sample",
           "tweedie", "hqs", "DiffusionRestorer", "PnPRestorer", "SelfSupervisedRestorer", "dds2m_restore"]
