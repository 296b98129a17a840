"""Zero-shot band-wise CNN pansharpening in the spirit of rho-PNN.

A light residual CNN maps (band ``k`` of a starting fusion, PAN) to the sharpened band ``k``;
the starting fusion is the interpolated MS (EXP) or a classical method's result that the
network refines (``start``), and the untrained network returns it unchanged. It is trained on
the image itself, at full resolution, with no reference:

* spectral consistency: the output seen through band ``k``'s MTF and decimated must match the
  MS band (L1);
* spatial consistency: the local correlation of the output with the PAN, in ``window`` x
  ``window`` windows (``2 * ratio + 1`` by default), must reach the correlation that the
  interpolated band has with the PAN low-passed by the band's MTF, in ``threshold_window``
  windows (by default the same): the correlation attainable at the MS scale, penalised where it
  falls short (``two_sided=True``: wherever it differs). The authors' implementation takes the
  threshold on wider windows (semi-width 18 pixels) and the output correlation on
  ``ratio``-pixel windows; ``window=ratio, threshold_window=36`` gives that variant.

The spatial term is switched by a hysteresis rule that holds a target spectral quality: it is
turned off when the spectral error exceeds ``spectral_target`` times the error of plain
interpolation (EXP) on the same patches, and on again once it falls below
``spectral_target - hysteresis`` times that error. Bands are processed one after the other and
the weights (and optimiser state) of band ``k`` initialise band ``k + 1`` (model propagation),
so later bands need few steps; the network never sees all bands at once, which keeps it
independent of the band count (multispectral or hyperspectral).

A second stage (``refine_steps`` > 0) refines the band-wise result jointly over the bands, because
the inter-band relations are what the band-wise losses leave free (the correlation loss pulls every
band towards the PAN, which raises the spectral distortion D_lambda). A fresh residual network of
the same kind (identity at start, one set of weights for all bands, so still independent of the
band count) is trained on patches of whole QNR blocks with

* the same spectral consistency (output through each band's MTF, decimated, vs the MS; L1), which
  is what protects the reduced-resolution quality, plus
* ``qnr_weight * (1 - (1 - D_lambda)(1 - D_s))``, with D_lambda and D_s computed exactly as
  :mod:`hsi.metrics.pansharp` defines them (Vivone et al.'s toolbox: 32 x 32 disjoint blocks,
  EXP as the MS side, the PAN reduced by bicubic resizing), over the blocks of the batch
  (:mod:`hsi.pansharpen.noref`): the no-reference loss of unsupervised pansharpening networks
  (Luo et al. 2020; the spectral-consistency plus spatial terms of Z-PNN / lambda-PNN).

The last iterate is returned (no selection by any metric or by the loss). Because of the second
stage, **the full-resolution QNR is partly optimised by construction** and is not an independent
measure of this method; Wald's reduced-resolution protocol (Q2n, SAM, ERGAS against a
reference the network never sees) is the independent check. The start can itself be chosen by
a data-only rule, :func:`hsi.pansharpen.noref.best_qnr_start` (the classical candidate with the
best QNR on the image at hand).

Training runs through :class:`lightning.Trainer` (CPU or GPU), one ``fit`` per stage (all bands
in one ``fit``: one Trainer, no logger, checkpoint, progress bar or loader workers). Where a CPU
run's time goes, for a 1,280^2 PAN: the convolutions forward and backward on the training patches,
then the reflect padding, the correlation windows and the final whole-image pass, which
:func:`tiled_forward` computes tile by tile.

References
----------
M. Ciotola, G. Guarino, G. Scarpa, "Band-wise hyperspectral image pansharpening using CNN model
propagation" (rho-PNN), IEEE TGRS, 2025 (arXiv:2311.06378).
M. Ciotola, S. Vitale, A. Mazza, G. Poggi, G. Scarpa, "Pansharpening by convolutional neural
networks in the full resolution framework" (Z-PNN), IEEE TGRS 60, 2022.
F. Luo, T. Zhou, J. Wang et al., "Pansharpening via unsupervised convolutional neural
networks", IEEE JSTARS 13, 2020 (no-reference QNR-type training loss).
L. Alparone et al., "Multispectral and panchromatic data fusion assessment without reference"
(QNR), PE&RS 74(2), 2008; G. Vivone et al., IEEE TGRS 53(5), 2015 (its toolbox definition).
M. Ciotola, G. Poggi, G. Scarpa, "Unsupervised deep learning-based pansharpening with jointly
enhanced spectral and spatial fidelity" (lambda-PNN), IEEE TGRS 61, 2023.
"""

