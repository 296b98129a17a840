"""Diffusion-model restoration over subspace images (HIR-Diff-type prior, DDS2M-like self-supervised mode).

One responsibility per module: ``subspace`` (SVD + RRQR reduced images), ``schedules``
(timesteps, exponential spacing), ``prior`` (the U-Net prior and its checkpoint files),
``guidance`` (observation models and their data-consistency steps), ``sampler`` (guided DDIM),
``restorer`` (the tile functions the restore job and the benchmark call), ``selfsupervised``
(no trained prior). Results are always final iterates: nothing looks at ground truth.
"""

from hsi.restore.diffusion.prior import DiffusionPrior, load_prior
from hsi.restore.diffusion.restorer import DEFAULT_MODEL, DiffusionRestorer
from hsi.restore.diffusion.sampler import SamplerSettings, guided_ddim
from hsi.restore.diffusion.selfsupervised import SelfSupervisedRestorer, dds2m_restore
from hsi.restore.diffusion.subspace import rrqr_subspace

__all__ = ["DiffusionPrior", "load_prior", "DEFAULT_MODEL", "DiffusionRestorer", "SamplerSettings", "guided_ddim",
           "SelfSupervisedRestorer", "dds2m_restore", "rrqr_subspace"]
