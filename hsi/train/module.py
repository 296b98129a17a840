"""Lightning module training the subspace-image diffusion prior by noise prediction.

The loss is the DDPM simplified objective ``E ||eps - eps_theta(sqrt(a_t) x0 + sqrt(1 - a_t) eps, t)||^2``
with ``t = floor(T u^p)``, ``u`` uniform: ``timestep_power`` ``p > 1`` spends more of the training on
small noise levels, where guided restoration does almost all of its work (it starts the reverse
process a few noise levels above the observation's, never from pure noise); ``p = 1`` is the
usual uniform draw. An exponential moving average (EMA) of the weights is kept with
``torch.optim.swa_utils.AveragedModel`` and is what gets exported (EMA weights sample better).

References
----------
J. Ho, A. Jain, P. Abbeel, "Denoising diffusion probabilistic models", NeurIPS 2020.
A. Nichol, P. Dhariwal, "Improved denoising diffusion probabilistic models", ICML 2021 (cosine schedule).
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from hsi.errors import ParameterError
from hsi.nn.unet import build_unet


class DiffusionPriorModule(L.LightningModule):
    """Noise-prediction training of a :func:`hsi.nn.unet.build_unet` network.

    Parameters
    ----------
    unet : keyword arguments of :func:`hsi.nn.unet.build_unet`.
    num_train_timesteps, beta_schedule : the ``diffusers.DDPMScheduler`` noise schedule.
    learning_rate, weight_decay, warmup_steps : AdamW with a linear warm-up.
    ema_decay : decay of the weights' moving average.
    timestep_power : training timesteps drawn as ``floor(T u^p)`` (``p = 1``: uniform).
    seed : seeds the initial weights and the training noise (no global seeding).
    """

    def __init__(self, unet: dict, num_train_timesteps: int = 1000, beta_schedule: str = "linear",
                 learning_rate: float = 3e-4, weight_decay: float = 0.0, warmup_steps: int = 100,
                 ema_decay: float = 0.999, timestep_power: float = 1.0, seed: int = 0):
        super().__init__()
        from diffusers import DDPMScheduler

        if not float(timestep_power) >= 1.0:
            raise ParameterError(f"timestep_power must be >= 1; got {timestep_power}")

        self.save_hyperparameters()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.unet = build_unet(**dict(unet))
        self.ema = AveragedModel(self.unet, multi_avg_fn=get_ema_multi_avg_fn(float(ema_decay)))
        self.noise_scheduler = DDPMScheduler(num_train_timesteps=int(num_train_timesteps), beta_schedule=beta_schedule)
        self.register_buffer("alphas_cumprod", self.noise_scheduler.alphas_cumprod.clone().float(), persistent=False)
        self._generator: torch.Generator | None = None

    def _noise_generator(self, device: torch.device) -> torch.Generator:
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device)
            self._generator.manual_seed(int(self.hparams.seed) * 1000 + self.global_rank + 7919 * self.global_step)
        return self._generator

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        clean = batch
        generator = self._noise_generator(clean.device)
        noise = torch.randn(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
        uniform = torch.rand((clean.shape[0],), generator=generator, device=clean.device)
        n_timesteps = int(self.hparams.num_train_timesteps)
        power = float(self.hparams.get("timestep_power", 1.0))
        timesteps = (n_timesteps * uniform.double() ** power).long().clamp_(0, n_timesteps - 1)
        alpha_bar = self.alphas_cumprod[timesteps].view(-1, 1, 1, 1).to(clean.dtype)
        noisy = alpha_bar.sqrt() * clean + (1 - alpha_bar).sqrt() * noise
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
        unet = copy.deepcopy(source).cpu().eval().requires_grad_(False)
        return DiffusionPrior(unet, self.noise_scheduler)


def export_checkpoint(checkpoint: str, target: str, use_ema: bool = True, card: str | None = None, extra: dict | None = None):
    """Export the (EMA) network of a Lightning checkpoint as a prior (folder, or ``.safetensors`` file)."""
    module = DiffusionPriorModule.load_from_checkpoint(str(checkpoint), map_location="cpu", weights_only=False)
    global_step = int(torch.load(str(checkpoint), map_location="cpu", weights_only=False).get("global_step", 0))
    return module.export_prior(use_ema).save(target, card=card, extra={"global_step": global_step, **(extra or {})})
