"""Deep unmixing: autoencoders trained on the scene itself (no pretraining, no labels)."""

from hsi.unmix.deep.cnnaeu import CNNAEU, CNNAEUModule, cnnaeu, spectral_angle_loss

__all__ = ["CNNAEU", "CNNAEUModule", "cnnaeu", "spectral_angle_loss"]
