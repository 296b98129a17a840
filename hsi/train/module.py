"""Lightning module training a diffusion prior by noise prediction.

The loss is the DDPM simplified objective ``E ||eps - eps_theta(sqrt(a_t) x0 + sqrt(1 - a_t) eps, t)||^2``.
Two ways to draw ``t``:

* ``sigma_range=[lo, hi]`` (the single-channel prior): real timesteps whose noise level
  ``sigma_t = sqrt((1 - a_t) / a_t)`` is log-uniform on ``[lo, hi]``, where denoising and
  plug-and-play call the prior (normalised eigen-images have matched noise levels of about
  0.01-1), plus a share ``uniform_fraction`` drawn uniformly over the whole schedule so sampling
  from pure noise still works (:mod:`hsi.nn.noise_levels` maps levels to timesteps);
* otherwise ``t = floor(T u^p)``, ``u`` uniform: ``timestep_power`` ``p > 1`` spends more of the
  training on small noise levels.

An exponential moving average (EMA) of the weights, with the usual warm-up
``decay_n = min(decay, (1 + n) / (10 + n))``, is kept with ``torch.optim.swa_utils.AveragedModel``
and is what gets exported. The training noise is drawn from a generator reseeded from
``(seed, rank, step)`` at every step, so a resumed run draws what an uninterrupted one would.

References
----------
J. Ho, A. Jain, P. Abbeel, "Denoising diffusion probabilistic models", NeurIPS 2020.
A. Nichol, P. Dhariwal, "Improved denoising diffusion probabilistic models", ICML 2021 (cosine schedule).
T. Karras et al., "Elucidating the design space of diffusion-based generative models", NeurIPS 2022
(training noise levels concentrated where they matter).
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel

from hsi.errors import ParameterError
from hsi.nn.noise_levels import alpha_bar_at, timestep_of
from hsi.nn.unet import build_unet


def ema_with_warmup(decay: float):
    """``multi_avg_fn`` for ``AveragedModel``: EMA whose decay ramps up as ``(1 + n) / (10 + n)``."""
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n_averaged: torch.Tensor) -> None:
        weight = 1.0 - min(float(decay), (1.0 + float(n_averaged)) / (10.0 + float(n_averaged)))
        torch._foreach_lerp_(averaged, current, weight)
    return update


def draw_timesteps(n: int, alphas_cumprod: torch.Tensor, generator: torch.Generator, *,
                   sigma_range: tuple[float, float] | None, uniform_fraction: float, power: float) -> torch.Tensor:
    """``n`` training timesteps: real ones log-uniform in sigma over ``sigma_range`` (a share uniform
    over the schedule), or integer ``floor(T u^power)`` when ``sigma_range`` is None."""
    device = alphas_cumprod.device
    n_timesteps = alphas_cumprod.numel()
    uniform = torch.rand((n,), generator=generator, device=device)
    if sigma_range is None:
        return (n_timesteps * uniform.double() ** power).long().clamp_(0, n_timesteps - 1)
    low, high = (torch.log(torch.tensor(float(v), device=device)) for v in sigma_range)
    matched = timestep_of(alphas_cumprod, torch.exp(low + (high - low) * uniform))
    anywhere = torch.rand((n,), generator=generator, device=device) * (n_timesteps - 1)
    share = torch.rand((n,), generator=generator, device=device) < float(uniform_fraction)
    return torch.where(share, anywhere, matched)


class DiffusionPriorModule(L.LightningModule):
    """Noise-prediction training of a :func:`hsi.nn.unet.build_unet` network.

    Parameters
    ----------
    unet : keyword arguments of :func:`hsi.nn.unet.build_unet`.
    num_train_timesteps, beta_schedule : the ``diffusers.DDPMScheduler`` noise schedule.
    learning_rate, weight_decay, warmup_steps : AdamW with a linear warm-up.
    ema_decay : decay of the weights' moving average (after its warm-up).
    timestep_power : training timesteps drawn as ``floor(T u^p)`` (``p = 1``: uniform), when
        ``sigma_range`` is None.
    sigma_range : ``[lo, hi]``: draw noise levels log-uniformly there instead (see the module doc).
    uniform_fraction : with ``sigma_range``, the share of timesteps drawn over the whole schedule.
    channels_last : run the network in channels-last memory format (faster convolutions on GPUs).
    seed : seeds the initial weights and the training noise (no global seeding).
    """

    def __init__(self, unet: dict, num_train_timesteps: int = 1000, beta_schedule: str = "linear",
                 learning_rate: float = 3e-4, weight_decay: float = 0.0, warmup_steps: int = 100,
                 ema_decay: float = 0.999, timestep_power: float = 1.0,
                 sigma_range: tuple[float, float] | None = None, uniform_fraction: float = 0.1,
                 channels_last: bool = False, seed: int = 0):
        super().__init__()
        from diffusers import DDPMScheduler

        if not float(timestep_power) >= 1.0:
            raise ParameterError(f"timestep_power must be >= 1; got {timestep_power}")
        if sigma_range is not None and not (len(sigma_range) == 2 and 0 < float(sigma_range[0]) < float(sigma_range[1])):
            raise ParameterError(f"sigma_range must be [lo, hi] with 0 < lo < hi; got {sigma_range}")
        if not 0.0 <= float(uniform_fraction) <= 1.0:
            raise ParameterError(f"uniform_fraction must be in [0, 1]; got {uniform_fraction}")

        self.save_hyperparameters()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.unet = build_unet(**dict(unet))
        if channels_last:
            self.unet = self.unet.to(memory_format=torch.channels_last)
        # the average is not trained: no gradients (DDP would wait for them), only updates
        self.ema = AveragedModel(self.unet, multi_avg_fn=ema_with_warmup(float(ema_decay))).requires_grad_(False)
        self.noise_scheduler = DDPMScheduler(num_train_timesteps=int(num_train_timesteps), beta_schedule=beta_schedule)
        self.register_buffer("alphas_cumprod", self.noise_scheduler.alphas_cumprod.clone().float(), persistent=False)
        self._generator: torch.Generator | None = None

    def _noise_generator(self, device: torch.device) -> torch.Generator:
        """The training noise's generator, reseeded from (seed, rank, step): resuming draws the same noise."""
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device)
        self._generator.manual_seed(hash((int(self.hparams.seed), self.global_rank, int(self.global_step))) & (2**62 - 1))
        return self._generator

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        clean = batch
        generator = self._noise_generator(clean.device)
        noise = torch.randn(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
        sigma_range = self.hparams.get("sigma_range")
        timesteps = draw_timesteps(clean.shape[0], self.alphas_cumprod, generator,
                                   sigma_range=None if sigma_range is None else tuple(sigma_range),
                                   uniform_fraction=float(self.hparams.get("uniform_fraction", 0.1)),
                                   power=float(self.hparams.get("timestep_power", 1.0)))
        alpha_bar = alpha_bar_at(self.alphas_cumprod, timesteps).view(-1, 1, 1, 1).to(clean.dtype)
        noisy = alpha_bar.sqrt() * clean + (1 - alpha_bar).sqrt() * noise
        if self.hparams.get("channels_last"):
            noisy = noisy.contiguous(memory_format=torch.channels_last)
        loss = F.mse_loss(self.unet(noisy, timesteps).sample.float(), noise.float())
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=False, batch_size=clean.shape[0])
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        self.ema.update_parameters(self.unet)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.unet.parameters(), lr=self.hparams.learning_rate,
                                      weight_decay=self.hparams.weight_decay)
        warmup = max(int(self.hparams.warmup_steps), 1)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def export_prior(self, use_ema: bool = True):
        """The trained network as a :class:`hsi.nn.diffusion_prior.DiffusionPrior` (EMA weights by default)."""
        import copy

        from hsi.nn.diffusion_prior import DiffusionPrior

        source = self.ema.module if use_ema else self.unet
        unet = copy.deepcopy(source).cpu().to(memory_format=torch.contiguous_format).eval().requires_grad_(False)
        return DiffusionPrior(unet, self.noise_scheduler)


def export_checkpoint(checkpoint: str, target: str, use_ema: bool = True, card: str | None = None, extra: dict | None = None):
    """Export the (EMA) network of a Lightning checkpoint as a prior (folder, or ``.safetensors`` file)."""
    module = DiffusionPriorModule.load_from_checkpoint(str(checkpoint), map_location="cpu", weights_only=False)
    global_step = int(torch.load(str(checkpoint), map_location="cpu", weights_only=False).get("global_step", 0))
    return module.export_prior(use_ema).save(target, card=card, extra={"global_step": global_step, **(extra or {})})
