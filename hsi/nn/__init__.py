"""Networks shared by training (:mod:`hsi.train`) and inference (:mod:`hsi.restore`).

:mod:`~hsi.nn.unet` (the denoising U-Net), :mod:`~hsi.nn.diffusion_prior` (the U-Net with its
noise schedule, the single-channel prior's ``normalise`` / ``denoise`` contract and self-describing
checkpoint files), :mod:`~hsi.nn.noise_levels` (real timesteps <-> noise levels),
:mod:`~hsi.nn.dip` (untrained generator), :mod:`~hsi.nn.quiet` (Lightning without its console
lines, for a method that trains a network inside a job).
"""

from hsi.nn.dip import SpatialGenerator
from hsi.nn.unet import build_unet, pad_to_multiple

__all__ = ["build_unet", "pad_to_multiple", "SpatialGenerator"]
