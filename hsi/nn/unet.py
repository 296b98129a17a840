"""The noise-prediction network of the diffusion prior: a small diffusers ``UNet2DModel``.

The prior works on single images (FastHyDe's eigen-images, photographs for training), so the
network's channel count is fixed (``in_channels == out_channels``) whatever the sensor's band count.

References
----------
J. Ho, A. Jain, P. Abbeel, "Denoising diffusion probabilistic models", NeurIPS 2020 (the
noise-prediction U-Net); O. Ronneberger, P. Fischer, T. Brox, "U-Net", MICCAI 2015.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from hsi.errors import ParameterError


def build_unet(
    channels: int = 3,
    sample_size: int = 32,
    block_out_channels: Sequence[int] = (32, 64, 64),
    layers_per_block: int = 1,
    attention: bool = False,
    norm_num_groups: int = 8,
):
    """A ``diffusers.UNet2DModel`` predicting the noise of ``channels``-channel images.

    Parameters
    ----------
    channels : input and output channels (subspace images per sample).
    sample_size : nominal training patch size in pixels; any size divisible by
        ``2 ** (len(block_out_channels) - 1)`` works at inference.
    block_out_channels : feature width of each resolution level.
    layers_per_block : ResNet blocks per level.
    attention : self-attention at the coarsest level (costly on CPU; off by default).
    norm_num_groups : GroupNorm groups (must divide every width).
    """
    from diffusers import UNet2DModel

    widths = tuple(int(w) for w in block_out_channels)
    if int(channels) < 1 or not widths or any(w % int(norm_num_groups) for w in widths):
        raise ParameterError(
            f"channels must be >= 1 and every block_out_channels width divisible by norm_num_groups="
            f"{norm_num_groups}; got channels={channels}, block_out_channels={widths}"
        )
    last_down = "AttnDownBlock2D" if attention else "DownBlock2D"
    first_up = "AttnUpBlock2D" if attention else "UpBlock2D"
    down = ("DownBlock2D",) * (len(widths) - 1) + (last_down,)
    up = (first_up,) + ("UpBlock2D",) * (len(widths) - 1)
    return UNet2DModel(
        sample_size=int(sample_size),
        in_channels=int(channels),
        out_channels=int(channels),
        block_out_channels=widths,
        layers_per_block=int(layers_per_block),
        down_block_types=down,
        up_block_types=up,
        norm_num_groups=int(norm_num_groups),
    )


def pad_to_multiple(images: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad ``(n, c, rows, cols)`` at the bottom/right to multiples of ``multiple``.

    Returns the padded images and the original ``(rows, cols)`` to crop back to.
    """
    rows, cols = images.shape[-2:]
    pad_rows, pad_cols = (-rows) % multiple, (-cols) % multiple
    if pad_rows or pad_cols:
        mode = "reflect" if min(rows, cols) > max(pad_rows, pad_cols) else "replicate"
        images = F.pad(images, (0, pad_cols, 0, pad_rows), mode=mode)
    return images, (rows, cols)
