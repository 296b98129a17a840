"""The prior's inference arithmetic: bfloat16 denoises as well as float32, and float32 results never depend on it."""

from pathlib import Path

import numpy as np
import pytest
import torch

from hsi.errors import ParameterError
from hsi.nn.diffusion_prior import full_precision, load_prior

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "hsi-prior-1ch"


def test_bfloat16_prior_denoises_as_well_as_float32_and_float32_stays_exact():
    prior = load_prior(SHIPPED)
    rows, cols = np.mgrid[0:72, 0:88] / 9.0
    clean = torch.from_numpy(0.6 * np.sin(rows) * np.cos(0.7 * cols)).float()[None, None]
    sigma = 0.2
    noisy = clean + sigma * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    exact = prior.denoise(noisy, sigma)
    prior.set_precision("bfloat16")
    fast = prior.denoise(noisy, sigma)
    error_exact, error_fast = (exact - clean).square().mean(), (fast - clean).square().mean()
    assert error_exact < 0.5 * sigma**2  # the prior denoises
    assert error_fast <= 1.02 * error_exact  # and bfloat16 as well
    assert 0 < (fast - exact).square().mean().sqrt() < 0.01 * sigma  # rounding of the noise prediction only
    with full_precision():  # what the SURE choice runs in
        assert torch.equal(prior.denoise(noisy, sigma), exact)
    assert torch.equal(prior.denoise(noisy, sigma), fast)  # back in bfloat16: the same bits again
    prior.set_precision("float32")
    assert torch.equal(prior.denoise(noisy, sigma), exact)
    with pytest.raises(ParameterError, match="precision"):
        prior.set_precision("float16")