from __future__ import annotations

import math
from typing import Callable

import lightning
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hsi.arrays import Array, as_tensor, like_input, positive_int
from hsi.degrade.mtf import decimate, mtf_blur, mtf_kernel_1d
from hsi.degrade.padding import pad_indices
from hsi.degrade.resample import upsample
from hsi.errors import ParameterError
from hsi.nn.quiet import quiet_lightning
from hsi.pansharpen.mra import glp_lowpass, ms_nyquist_gains
from hsi.pansharpen.noref import qnr_distortions, qnr_reference
from hsi.pansharpen.pair import prepare


class BandDetailNet(nn.Module):
    """Residual CNN: (n, 2, rows, cols) = [band, PAN] -> (n, 1, rows, cols) sharpened band.

    Three 3x3 convolutions (reflect padding); the last starts at zero so that the untrained
    network returns the interpolated band (EXP). Weights and inputs are kept channels-last: the
    CPU convolutions (oneDNN) run faster on that layout.
    """

    halo = 3  # pixels on each side that reach an output pixel: one per 3x3 convolution

    def __init__(self, width: int = 32):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(2, width, 3, padding=1, padding_mode="reflect"),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1, padding_mode="reflect"),
            nn.ReLU(),
            nn.Conv2d(width, 1, 3, padding=1, padding_mode="reflect"),
        )
        nn.init.zeros_(self.layers[-1].weight)
        nn.init.zeros_(self.layers[-1].bias)
        self.to(memory_format=torch.channels_last)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
        return inputs[:, :1] + self.layers(inputs)


def tiled_forward(net: BandDetailNet, inputs: torch.Tensor, tile: int = 256) -> torch.Tensor:
    """``net(inputs)`` on a (1, 2, rows, cols) image, computed ``tile`` x ``tile`` pixels at a time.

    Each tile is read with ``net.halo`` pixels of its neighbours on every side that has them and
    cropped back, so the result equals the whole-image pass (to float rounding): the reflect
    padding of each layer then only touches the halo, except at the image's own borders, where
    it is the whole image's padding. Small tiles keep the hidden activations in cache (the
    whole-image pass on a 1,280^2 PAN does not fit in the CPU caches) and bound the memory.
    """
    rows, cols = inputs.shape[-2:]
    halo = net.halo
    fused = torch.empty((1, 1, rows, cols), dtype=inputs.dtype, device=inputs.device)
    with torch.inference_mode():
        for top in range(0, rows, tile):
            for left in range(0, cols, tile):
                bottom, right = min(top + tile, rows), min(left + tile, cols)
                first_row, first_col = max(0, top - halo), max(0, left - halo)
                piece = net(inputs[..., first_row : min(rows, bottom + halo), first_col : min(cols, right + halo)])
                fused[..., top:bottom, left:right] = piece[..., top - first_row : bottom - first_row,
                                                           left - first_col : right - first_col]
    return fused


def local_correlation(first: torch.Tensor, second: torch.Tensor, window: int) -> torch.Tensor:
    """Pearson correlation of two (n, 1, rows, cols) images in every ``window`` x ``window`` window.

    The window means are separable (columns, then rows): 2 * window sums per pixel instead of window^2.
    """
    pool = lambda x: F.avg_pool2d(F.avg_pool2d(x, (window, 1), stride=1), (1, window), stride=1)  # noqa: E731
    mean_a, mean_b = pool(first), pool(second)
    cov = pool(first * second) - mean_a * mean_b
    var_a = (pool(first * first) - mean_a**2).clamp_min(1e-8)
    var_b = (pool(second * second) - mean_b**2).clamp_min(1e-8)
    return cov / torch.sqrt(var_a * var_b)


