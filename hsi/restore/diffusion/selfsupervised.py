"""Self-supervised diffusion restoration (DDS2M-like): no trained prior, no training data.

An untrained convolutional generator :class:`hsi.nn.dip.SpatialGenerator` (its architecture
is the prior, as in the deep image prior) maps a fixed random code to the normalised reduced
images of the scene's subspace (SVD + RRQR, :mod:`hsi.estimate.rrqr_subspace`: the
spectral side is the coefficient matrix, fixed from the data). Along a short reverse diffusion
process the generator is refitted at every timestep ``t`` for a few Adam iterations on the
negative log-likelihood of both what is known at that step,

    L(theta) = mean(|W (H x0_theta - y)|^2 / v) + mean(|x_t - sqrt(a_t) x0_theta|^2) / (1 - a_t),

the data term (``W``: whitening of the reduced-image noise, ``v`` its variances, ``H`` the
task's operator) and the diffusion state ``x_t ~ N(sqrt(a_t) x0, (1 - a_t) I)``. The fitted
``x0_theta`` then plays the role a trained prior's estimate plays in guided DDIM (Zhu et
al.'s DiffPIR): a proximal data step, then the DDIM move to the next timestep. The result is the **final iterate**; the number of iterations is fixed in advance
(never chosen by comparing with a clean reference).

Differences from DDS2M: its spectral network is replaced by the fixed RRQR coefficient
matrix (cheaper, and the rank is estimated by HySime); the spatial network is a small
two-level encoder-decoder.

References
----------
Y. Miao, L. Zhang, L. Zhang, D. Tao, "DDS2M: Self-supervised denoising diffusion spatio-spectral
model for hyperspectral image restoration", ICCV 2023. D. Ulyanov, A. Vedaldi, V. Lempitsky,
"Deep image prior", CVPR 2018. L. Pang et al., "HIR-Diff", CVPR 2024 (reduced images).
"""

from __future__ import annotations

import numpy as np
import torch

from hsi.errors import ParameterError
from hsi.nn.dip import SpatialGenerator
from hsi.nn.unet import pad_to_multiple
from hsi.restore.diffusion.guidance import BlurDecimation, Inpainting
from hsi.restore.diffusion.restorer import SubspaceFit, SubspaceRestorer
from hsi.restore.diffusion.schedules import noise_levels, start_timestep, timesteps


