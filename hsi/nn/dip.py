"""An untrained convolutional generator for self-supervised (deep-image-prior style) restoration.

Its architecture is the prior: a small encoder-decoder fits natural image structure long
before it fits noise, so fitting it to one noisy observation and stopping early denoises.

References
----------
D. Ulyanov, A. Vedaldi, V. Lempitsky, "Deep image prior", CVPR 2018.
Y. Miao, L. Zhang, L. Zhang, D. Tao, "DDS2M: Self-supervised denoising diffusion spatio-spectral
model for hyperspectral image restoration", ICCV 2023 (the network refitted along a reverse
diffusion process).
"""

from __future__ import annotations

import torch
from torch import nn


def _block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, padding_mode="reflect"),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(0.2),
    )


class SpatialGenerator(nn.Module):
    """Two-level encoder-decoder with a skip connection: ``(n, c, rows, cols) -> (n, c, rows, cols)``.

    ``rows`` and ``cols`` must be even. The output is unbounded (linear last layer).
    """

    def __init__(self, channels: int, width: int = 32):
        super().__init__()
        self.encode = nn.Sequential(_block(channels, width), _block(width, width))
        self.down = nn.Sequential(nn.Conv2d(width, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2), _block(width, width))
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.decode = nn.Sequential(_block(2 * width, width), nn.Conv2d(width, channels, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        skip = self.encode(images)
        deep = self.up(self.down(skip))
        return self.decode(torch.cat([skip, deep], dim=1))