def local_correlation_map(first: torch.Tensor, second: torch.Tensor, window: int) -> torch.Tensor:
    """:func:`local_correlation` at every pixel (reflect padding): same shape as the inputs.

    The window of output pixel ``i`` spans ``i - (window - 1) // 2 .. i + window // 2``.
    """
    pads = ((window - 1) // 2, window // 2) * 2
    return local_correlation(F.pad(first, pads, mode="reflect"), F.pad(second, pads, mode="reflect"), window)


def blur_decimate(images: torch.Tensor, nyquist_gain: float, ratio: int, size: int = 41) -> torch.Tensor:
    """``decimate(mtf_blur(.))`` of (n, rows, cols) images, computed at the kept pixels only.

    The same sums as :func:`hsi.degrade.mtf.mtf_blur` (symmetric padding, ``size`` taps)
    followed by :func:`hsi.degrade.mtf.decimate` (offset ``ratio // 2``), as a convolution with
    stride ``ratio``: ``ratio``-squared fewer outputs, which is most of the spectral loss's cost.
    """
    half, offset = size // 2, ratio // 2
    kernel = torch.as_tensor(mtf_kernel_1d(nyquist_gain, ratio, size), dtype=images.dtype, device=images.device)
    rows = pad_indices(images.shape[1], half, half, "symmetric")[offset:].to(images.device)
    cols = pad_indices(images.shape[2], half, half, "symmetric")[offset:].to(images.device)
    padded = images.index_select(1, rows).index_select(2, cols)[:, None]
    low = F.conv2d(padded, kernel.view(1, 1, -1, 1), stride=(ratio, 1))
    return F.conv2d(low, kernel.view(1, 1, 1, -1), stride=(1, ratio))[:, 0]


def correlation_gap(attainable: torch.Tensor, achieved: torch.Tensor, two_sided: bool = False) -> torch.Tensor:
    """Mean spatial loss: where ``achieved`` falls short of ``attainable`` (rho-PNN), or, with
    ``two_sided``, wherever it differs from it (same-shape correlation maps; a 0-d tensor).

    A shortfall target below zero is no target (it counts as 0); a two-sided one keeps its sign.
    """
    if two_sided:
        return (attainable - achieved).abs().mean()
    return (attainable.clamp_min(0) - achieved).clamp_min(0).mean()


def hysteresis_switch(spatial_on: bool, relative_error: float, target: float, width: float) -> bool:
    """The spatial-loss state after one step of the hysteresis rule of rho-PNN.

    ``relative_error`` is the spectral error over EXP's on the same patches. The spatial loss is
    switched off above ``target`` and on again only below ``target - width``; in between it
    keeps its state, so it does not flicker at the threshold.
    """
    if spatial_on and relative_error > target:
        return False
    if not spatial_on and relative_error < target - width:
        return True
    return spatial_on


class _Corners(torch.utils.data.IterableDataset):
    """Endless random patch corners on the MS grid, from a seeded generator."""

    def __init__(self, n_rows: int, n_cols: int, patch: int, batch_size: int, seed: int):
        self.limits = (n_rows - patch + 1, n_cols - patch + 1)
        self.batch_size, self.seed = batch_size, seed

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed)
        while True:
            rows = torch.randint(0, self.limits[0], (self.batch_size,), generator=generator)
            cols = torch.randint(0, self.limits[1], (self.batch_size,), generator=generator)
            yield torch.stack([rows, cols], dim=1)


