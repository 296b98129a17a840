"""Network definitions shared by training (:mod:`hsi.train`) and inference (:mod:`hsi.restore`)."""

from hsi.nn.unet import build_unet, pad_to_multiple
from hsi.nn.dip import SpatialGenerator

__all__ = ["build_unet", "pad_to_multiple", "SpatialGenerator"]
