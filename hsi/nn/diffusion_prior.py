"""The diffusion prior over subspace images, and its self-describing checkpoint files.

Why subspace images: a hyperspectral cube is close to a low-rank product ``A E`` of a reduced
image ``A`` (``k`` selected bands, see :mod:`hsi.estimate.rrqr_subspace`) and a coefficient
matrix ``E``. Modelling ``A`` instead of the cube makes one prior serve every sensor and band
count, keeps the network small (three channels, like a colour image) and trains on any data
with spatial texture. Three channels because the first three RRQR bands of real scenes carry
almost all the spatial structure (more are handled in groups of three), and because the
channels are normalised one by one to ``[-1, 1]`` the prior ignores units and sensor gains.

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
J. Ho, A. Jain, P. Abbeel, "Denoising diffusion probabilistic models", NeurIPS 2020. J. Song,
C. Meng, S. Ermon, "Denoising diffusion implicit models", ICLR 2021. L. Pang et al.,
"HIR-Diff: unsupervised hyperspectral image restoration via improved diffusion models", CVPR 2024.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from hsi.errors import InputError
from hsi.nn.unet import pad_to_multiple

FORMAT = "hsi-diffusion-prior"
CONFIG_FILE = "prior_config.json"
WEIGHTS_FILE = "unet.safetensors"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _plain(config: Any) -> dict:
    return json.loads(json.dumps(dict(config), default=list))


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

    @property
    def channels(self) -> int:
        return int(self.unet.config.in_channels)

    @property
    def num_train_timesteps(self) -> int:
        return int(self.scheduler.config.num_train_timesteps)

    @property
    def size_multiple(self) -> int:
        return 2 ** (len(self.unet.config.block_out_channels) - 1)

    def predict_noise(self, noisy: torch.Tensor, timestep: int) -> torch.Tensor:
        """``eps(x_t, t)`` for ``(n, channels, rows, cols)`` images of any size (reflect-padded)."""
        padded, (rows, cols) = pad_to_multiple(noisy, self.size_multiple)
        t = torch.full((padded.shape[0],), int(timestep), device=padded.device, dtype=torch.long)
        return self.unet(padded, t).sample[..., :rows, :cols]

    def predict_clean(self, noisy: torch.Tensor, timestep: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Tweedie estimate ``x0 = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)`` and ``eps``."""
        alpha_bar = self.alphas_cumprod[int(timestep)].to(noisy.dtype)
        eps = self.predict_noise(noisy, timestep)
        return (noisy - (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt(), eps

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