class RhoPNNModule(lightning.LightningModule):
    """Lightning module training :class:`BandDetailNet` band after band on one image.

    ``ms`` (bands, rows, cols), ``ms_up``, ``start`` and ``pan`` (bands, R*rows, R*cols), all
    normalised per band (zero mean, unit deviation of the MS band; the PAN equalised to it);
    ``attainable`` (bands, R*rows, R*cols) the correlation threshold map (see the module
    docstring). After training, ``fused`` holds the normalised sharpened bands.
    """

    def __init__(self, ms, ms_up, start, pan, attainable, *, ratio, gains, steps, patch, batch_size, learning_rate,
                 spectral_target, hysteresis, spatial_weight, two_sided, window, width, seed):
        super().__init__()
        self.net = BandDetailNet(width)
        self.ms, self.ms_up, self.start, self.pan, self.attainable = ms, ms_up, start, pan, attainable
        self.ratio, self.gains, self.patch, self.batch_size = ratio, gains, patch, batch_size
        self.band_end = np.cumsum(steps)
        self.learning_rate, self.window, self.seed = learning_rate, window, seed
        self.spectral_target, self.hysteresis, self.spatial_weight = spectral_target, hysteresis, spatial_weight
        self.two_sided = two_sided
        self.spatial_on = True
        self.switches = [0] * len(steps)
        self.fused = torch.empty_like(ms_up)
        self.margin = max(1, math.ceil(20 / ratio))  # MS pixels touched by the 41-tap MTF padding

    def band_at(self, step: int) -> int:
        return int(np.searchsorted(self.band_end, step, side="right"))

    def configure_optimizers(self):
        return torch.optim.Adam(self.net.parameters(), lr=self.learning_rate)

    def train_dataloader(self):
        low = self.patch // self.ratio
        dataset = _Corners(self.ms.shape[1], self.ms.shape[2], low, self.batch_size, self.seed)
        return torch.utils.data.DataLoader(dataset, batch_size=None)

    def _crops(self, band: int, corners: torch.Tensor):
        low, r = self.patch // self.ratio, self.ratio
        take = lambda image, rr, cc, size: image[rr : rr + size, cc : cc + size]  # noqa: E731
        ms = torch.stack([take(self.ms[band], int(i), int(j), low) for i, j in corners])
        high = lambda image: torch.stack([take(image, int(i) * r, int(j) * r, self.patch) for i, j in corners])  # noqa: E731
        return ms, high(self.ms_up[band]), high(self.start[band]), high(self.pan[band]), high(self.attainable[band])

    def _spectral_error(self, high: torch.Tensor, ms: torch.Tensor, band: int) -> torch.Tensor:
        """Mean |decimate(MTF(high)) - ms| away from the patch borders; high (n, P, P), ms (n, p, p)."""
        low = blur_decimate(high, float(self.gains[band]), self.ratio)
        m = self.margin
        return (low - ms)[:, m:-m, m:-m].abs().mean()

    def training_step(self, corners: torch.Tensor, batch_idx: int):
        band = self.band_at(self.global_step)
        ms, ms_up, start, pan, attainable = self._crops(band, corners.to(self.ms.device))
        fused = self.net(torch.stack([start, pan], dim=1))[:, 0]
        spectral = self._spectral_error(fused, ms, band)
        with torch.no_grad():
            reference = self._spectral_error(ms_up, ms, band).clamp_min(1e-12)
            # the threshold at the centre of each valid small window of the patch
            first = (self.window - 1) // 2
            size = self.patch - self.window + 1
            attainable = attainable[:, None, first : first + size, first : first + size]
            relative = float(spectral / reference)
        state = hysteresis_switch(self.spatial_on, relative, self.spectral_target, self.hysteresis)
        self.switches[band] += int(state != self.spatial_on)
        self.spatial_on = state
        loss = spectral
        if self.spatial_on:
            achieved = local_correlation(fused[:, None], pan[:, None], self.window)
            loss = loss + self.spatial_weight * correlation_gap(attainable, achieved, self.two_sided)
        return loss

    def on_train_batch_end(self, outputs, corners, batch_idx: int) -> None:
        band = self.band_at(self.global_step - 1)
        if self.global_step == self.band_end[band]:
            self.fused[band] = tiled_forward(self.net, torch.stack([self.start[band], self.pan[band]])[None])[0, 0]


class _BlockPatches(torch.utils.data.IterableDataset):
    """Endless random (block corners, band subset) pairs from a seeded generator.

    Corners index the QNR block grid (``grid`` blocks), patches are ``blocks`` x ``blocks``
    blocks; ``max_bands`` bands are drawn per step (all of them when there are fewer).
    """

    def __init__(self, grid: tuple[int, int], blocks: int, batch_size: int, n_bands: int, max_bands: int, seed: int):
        self.limits = (grid[0] - blocks + 1, grid[1] - blocks + 1)
        self.batch_size, self.n_bands, self.max_bands, self.seed = batch_size, n_bands, max_bands, seed

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + 1)
        while True:
            rows = torch.randint(0, self.limits[0], (self.batch_size,), generator=generator)
            cols = torch.randint(0, self.limits[1], (self.batch_size,), generator=generator)
            bands = torch.randperm(self.n_bands, generator=generator)[: self.max_bands].sort().values
            yield torch.stack([rows, cols], dim=1), bands


