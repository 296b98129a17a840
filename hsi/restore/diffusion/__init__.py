"""Diffusion-model restoration over subspace images (HIR-Diff-type prior, DDS2M-like self-supervised mode).

One responsibility per module: ``schedules`` (timesteps, exponential spacing), ``guidance``
(observation models and their data-consistency steps), ``sampler`` (guided DDIM), ``restorer``
(the tile functions the restore job and the benchmark call), ``selfsupervised`` (no trained
prior). The reduced images come from :mod:`hsi.estimate.rrqr_subspace` (SVD + RRQR) and the
U-Net prior with its checkpoint files from :mod:`hsi.nn.diffusion_prior`, both shared with
training. Results are always final iterates: nothing looks at ground truth.
"""

from hsi.estimate.rrqr_subspace import rrqr_subspace
from hsi.nn.diffusion_prior import DiffusionPrior, load_prior
from hsi.restore.diffusion.restorer import DEFAULT_MODEL, DiffusionRestorer
from hsi.restore.diffusion.sampler import SamplerSettings, guided_ddim
from hsi.restore.diffusion.selfsupervised import SelfSupervisedRestorer, dds2m_restore

__all__ = ["DiffusionPrior", "load_prior", "DEFAULT_MODEL", "DiffusionRestorer", "SamplerSettings", "guided_ddim",
           "SelfSupervisedRestorer", "dds2m_restore", "rrqr_subspace"]
