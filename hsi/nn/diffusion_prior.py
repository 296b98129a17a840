"""The diffusion prior, and its self-describing checkpoint files.

Why one channel: a hyperspectral cube is close to a low-rank product of a few eigen-images and
a basis, and after FastHyDe's noise whitening each eigen-image carries white noise of its own
level. A prior over single images serves every sensor and band count, every subspace rank, and
trains on any data with spatial texture; each image is normalised by its own range, so the
prior ignores units and sensor gains.

The single-channel prior (``channels == 1``, ``models/hsi-prior-1ch``) is a noise-level-conditioned
denoiser for one image at a time (a FastHyDe eigen-image, any image): :meth:`DiffusionPrior.denoise`
returns the posterior mean ``E[x | x + sigma n]`` (Tweedie) at the matched timestep, in the scale
:func:`normalise` defines (each image mapped by its robust range to about ``[-1, 1]``).

A prior is saved in one of two layouts, each self-describing:

* flat (what ``models/`` ships): ``<name>.safetensors`` (the EMA weights), ``<name>.json``
  (format tag, the ``UNet2DModel`` and ``DDPMScheduler`` configs, the channel count, the
  weights file name and its SHA-256) and ``<name>.md`` (the card);
* folder (what the training job exports): ``prior_config.json``, ``unet.safetensors``,
  ``MODEL_CARD.md``.

:func:`load_prior` rebuilds the prior from those files alone and refuses a missing or corrupt
weights file (checksum) with an :class:`~hsi.errors.InputError` naming the file.

References
----------
J. Ho, A. Jain, P. Abbeel, "Denoising diffusion probabilistic models", NeurIPS 2020. B. Efron,
"Tweedie's formula and selection bias", JASA 106(496), 2011 (posterior mean from the score). J. Song,
C. Meng, S. Ermon, "Denoising diffusion implicit models", ICLR 2021. L. Pang et al.,
"HIR-Diff: unsupervised hyperspectral image restoration via improved diffusion models", CVPR 2024.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from hsi.errors import InputError, ParameterError
from hsi.nn.noise_levels import alpha_bar_at, timestep_of
from hsi.nn.unet import pad_to_multiple
from hsi.settings import MODELS_DIR

FORMAT = "hsi-diffusion-prior"
#: The shipped single-channel prior (load it with :func:`load_prior`).
SINGLE_CHANNEL_PRIOR = MODELS_DIR / "hsi-prior-1ch"
CONFIG_FILE = "prior_config.json"
WEIGHTS_FILE = "unet.safetensors"

#: Arithmetic the network can run in (:meth:`DiffusionPrior.set_precision`).
PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16}

def native_bfloat16(device: torch.device | str) -> bool:
    """Whether ``device`` is a CPU with bf16 arithmetic in hardware (AVX512-BF16 or AMX); elsewhere
    bfloat16 is emulated (slower than float32) or, on a GPU, not measured."""
    if torch.device(device).type != "cpu":
        return False
    checks = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(bool(check()) for check in checks if check is not None)


_LAYOUT_LOCK = threading.Lock()  # module-wide, so the prior stays picklable (Dask)
_FULL_PRECISION = contextvars.ContextVar("hsi_prior_full_precision", default=False)


@contextmanager
def full_precision():
    """Within this block every prior runs its network in float32, whatever :meth:`DiffusionPrior.set_precision` says.

    For computations that difference two calls: a Monte-Carlo SURE divergence divides
    ``f(y + 0.01 b) - f(y)`` by its 0.01 step, which would amplify bfloat16's rounding a hundredfold.
    """
    token = _FULL_PRECISION.set(True)
    try:
        yield
    finally:
        _FULL_PRECISION.reset(token)


#: Quantiles whose midpoint and half-distance map an image to about ``[-1, 1]`` (:func:`normalise`).
ROBUST_RANGE = (0.005, 0.995)
#: At most this many pixels per image enter the quantiles (a regular subsample of larger images).
QUANTILE_PIXELS = 1 << 18


def normalise(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Map each image to the single-channel prior's training scale, about ``[-1, 1]``.

    ``scaled = (images - offset) / scale`` with, per image (over all its channels and pixels),
    ``offset`` the midpoint and ``scale`` half the distance of its 0.5 % and 99.5 % quantiles
    (:data:`ROBUST_RANGE`); robust, so a few outliers do not squash the image. A flat image gets
    ``scale = 1``. A noise level ``sigma`` of ``images`` is ``sigma / scale`` in the scaled units.

    Parameters
    ----------
    images : ``(n, c, rows, cols)`` (or ``(n, rows, cols)``) real tensor or array.

    Returns
    -------
    scaled : same shape, float32.
    scale, offset : ``(n,)`` float32; :func:`denormalise` undoes the mapping.
    """
    images = torch.as_tensor(images).float()
    if images.ndim < 2 or images.shape[0] == 0:
        raise ParameterError(f"normalise: images must be (n, ..., rows, cols) with n >= 1; got shape {tuple(images.shape)}")
    flat = images.reshape(images.shape[0], -1)
    stride = max(1, -(-flat.shape[1] // QUANTILE_PIXELS))
    levels = torch.tensor(ROBUST_RANGE, dtype=flat.dtype, device=flat.device)
    low, high = torch.quantile(flat[:, ::stride], levels, dim=1)
    offset = 0.5 * (low + high)
    half_range = 0.5 * (high - low)
    scale = torch.where(half_range > 1e-12 * (1 + offset.abs()), half_range, torch.ones_like(half_range))
    shape = (-1,) + (1,) * (images.ndim - 1)
    return (images - offset.view(shape)) / scale.view(shape), scale, offset


def denormalise(scaled: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Invert :func:`normalise`: ``scaled * scale + offset`` per image."""
    shape = (-1,) + (1,) * (scaled.ndim - 1)
    return scaled * scale.view(shape).to(scaled) + offset.view(shape).to(scaled)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _plain(config: Any) -> dict:
    """A diffusers config as plain JSON data; its ``_use_default_values`` (built from a set, in an
    order that changes from process to process) sorted, so equal configs write equal files."""
    plain = json.loads(json.dumps(dict(config), default=list))
    if isinstance(plain.get("_use_default_values"), list):
        plain["_use_default_values"] = sorted(plain["_use_default_values"])
    return plain


class DiffusionPrior(torch.nn.Module):
    """A noise-prediction U-Net with its training noise schedule.

    Parameters
    ----------
    unet : a ``diffusers.UNet2DModel`` with ``in_channels == out_channels == channels``.
    scheduler : the ``diffusers.DDPMScheduler`` it was trained with (gives ``alphas_cumprod``).
    """

    def __init__(self, unet, scheduler):
        super().__init__()
        self.unet = unet
        self.scheduler = scheduler
        self.register_buffer("alphas_cumprod", scheduler.alphas_cumprod.clone().float(), persistent=False)
        self.precision, self._layout = "float32", torch.contiguous_format

    def set_precision(self, precision: str) -> "DiffusionPrior":
        """The network's arithmetic at inference: ``float32`` (as trained), ``bfloat16``, or ``auto``
        (bfloat16 on a CPU with native bf16 arithmetic, :func:`native_bfloat16`; float32 elsewhere).

        ``bfloat16`` runs the U-Net's convolutions, products and attention under
        ``torch.autocast`` (weights kept in float32; normalisations and the Tweedie step in
        float32) with the weights in channels-last layout, which oneDNN's bf16 convolutions
        want; a float32 call puts them back, so float32 results never depend on this setting.
        Faster on CPUs with bf16 hardware; the noise prediction moves by about 3e-3 of its unit
        scale, far below the prior's own error (``bench_results/tpspeed_*``: MPSNR unchanged to 0.001 dB).
        :func:`full_precision` runs float32 within a block.
        """
        if precision == "auto":
            precision = "bfloat16" if native_bfloat16(self.alphas_cumprod.device) else "float32"
        if precision not in PRECISIONS:
            raise ParameterError(f"precision must be auto or one of {sorted(PRECISIONS)}; got {precision!r}")
        self.precision = precision
        return self

    @property
    def channels(self) -> int:
        return int(self.unet.config.in_channels)

    @property
    def num_train_timesteps(self) -> int:
        return int(self.scheduler.config.num_train_timesteps)

    @property
    def size_multiple(self) -> int:
        return 2 ** (len(self.unet.config.block_out_channels) - 1)

    def predict_noise(self, noisy: torch.Tensor, timestep: int | torch.Tensor) -> torch.Tensor:
        """``eps(x_t, t)`` for ``(n, channels, rows, cols)`` images of any size (reflect-padded).

        ``timestep``: an integer (every image), or a float tensor ``(n,)`` of real timesteps
        (:mod:`hsi.nn.noise_levels`).
        """
        padded, (rows, cols) = pad_to_multiple(noisy, self.size_multiple)
        if torch.is_tensor(timestep):
            t = timestep.to(device=padded.device).expand(padded.shape[0])
        else:
            t = torch.full((padded.shape[0],), int(timestep), device=padded.device, dtype=torch.long)
        low = self.precision != "float32" and not _FULL_PRECISION.get()
        layout = torch.channels_last if low else torch.contiguous_format
        with _LAYOUT_LOCK:  # tiles share the prior: every call of theirs after the weights are laid out
            if layout != self._layout:
                self.unet.to(memory_format=layout)
                self._layout = layout
        with torch.autocast(padded.device.type, dtype=PRECISIONS[self.precision], enabled=low):
            eps = self.unet(padded.contiguous(memory_format=torch.channels_last) if low else padded, t).sample
        return eps[..., :rows, :cols].float()

    def timestep_for(self, sigma: torch.Tensor | float) -> torch.Tensor:
        """Real timesteps with ``sqrt((1 - a_t) / a_t) == sigma`` (clamped to ``[0, T - 1]``)."""
        sigma = torch.as_tensor(sigma, dtype=torch.float32, device=self.alphas_cumprod.device)
        return timestep_of(self.alphas_cumprod, sigma.reshape(-1))

    @torch.inference_mode()
    def denoise(self, noisy: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
        """Posterior mean ``E[x | noisy]`` of ``noisy = x + sigma n`` (one network call, Tweedie).

        The network runs at the timestep ``t`` matched to ``sigma`` (:meth:`timestep_for`) on
        ``sqrt(a_t) * noisy``, which is distributed as its training input ``x_t``; the clean
        estimate is then ``(x_t - sqrt(1 - a_t) eps) / sqrt(a_t) = noisy - sigma_t eps``.
        Below the schedule's smallest level (``sigma_0``, about 0.01 for the linear schedule)
        ``t`` stays at 0 and the estimate uses ``sigma`` itself.

        Parameters
        ----------
        noisy : ``(n, channels, rows, cols)`` in the training scale (:func:`normalise`); any size
            (reflect-padded to the network's multiple), float32 on the prior's device.
        sigma : noise standard deviation in the same units, a float or one per image ``(n,)``.

        Returns
        -------
        ``(n, channels, rows, cols)`` estimate of ``x``.
        """
        if noisy.ndim != 4 or noisy.shape[1] != self.channels:
            raise ParameterError(f"denoise: noisy must be (n, {self.channels}, rows, cols); got shape {tuple(noisy.shape)}")
        n = noisy.shape[0]
        sigma = torch.as_tensor(sigma, dtype=torch.float32, device=noisy.device).reshape(-1).expand(n)
        if not bool(torch.all(sigma >= 0)):
            raise ParameterError(f"denoise: sigma must be >= 0; got {sigma.min().item()}")
        timesteps = self.timestep_for(sigma).to(noisy.device)
        alpha_bar = alpha_bar_at(self.alphas_cumprod.to(noisy.device), timesteps).view(-1, 1, 1, 1)
        eps = self.predict_noise(alpha_bar.sqrt() * noisy.float(), timesteps)
        # x0 = noisy - sigma eps: at the matched step sqrt(1 - a_t) / sqrt(a_t) is sigma itself
        return noisy.float() - sigma.view(-1, 1, 1, 1) * eps

    # --- checkpoint folder --------------------------------------------------------------
    def save(self, target: str | Path, card: str | None = None, extra: dict | None = None) -> Path:
        """Write config, weights (safetensors) and card; returns the config file.

        ``target`` ending in ``.safetensors`` gives the flat layout ``<name>.safetensors``,
        ``<name>.json``, ``<name>.md``; any other path is a folder holding ``prior_config.json``,
        ``unet.safetensors`` and ``MODEL_CARD.md``.
        """
        from safetensors.torch import save_file

        target = Path(target)
        if target.suffix == ".safetensors":
            weights, config_path, card_path = target, target.with_suffix(".json"), target.with_suffix(".md")
        else:
            weights, config_path, card_path = target / WEIGHTS_FILE, target / CONFIG_FILE, target / "MODEL_CARD.md"
        weights.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.unet.state_dict().items()}
        save_file(state, str(weights))
        config = {
            "format": FORMAT,
            "version": 1,
            "channels": self.channels,
            "unet": _plain(self.unet.config),
            "scheduler": _plain(self.scheduler.config),
            "weights": weights.name,
            "sha256": sha256_of(weights),
            **(extra or {}),
        }
        config_path.write_text(json.dumps(config, indent=2) + "\n")
        if card is not None:
            card_path.write_text(card)
        return config_path


def config_path_of(location: str | Path) -> Path:
    """The config file of a prior: ``folder/prior_config.json``, or ``<name>.json`` beside ``<name>.safetensors``."""
    location = Path(location)
    if location.is_dir():
        return location / CONFIG_FILE
    if location.suffix in (".safetensors", ".md", ".json"):
        return location.with_suffix(".json")
    return location.with_name(location.name + ".json")


def read_prior_config(location: str | Path) -> dict:
    """The parsed config of a prior (folder or flat file layout; clear errors when absent or wrong)."""
    path = config_path_of(location)
    if not path.is_file():
        raise InputError(f"{location}: no diffusion prior there ({path} not found); train one with "
                         "`python cli.py train` or point model= at a shipped prior under models/")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: corrupt prior config ({error})") from error
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        found = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise InputError(f"{path}: format is {found!r}, expected {FORMAT!r}")
    return config


def load_prior(location: str | Path, device: str | torch.device = "cpu", verify: bool = True) -> DiffusionPrior:
    """Rebuild a :class:`DiffusionPrior` from its folder or ``.safetensors``/``.json`` files, checking the SHA-256.

    Raises
    ------
    InputError : the folder, config or weights file is missing, or the weights do not match
        the recorded checksum (corrupt or truncated download).
    """
    from diffusers import DDPMScheduler, UNet2DModel
    from safetensors.torch import load_file

    config = read_prior_config(location)
    weights = config_path_of(location).parent / str(config.get("weights", WEIGHTS_FILE))
    if not weights.is_file():
        raise InputError(f"{weights}: weights file of the diffusion prior is missing")
    if verify:
        found = sha256_of(weights)
        if found != config.get("sha256"):
            raise InputError(f"{weights}: checksum mismatch (sha256 {found[:12]}..., expected "
                             f"{str(config.get('sha256'))[:12]}...): the file is corrupt or was replaced")
    try:
        state = load_file(str(weights), device="cpu")
    except Exception as error:  # safetensors raises its own error types for damaged files
        raise InputError(f"{weights}: cannot read the weights ({error})") from error
    if "unet" not in config or "scheduler" not in config:
        raise InputError(f"{config_path_of(location)}: the config lacks its 'unet' or 'scheduler' section")
    unet = UNet2DModel.from_config(config["unet"])
    missing, unexpected = unet.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(f"{weights}: weights do not fit the config (missing {missing[:3]}, unexpected {unexpected[:3]})")
    scheduler = DDPMScheduler.from_config(config["scheduler"])
    prior = DiffusionPrior(unet.eval().requires_grad_(False), scheduler)
    return prior.to(device)
