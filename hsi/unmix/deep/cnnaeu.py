"""Convolutional autoencoder unmixing (CNNAEU family), trained on the scene itself with Lightning.

The encoder maps a patch (bands, h, w) to abundance maps (k, h, w) through a softmax over
the endmember axis (non-negativity and sum-to-one by construction); the decoder is one
bias-free 1x1 convolution whose weight matrix (bands, k) *is* the endmember matrix, kept
non-negative. The loss is the mean spectral angle between each pixel and its
reconstruction, so the fit ignores per-pixel illumination scale.
"""

from __future__ import annotations

import lightning
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from hsi.arrays import Array, as_tensor, like_input, positive_int, torch_generator
from hsi.errors import ParameterError
from hsi.nn.quiet import quiet_lightning
from hsi.unmix.checks import check_n_endmembers, check_pixels
from hsi.unmix.extract import vca

__all__ = ["CNNAEU", "CNNAEUModule", "cnnaeu", "spectral_angle_loss"]


def spectral_angle_loss(reconstruction: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Mean spectral angle (radians) between (b, bands, h, w) tensors, over all pixels."""
    dot = (reconstruction * target).sum(dim=1)
    norms = reconstruction.norm(dim=1) * target.norm(dim=1)
    cosine = (dot / norms.clamp_min(eps)).clamp(-1 + 1e-7, 1 - 1e-7)
    return torch.acos(cosine).mean()


class CNNAEU(nn.Module):
    """Encoder (1x1 conv, 3x3 conv, LeakyReLU, BN, dropout, 1x1 conv, softmax) and linear 1x1 decoder.

    Parameters
    ----------
    n_bands, n_endmembers : input channels and abundance maps.
    hidden : channels of the hidden layer.
    kernel_size : spatial size of the first convolution (1 = pixel-wise autoencoder).
    dropout : channel dropout after the hidden layer.
    softmax_scale : multiplies the logits before the softmax (sharper abundances when > 1).
    """

    def __init__(self, n_bands: int, n_endmembers: int, *, hidden: int = 32, kernel_size: int = 3,
                 dropout: float = 0.1, softmax_scale: float = 1.0):
        super().__init__()
        self.encoder = nn.Sequential(
            # A 1x1 spectral reduction before the spatial layer: 3-4x cheaper than the paper's
            # 3x3 convolution on all bands, with the same receptive field.
            nn.Conv2d(n_bands, hidden, 1),
            nn.Conv2d(hidden, hidden, kernel_size, padding=kernel_size // 2, padding_mode="reflect" if kernel_size > 1 else "zeros"),
            nn.LeakyReLU(0.02),
            nn.BatchNorm2d(hidden),
            nn.Dropout2d(dropout),
            nn.Conv2d(hidden, n_endmembers, 1),
        )
        self.softmax_scale = float(softmax_scale)
        self.decoder = nn.Conv2d(n_endmembers, n_bands, 1, bias=False)

    @property
    def endmembers(self) -> torch.Tensor:
        """(bands, k) decoder weights."""
        return self.decoder.weight[:, :, 0, 0]

    def abundances(self, patches: torch.Tensor) -> torch.Tensor:
        """(b, k, h, w) abundance maps on the simplex."""
        return torch.softmax(self.softmax_scale * self.encoder(patches), dim=1)

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        abundances = self.abundances(patches)
        return self.decoder(abundances), abundances


class CNNAEUModule(lightning.LightningModule):
    """Self-supervised training of :class:`CNNAEU` on random patches of one image.

    Parameters
    ----------
    image : (1, bands, rows, cols) scaled image. origins : (n_patches, 2) top-left corners.
    patch_shape : (h, w). learning_rate : Adam step. batch_size : patches per step.
    network : the autoencoder.
    """

    def __init__(self, network: CNNAEU, image: torch.Tensor, origins: torch.Tensor, patch_shape: tuple[int, int],
                 *, learning_rate: float, batch_size: int):
        super().__init__()
        self.network = network
        self.image = image
        self.origins = origins
        self.patch_shape = patch_shape
        self.learning_rate = learning_rate
        self.batch_size = batch_size

    def train_dataloader(self):
        return DataLoader(TensorDataset(self.origins), batch_size=self.batch_size, shuffle=False)

    def _patches(self, origins: torch.Tensor) -> torch.Tensor:
        image = self.image.to(self.device)
        h, w = self.patch_shape
        return torch.cat([image[:, :, r:r + h, c:c + w] for r, c in origins.tolist()])

    def training_step(self, batch, batch_idx):
        patches = self._patches(batch[0])
        reconstruction, _ = self.network(patches)
        loss = spectral_angle_loss(reconstruction, patches)
        self.log("train/sad_loss", loss, prog_bar=True, batch_size=patches.shape[0])
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx):
        with torch.no_grad():  # non-negative endmembers (projected gradient)
            self.network.decoder.weight.clamp_(min=0.0)

    def configure_optimizers(self):
        return torch.optim.Adam(self.network.parameters(), lr=self.learning_rate)


def _least_squares_scales(data: torch.Tensor, endmembers: torch.Tensor, abundances: torch.Tensor) -> torch.Tensor:
    """Per-endmember factors ``c`` (k,) minimising ``||Y - A diag(c) E^T||_F``.

    The angle loss leaves each endmember's scale free; these factors restore the scale at
    which the learnt abundances reproduce the data, so that FCLS on the returned endmembers
    agrees with the network's abundances. data (n, bands), endmembers (bands, k), abundances (n, k).
    """
    gram = (abundances.T @ abundances) * (endmembers.T @ endmembers)
    rhs = ((data @ endmembers) * abundances).sum(dim=0)
    ridge = 1e-9 * gram.diagonal().mean() * torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    factors = torch.linalg.solve(gram + ridge, rhs)
    return torch.where(factors > 0, factors, torch.ones_like(factors))


def cnnaeu(
    pixels: Array,
    n_endmembers: int,
    rng=None,
    *,
    image_shape: tuple[int, int] | None = None,
    trainer=None,
    patch_size: int = 16,
    n_patches: int = 200,
    batch_size: int = 8,
    learning_rate: float = 3e-3,
    hidden: int = 32,
    dropout: float = 0.1,
    softmax_scale: float = 1.0,
    device=None,
):
    """Blind unmixing by a convolutional autoencoder trained on the scene (CNNAEU family).

    Steps: (1) scale the image to unit RMS pixel norm; (2) VCA endmembers initialise the
    decoder; (3) train encoder and decoder on ``n_patches`` random ``patch_size`` square
    patches with the spectral-angle loss (Adam, non-negative decoder) through a Lightning
    ``Trainer``; (4) endmembers = decoder weights (back in the input's units), abundances =
    the encoder's softmax maps of the whole image (eval mode).

    Parameters
    ----------
    pixels : (n_pixels, bands) data; with ``image_shape`` the whole image in row-major order.
    n_endmembers : k.
    rng : seed / numpy Generator / torch Generator: VCA, weights, patch positions and dropout
        are all drawn from it (global random state is left untouched).
    image_shape : (rows, cols). None (a pixel sample, as in the ``unmix`` job): the network
        is pixel-wise (1x1 first convolution) and patches are runs of pixels.
    trainer : a callable returning a ``lightning.Trainer`` (``hydra`` partial from
        ``conf/method/cnnaeu.yaml``; ``accelerator`` and ``devices`` are set here to the
        data's device); None: 30 epochs over the patches, no logger, no progress bar.
    patch_size, n_patches, batch_size : patch side (pixels), patches per epoch, patches per step.
    learning_rate : Adam step size.
    hidden, dropout, softmax_scale : see :class:`CNNAEU`.
    device : torch device (default: the input's).

    Returns
    -------
    endmembers : (bands, k) non-negative; abundances : (n_pixels, k) on the simplex. numpy
    for numpy input.

    References
    ----------
    B. Palsson, M. O. Ulfarsson and J. R. Sveinsson, "Convolutional autoencoder for
    spectral-spatial hyperspectral unmixing", IEEE TGRS 59(1), 535-549, 2021.
    """
    pixels_t = as_tensor(pixels, device=device)
    check_pixels(pixels_t)
    n_pixels, n_bands = pixels_t.shape
    k = check_n_endmembers(n_endmembers, n_pixels, n_bands)
    for name, value in (("patch_size", patch_size), ("n_patches", n_patches), ("batch_size", batch_size), ("hidden", hidden)):
        positive_int(value, name)
    if not 0 <= dropout < 1:
        raise ParameterError(f"dropout must be in [0, 1); got {dropout!r}")
    if not learning_rate > 0:
        raise ParameterError(f"learning_rate must be > 0; got {learning_rate!r}")
    if image_shape is None:
        rows, cols, kernel_size = n_pixels, 1, 1
    else:
        rows, cols = (int(v) for v in image_shape)
        if rows * cols != n_pixels:
            raise ParameterError(f"image_shape={tuple(image_shape)} does not hold the {n_pixels} pixels given")
        kernel_size = 3
    generator = torch_generator(rng)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    scale = pixels_t.pow(2).sum(dim=1).mean().sqrt().clamp_min(1e-30)
    data = (pixels_t / scale).float()
    image = data.T.reshape(1, n_bands, rows, cols).contiguous()
    init = as_tensor(vca(data, k, rng=generator), dtype=torch.float32, device=data.device).clamp_min(0)
    patch_shape = (min(int(patch_size), rows), min(int(patch_size), cols)) if image_shape is not None else (min(int(patch_size) ** 2, rows), 1)
    origins = torch.stack([
        torch.randint(0, rows - patch_shape[0] + 1, (int(n_patches),), generator=generator),
        torch.randint(0, cols - patch_shape[1] + 1, (int(n_patches),), generator=generator),
    ], dim=1)
    accelerator = "gpu" if data.device.type == "cuda" else "cpu"
    with torch.random.fork_rng(devices=[data.device] if data.device.type == "cuda" else []):
        torch.manual_seed(seed)
        network = CNNAEU(n_bands, k, hidden=int(hidden), kernel_size=kernel_size, dropout=dropout,
                         softmax_scale=softmax_scale)
        with torch.no_grad():
            network.decoder.weight.copy_(init[:, :, None, None])
        module = CNNAEUModule(network, image, origins, patch_shape, learning_rate=learning_rate,
                              batch_size=int(batch_size))
        with quiet_lightning():  # the unmix job's console says what runs, not the Trainer's summary
            if trainer is None:
                fit = lightning.Trainer(max_epochs=30, accelerator=accelerator, devices=1, logger=False,
                                        enable_checkpointing=False, enable_progress_bar=False,
                                        enable_model_summary=False)
            else:
                fit = trainer(accelerator=accelerator, devices=1)
            fit.fit(module)
    network = module.network.to(data.device).eval()
    with torch.no_grad():
        abundances = network.abundances(image)[0].reshape(k, n_pixels).T
        endmembers = network.endmembers.detach()
        endmembers = endmembers * _least_squares_scales(data, endmembers, abundances) * scale
    dtype = pixels_t.dtype
    return like_input(endmembers.to(dtype), pixels), like_input(abundances.to(dtype).contiguous(), pixels)