def linear_alphas_cumprod(num_train_timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """``prod_s (1 - beta_s)`` of the linear DDPM schedule (Ho et al. 2020), ``(T,)`` float64."""
    betas = torch.linspace(beta_start, beta_end, int(num_train_timesteps), dtype=torch.float64)
    return torch.cumprod(1 - betas, dim=0)


def dds2m_restore(observation, observed: torch.Tensor, noise, output_shape: tuple[int, int], *,
                  n_steps: int = 12, iterations_per_step: int = 15, learning_rate: float = 0.01,
                  width: int = 32, start_noise: float = 0.2, guidance_weight: float = 1.0,
                  stochasticity: float = 0.5, code_noise: float = 0.1,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Self-supervised reverse diffusion of normalised reduced images with a refitted generator.

    Parameters
    ----------
    observation : observation model (:mod:`hsi.restore.diffusion.guidance`).
    observed : ``(n, k, rows_obs, cols_obs)`` normalised observation (float32).
    noise : :class:`hsi.restore.diffusion.guidance.ChannelNoise` of the ``k`` channels.
    output_shape : ``(rows, cols)`` of the restored images.
    n_steps : reverse timesteps (exponentially spaced from the start level down to 0).
    iterations_per_step : Adam iterations refitting the generator at each timestep.
    learning_rate, width : Adam step and generator width.
    start_noise : start level ``sigma_t`` in normalised units.
    guidance_weight : the generator's estimate has precision ``guidance_weight / sigma_t^2`` in the data step.
    stochasticity : share of fresh noise in each DDIM move (0 deterministic, 1 DDPM-like).
    code_noise : standard deviation of the noise added to the first guess to make the generator's input.
    generator : seeds the code, the initial weights and the per-step noise.

    Returns
    -------
    ``(n, k, rows, cols)`` restored normalised images, the final iterate.

    References
    ----------
    Miao et al., ICCV 2023 (DDS2M); Ulyanov et al., CVPR 2018.
    """
    if int(n_steps) < 1 or int(iterations_per_step) < 1 or not float(learning_rate) > 0:
        raise ParameterError(f"n_steps and iterations_per_step must be >= 1 and learning_rate > 0; got "
                             f"{n_steps}, {iterations_per_step}, {learning_rate}")
    device, dtype = observed.device, torch.float32
    n, k = observed.shape[:2]
    rows, cols = output_shape
    alphas = linear_alphas_cumprod().to(device)
    sigmas = noise_levels(alphas)
    steps = timesteps(start_timestep(alphas, float(start_noise)), int(n_steps), "exponential")
    white_observed = noise.rotate(observed)
    variance = noise.variance_tensor(observed)

    def randn(shape):
        return torch.randn(shape, generator=generator, device=device, dtype=dtype)

    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=device))
    with torch.random.fork_rng(devices=[]):  # weights from the given generator, global state untouched
        torch.manual_seed(seed)
        network = SpatialGenerator(int(k), int(width)).to(device)
    optimizer = torch.optim.Adam(network.parameters(), lr=float(learning_rate))
    start = observation.initial(observed)
    # The code is the observation's first guess plus noise: fitting starts near the data,
    # so a few hundred iterations suffice on CPU (a pure-noise code needs thousands).
    code, _ = pad_to_multiple(start + code_noise * randn(start.shape), 2)

    def fitted() -> torch.Tensor:
        return network(code)[..., :rows, :cols]

    a0 = alphas[int(steps[0])].to(dtype)
    x = a0.sqrt() * start + (1 - a0).sqrt() * randn(start.shape)
    clean = start
    for i, t in enumerate(steps):
        t = int(t)
        a_t = alphas[t].to(dtype)
        for _ in range(int(iterations_per_step)):
            optimizer.zero_grad(set_to_none=True)
            estimate = fitted()
            data = ((noise.rotate(observation.forward(estimate)) - white_observed) ** 2 / variance).mean()
            state = ((x - a_t.sqrt() * estimate) ** 2).mean() / (1 - a_t)
            (data + state).backward()
            optimizer.step()
        with torch.no_grad():
            estimate = fitted()
            rho = float(guidance_weight) / float(sigmas[t]) ** 2
            clean = noise.unrotate(observation.proximal(noise.rotate(estimate), white_observed, variance, rho))
        if i + 1 == len(steps):
            break
        a_next = alphas[int(steps[i + 1])].to(dtype)
        direction = (x - a_t.sqrt() * clean) / (1 - a_t).sqrt()
        zeta = float(stochasticity)
        x = a_next.sqrt() * clean + (1 - a_next).sqrt() * (np.sqrt(1 - zeta) * direction + np.sqrt(zeta) * randn(x.shape))
    return clean.detach()


class SelfSupervisedRestorer(SubspaceRestorer):
    """DDS2M-like restoration of tiles with no trained prior (see the module docstring).

    Parameters
    ----------
    task, scale, blur_sigma, nyquist_gain, noise_std, seed, device : as
        :class:`hsi.restore.diffusion.restorer.DiffusionRestorer`.
    rank : subspace dimension; None = HySime (any integer, no channel-group constraint).
    max_rank : upper bound of the automatic rank.
    n_steps, iterations_per_step, learning_rate, width, guidance_weight, stochasticity :
        see :func:`dds2m_restore`.
    start_relative, start_noise_min : start level ``max(start_relative * noise rms, start_noise_min)``
        (denoising); ``sr_start_noise``, ``inpaint_start_noise`` for the other tasks.
    """

    def __init__(self, task: str = "denoise", scale: int = 4, blur_sigma: float | None = None,
                 nyquist_gain: float = 0.3, rank: int | None = None, max_rank: int = 12, noise_std=None,
                 n_steps: int = 12, iterations_per_step: int = 15, learning_rate: float = 0.01, width: int = 32,
                 guidance_weight: float = 1.0, stochasticity: float = 0.5, start_relative: float = 2.0,
                 start_noise_min: float = 0.1, sr_start_noise: float = 1.0, inpaint_start_noise: float = 2.0,
                 seed: int = 0, device: str | None = "auto"):
        self._common(task, scale, blur_sigma, nyquist_gain, seed, device)
        self.options = dict(n_steps=int(n_steps), iterations_per_step=int(iterations_per_step),
                            learning_rate=float(learning_rate), width=int(width),
                            guidance_weight=float(guidance_weight), stochasticity=float(stochasticity))
        if not 1 <= self.options["n_steps"] <= 1000 or not 0 <= self.options["stochasticity"] <= 1:
            raise ParameterError(f"n_steps must be in 1..1000 and stochasticity in [0, 1]; got {n_steps}, {stochasticity}")
        self.start_relative, self.start_noise_min = float(start_relative), float(start_noise_min)
        self.task_start = {"sr": float(sr_start_noise), "inpaint": float(inpaint_start_noise)}
        self.stats = SubspaceFit(rank, int(max_rank), noise_std, seed)

    def restore_images(self, observation, images: torch.Tensor, generator: torch.Generator, start=None) -> torch.Tensor:
        noise = self.stats.normalised_noise()
        if isinstance(observation, BlurDecimation):
            start, shape = self.task_start["sr"], (images.shape[2] * self.scale, images.shape[3] * self.scale)
        else:
            start = self.task_start["inpaint"] if isinstance(observation, Inpainting) else \
                max(self.start_relative * noise.rms, self.start_noise_min)
            shape = tuple(images.shape[2:])
        return dds2m_restore(observation, images, noise, shape, start_noise=start, generator=generator, **self.options)