class QNRRefineModule(lightning.LightningModule):
    """Second stage: all bands jointly, spectral consistency plus a differentiable QNR loss.

    A fresh :class:`BandDetailNet` (identity at start) maps (band ``k`` of ``base``, PAN) to the
    refined band, the same weights for every band. Loss per step, on patches of whole QNR blocks:
    the L1 spectral consistency of rho-PNN (MTF + decimation of the output vs the MS, averaged
    over the drawn bands) plus ``qnr_weight * (1 - (1 - D_lambda)(1 - D_s))`` computed as
    :mod:`hsi.pansharpen.noref` (the toolbox's definition over the batch's blocks), on the output
    brought back to MS units (``mean`` + ``std`` x normalised). ``base``, ``pan_eq`` (bands, R*rows,
    R*cols) and ``ms`` (bands, rows, cols) are normalised as in :class:`RhoPNNModule`; ``pan``
    (R*rows, R*cols) is the PAN in its own units; ``reference`` the :class:`QNRReference`.
    After training, ``fused`` holds the normalised refined bands (the last iterate).
    """

    def __init__(self, base, pan_eq, ms, pan, mean, std, reference, *, ratio, gains, patch_blocks, batch_size,
                 max_bands, learning_rate, qnr_weight, width, seed):
        super().__init__()
        self.net = BandDetailNet(width)
        self.base, self.pan_eq, self.ms, self.pan = base, pan_eq, ms, pan
        self.mean, self.std, self.reference = mean, std, reference
        self.ratio, self.gains, self.patch_blocks, self.batch_size = ratio, np.asarray(gains), patch_blocks, batch_size
        self.max_bands, self.learning_rate, self.qnr_weight, self.seed = max_bands, learning_rate, qnr_weight, seed
        self.fused = torch.empty_like(base)
        self.margin = max(1, math.ceil(20 / ratio))

    def configure_optimizers(self):
        return torch.optim.Adam(self.net.parameters(), lr=self.learning_rate)

    def train_dataloader(self):
        dataset = _BlockPatches(tuple(self.reference.q_low.shape[:2]), self.patch_blocks, self.batch_size,
                                self.base.shape[0], self.max_bands, self.seed)
        return torch.utils.data.DataLoader(dataset, batch_size=None)

    def training_step(self, batch, batch_idx: int):
        corners, bands = batch
        bands = bands.to(self.base.device)
        block, k, r = self.reference.block, self.patch_blocks, self.ratio
        side, low = block * k, block * k // r
        high = lambda image: torch.stack([image[..., i * block : i * block + side, j * block : j * block + side]  # noqa: E731
                                          for i, j in corners.tolist()])
        base, pan_eq = high(self.base)[:, bands], high(self.pan_eq)[:, bands]  # (n, K, P, P)
        pan = high(self.pan)[:, None]
        ms = torch.stack([self.ms[:, i * block // r : i * block // r + low, j * block // r : j * block // r + low]
                          for i, j in corners.tolist()])[:, bands]
        n, n_bands = base.shape[:2]
        fused = self.net(torch.stack([base, pan_eq], dim=2).flatten(0, 1)).reshape(n, n_bands, side, side)
        gains = np.tile(self.gains[bands.cpu().numpy()], n)
        blurred = mtf_blur(fused.flatten(0, 1).permute(1, 2, 0), gains, r)
        degraded = decimate(blurred, r).permute(2, 0, 1).reshape(n, n_bands, low, low)
        m = self.margin
        spectral = (degraded - ms)[..., m:-m, m:-m].abs().mean()
        pick = lambda q: torch.stack([q[i : i + k, j : j + k].flatten(0, 1) for i, j in corners.tolist()]).flatten(0, 1)  # noqa: E731
        q_ms = pick(self.reference.q_ms)[:, bands][:, :, bands]
        q_low = pick(self.reference.q_low)[:, bands]
        units = fused.double() * self.std[bands, None, None] + self.mean[bands, None, None]
        d_lambda, d_s = qnr_distortions(units, pan.double(), q_ms, q_low, block)
        return spectral + self.qnr_weight * (1 - (1 - d_lambda) * (1 - d_s))

    def on_train_end(self) -> None:
        for band in range(self.base.shape[0]):
            self.fused[band] = tiled_forward(self.net, torch.stack([self.base[band], self.pan_eq[band]])[None])[0, 0]


def _fit(build: Callable[[], lightning.LightningModule], steps: int, device: torch.device,
         seed: int, progress: bool = False) -> lightning.LightningModule:
    """Build a module (its weights seeded by ``seed``) and train it for ``steps`` with Lightning.

    The caller's global random state is left as it was. ``progress``: Lightning's progress bar
    over the steps (console).
    """
    accelerator = "gpu" if device.type == "cuda" else "cpu"
    cuda_devices = [device.index or 0] if accelerator == "gpu" else []
    # the data loader also draws from the global generator: fork it, so the caller's random
    # state is left as it was
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(seed)
        module = build()
        with quiet_lightning():  # the job's console lines say what runs, not the Trainer's summary
            trainer = lightning.Trainer(max_steps=steps, accelerator=accelerator, devices=1, logger=False,
                                        enable_checkpointing=False, enable_progress_bar=bool(progress),
                                        enable_model_summary=False, num_sanity_val_steps=0)
            trainer.fit(module)
    return module


def rho_pnn(
    ms: Array,
    pan: Array,
    *,
    ratio: int | None = None,
    sensor: str | None = None,
    first_band_steps: int = 200,
    band_steps: int = 40,
    patch_size: int = 64,
    batch_size: int = 8,
    learning_rate: float = 1e-3,
    spectral_target: float = 0.5,
    hysteresis: float = 0.1,
    spatial_weight: float = 1.0,
    two_sided: bool = False,
    window: int | None = None,
    threshold_window: int | None = None,
    width: int = 32,
    seed: int = 0,
    start: Callable | None = None,
    refine_steps: int = 0,
    refine_batch_size: int = 4,
    refine_patch_blocks: int = 2,
    refine_bands: int = 8,
    qnr_weight: float = 1.0,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> Array:
    """Zero-shot band-wise CNN pansharpening (see the module docstring).

    Parameters
    ----------
    ms : (rows, cols, bands) low-resolution cube; pan : (ratio*rows, ratio*cols).
    ratio, sensor : as for every pansharpening method (``sensor`` gives the MTF gains).
    first_band_steps, band_steps : optimiser steps for the first band and for each later band.
    patch_size : side of the training patches on the PAN grid (cut to the image, multiple of ratio).
    batch_size, learning_rate : Adam settings.
    spectral_target : the spatial loss is switched off when the spectral error exceeds this
        fraction of EXP's error on the same patches.
    hysteresis : and on again below ``spectral_target - hysteresis``.
    spatial_weight : weight of the spatial loss.
    two_sided : penalise the output-PAN correlation wherever it differs from the attainable one
        (above it as well as below; the target keeps its sign), instead of only where it falls
        short as in rho-PNN. Scale invariance of the local correlation, the hypothesis behind
        QNR's D_s: it lowers D_lambda and D_s (no band is pulled beyond its own correlation with
        the PAN) and injects less detail (lower reduced-resolution Q2n on the benchmark pairs).
    window : side of the windows of the output-PAN local correlation (default ``2 * ratio + 1``).
    threshold_window : side of the windows of the attainable correlation between the
        interpolated band and the low-passed PAN (default: ``window``).
    width : channels of the hidden layers.
    seed : seeds the weights and the patch sampling (no global state is touched).
    start : a pansharpening function ``start(ms, pan, *, ratio, sensor)`` whose result the
        network starts from and refines (its residual base); None: the interpolated MS (EXP).
        :func:`hsi.pansharpen.noref.best_qnr_start` picks it among classical methods by QNR.
    refine_steps : optimiser steps of the joint QNR stage (0: band-wise rho-PNN only).
    refine_batch_size : patches per step of that stage.
    refine_patch_blocks : patch side of that stage in QNR blocks (``8 * ratio`` PAN pixels each).
    refine_bands : bands drawn per step of that stage (all when there are fewer): a random
        subset keeps the cost of a step independent of the band count; D_lambda over the drawn
        pairs is an unbiased estimate of the mean over all pairs.
    qnr_weight : weight of ``1 - QNR`` against the spectral consistency in that stage.
    device : torch device (default: the input's).
    progress : show Lightning's progress bar over the training steps (console); a CPU run of a
        hyperspectral cube trains for minutes.

    Returns
    -------
    (ratio*rows, ratio*cols, bands) fused cube, numpy for numpy input.
    """
    for name, value in (("first_band_steps", first_band_steps), ("band_steps", band_steps), ("batch_size", batch_size),
                        ("refine_batch_size", refine_batch_size), ("refine_patch_blocks", refine_patch_blocks),
                        ("refine_bands", refine_bands)) + tuple((name, value) for name, value in (("window", window), ("threshold_window", threshold_window))
                                  if value is not None):
        positive_int(value, name)
    positive_int(refine_steps, "refine_steps", minimum=0)
    if not 0 < hysteresis < spectral_target:
        raise ParameterError(f"need 0 < hysteresis < spectral_target; got hysteresis={hysteresis}, spectral_target={spectral_target}")
    pair = prepare(ms, pan, ratio, device)
    r = pair.ratio
    bands = pair.ms.shape[2]
    gains = ms_nyquist_gains(sensor, bands)
    ms64, pan64 = pair.ms.double(), pair.pan.double()
    ms_up = upsample(ms64, r)
    base = ms_up if start is None else as_tensor(start(ms64, pan64, ratio=r, sensor=sensor), dtype=ms64.dtype, device=ms64.device)
    pan_low = glp_lowpass(pan64, gains, r)
    mean, std = ms64.mean(dim=(0, 1)), ms64.std(dim=(0, 1)).clamp_min(1e-12)
    pan_std = pan_low.std(dim=(0, 1)).clamp_min(1e-12)  # equalise the PAN so its low-pass matches each band
    norm = lambda cube: ((cube - mean) / std).permute(2, 0, 1).float().contiguous()  # noqa: E731
    pan_eq = ((pan64[:, :, None] - pan64.mean()) / pan_std).permute(2, 0, 1).float().contiguous()
    pan_low_eq = ((pan_low - pan64.mean()) / pan_std).permute(2, 0, 1).float().contiguous()
    patch = min(int(patch_size), pair.pan.shape[0], pair.pan.shape[1])
    patch -= patch % r
    if patch // r <= 2 * max(1, math.ceil(20 / r)) + 2:
        raise ParameterError(f"patch_size={patch_size} (cut to the image: {patch}) is too small for the MTF margins at ratio {r}")
    window = int(window or 2 * r + 1)
    if not 2 <= window <= patch:
        raise ParameterError(f"window={window} must lie between 2 and the patch side {patch}")
    # the correlation attainable at the MS scale, on wide windows (cut to the image)
    wide = min(int(threshold_window or window), *pair.pan.shape[:2])
    attainable = local_correlation_map(norm(ms_up)[:, None], pan_low_eq[:, None], wide)[:, 0].contiguous()
    blocks = int(refine_patch_blocks)
    if refine_steps and min(pair.pan.shape[:2]) < 8 * r * blocks:
        raise ParameterError(f"refine_patch_blocks={blocks} blocks of {8 * r} pixels do not fit in the "
                             f"{tuple(pair.pan.shape[:2])} PAN; lower it or set refine_steps=0")
    steps = [int(first_band_steps)] + [int(band_steps)] * (bands - 1)
    module = _fit(lambda: RhoPNNModule(
        norm(ms64), norm(ms_up), norm(base), pan_eq, attainable, ratio=r, gains=gains, steps=steps, patch=patch,
        batch_size=int(batch_size), learning_rate=learning_rate, spectral_target=spectral_target,
        hysteresis=hysteresis, spatial_weight=spatial_weight, two_sided=two_sided, window=window, width=width,
        seed=seed),
        sum(steps), pair.ms.device, seed, progress)
    fused = module.fused
    if refine_steps:
        reference = qnr_reference(ms64, pan64, r)
        module = _fit(lambda: QNRRefineModule(
            fused, pan_eq, norm(ms64), pan64.float(), mean, std, reference, ratio=r, gains=gains,
            patch_blocks=blocks, batch_size=int(refine_batch_size), max_bands=int(refine_bands),
            learning_rate=learning_rate, qnr_weight=qnr_weight, width=width, seed=seed),
            int(refine_steps), pair.ms.device, seed, progress)
        fused = module.fused
    fused = fused.to(pair.ms.device).double().permute(1, 2, 0) * std + mean
    return like_input(fused.to(pair.ms.dtype), pair.ms_input)
