"""Zero-shot rho-PNN-style network: the hysteresis rule, the differentiable QNR, a short smoke run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hsi.degrade.mtf import decimate, mtf_blur
from hsi.degrade.resample import upsample
from hsi.errors import ParameterError
from hsi.metrics import d_lambda, d_s
from hsi.pansharpen.noref import best_qnr_start, image_qnr, qnr_distortions, qnr_reference
from hsi.pansharpen.zeroshot import correlation_gap, hysteresis_switch, rho_pnn
from tests._lightning_lines import lightning_messages, unwanted


def test_hysteresis_keeps_its_state_inside_the_band():
    assert hysteresis_switch(True, 0.55, target=0.5, width=0.1) is False  # above target: off
    assert hysteresis_switch(False, 0.45, target=0.5, width=0.1) is False  # inside the band: stays off
    assert hysteresis_switch(False, 0.35, target=0.5, width=0.1) is True  # below target - width: on
    assert hysteresis_switch(True, 0.45, target=0.5, width=0.1) is True  # inside the band: stays on


def test_correlation_gap_counts_shortfall_or_any_difference():
    attainable = torch.tensor([0.5, 0.5, -0.2])
    achieved = torch.tensor([0.3, 0.9, 0.1])
    assert torch.isclose(correlation_gap(attainable, achieved), torch.tensor(0.2 / 3))  # only the shortfall
    assert torch.isclose(correlation_gap(attainable, achieved, two_sided=True), torch.tensor(0.9 / 3))


@pytest.mark.slow
def test_smoke_run_is_seeded_and_moves_towards_the_truth():
    rng = np.random.default_rng(0)
    pan = 1.0 + 0.3 * mtf_blur(rng.standard_normal((64, 64, 1)), 0.6, 2.0)[:, :, 0]
    cube = pan[:, :, None] * np.array([0.5, 1.0, 1.5])
    ms = decimate(mtf_blur(cube, 0.3, 4), 4)
    state = torch.random.get_rng_state()
    options = dict(sensor="generic", first_band_steps=15, band_steps=3, patch_size=64, batch_size=2, seed=3,
                   refine_steps=10, refine_batch_size=2)
    fused = rho_pnn(ms, pan, **options)
    assert torch.equal(state, torch.random.get_rng_state())  # no global seeding
    assert isinstance(fused, np.ndarray) and fused.shape == (64, 64, 3) and np.isfinite(fused).all()
    assert np.array_equal(fused, rho_pnn(ms, pan, **options))
    error = lambda x: np.sqrt(np.mean((x - cube) ** 2))  # noqa: E731
    assert error(fused) < error(upsample(ms, 4))
    two_sided = rho_pnn(ms, pan, **{**options, "refine_steps": 0, "two_sided": True})
    assert error(two_sided) < error(upsample(ms, 4))
    with pytest.raises(ParameterError, match="hysteresis"):
        rho_pnn(ms, pan, hysteresis=0.6, spectral_target=0.5)


def test_correlation_map_is_the_windowed_correlation_at_every_pixel():
    from hsi.pansharpen.zeroshot import local_correlation, local_correlation_map

    generator = torch.Generator().manual_seed(0)
    first, second = torch.rand(2, 1, 1, 20, 20, generator=generator, dtype=torch.float64)
    correlation = local_correlation_map(first, second, 5)
    assert correlation.shape == first.shape
    assert torch.allclose(correlation[..., 2:-2, 2:-2], local_correlation(first, second, 5), atol=1e-12)
    assert torch.allclose(local_correlation_map(first, 2 * first + 1, 6), torch.ones_like(first), atol=1e-9)
    with pytest.raises(ParameterError, match="threshold_window"):
        rho_pnn(np.ones((16, 16, 2)), np.ones((64, 64)), threshold_window=0)


def test_differentiable_qnr_terms_equal_the_metrics():
    rng = np.random.default_rng(1)
    ms = 100 + 20 * rng.random((17, 13, 3))  # 68 x 52 on the PAN grid: 2 x 1 whole blocks, the rest left out
    pan = 100 + 30 * rng.random((68, 52))
    fused = torch.tensor(100 + 25 * rng.random((68, 52, 3)), requires_grad=True)
    reference = qnr_reference(ms, pan, 4)
    spectral, spatial = qnr_distortions(fused.permute(2, 0, 1)[None], torch.tensor(pan)[None, None],
                                        reference.q_ms.flatten(0, 1), reference.q_low.flatten(0, 1), reference.block)
    assert spectral.item() == pytest.approx(d_lambda(fused.detach().numpy(), ms), rel=1e-10)
    assert spatial.item() == pytest.approx(d_s(fused.detach().numpy(), ms, pan, 4), rel=1e-10)
    (spectral + spatial).backward()
    assert torch.isfinite(fused.grad).all() and fused.grad.abs().sum() > 0
    # EXP has no spectral distortion by construction of the toolbox's D_lambda
    assert image_qnr(upsample(ms, 4), pan, reference) == pytest.approx(1 - d_s(upsample(ms, 4), ms, pan, 4), rel=1e-10)


def test_start_is_the_candidate_with_the_best_qnr():
    rng = np.random.default_rng(2)
    pan = 1.0 + 0.3 * mtf_blur(rng.standard_normal((64, 64, 1)), 0.6, 2.0)[:, :, 0]
    ms = decimate(mtf_blur(pan[:, :, None] * np.array([0.5, 1.0, 1.5]), 0.3, 4), 4)
    noisy = lambda ms, pan, **_: upsample(ms, 4) + 0.2 * rng.standard_normal((64, 64, 3))  # noqa: E731
    plain = lambda ms, pan, **_: upsample(ms, 4)  # noqa: E731
    assert np.array_equal(best_qnr_start(ms, pan, ratio=4, candidates=[noisy, plain]), upsample(ms, 4))
    with pytest.raises(ParameterError, match="candidate"):
        best_qnr_start(ms, pan, ratio=4, candidates=[])


def test_tiled_forward_equals_the_whole_image_pass():
    from hsi.pansharpen.zeroshot import BandDetailNet, tiled_forward

    torch.manual_seed(0)
    net = BandDetailNet(8)
    for parameter in net.parameters():  # a non-identity network: every layer matters
        torch.nn.init.normal_(parameter, std=0.3)
    image = torch.rand(1, 2, 37, 53, generator=torch.Generator().manual_seed(1))  # odd sides, tiles cut short
    with torch.no_grad():
        whole = net(image)
    for tile in (5, 16, 64):  # tiles smaller than the halo's reach, ragged, larger than the image
        tiled = tiled_forward(net, image, tile)
        assert tiled.shape == whole.shape
        assert torch.allclose(tiled, whole, atol=1e-5)
    assert (whole - image[:, :1]).abs().max() > 0.1  # the network does change the band


def test_training_inside_the_job_prints_none_of_lightnings_lines():
    """The pansharpen job's console says what hsi does; Lightning's accelerator summary, its tip and
    its 'max_steps reached' line (INFO, once per Trainer) are not emitted during the method's fit."""
    import logging

    lightning_logger = logging.getLogger("lightning.pytorch")
    level = lightning_logger.level
    with lightning_messages() as messages:
        ms = 1.0 + np.random.default_rng(0).random((16, 16, 2))
        rho_pnn(ms, upsample(ms, 4).mean(axis=2), sensor="generic", first_band_steps=1, band_steps=1,
                patch_size=64, batch_size=1)
    assert not unwanted(messages), messages
    assert lightning_logger.level == level  # Lightning's own level is given back (the train job keeps its lines)


def test_progress_shows_a_bar_over_the_training_steps_only_when_asked(capfd):
    ms = 1.0 + np.random.default_rng(0).random((16, 16, 2))
    pan = upsample(ms, 4).mean(axis=2)
    options = dict(sensor="generic", first_band_steps=2, band_steps=1, patch_size=64, batch_size=1)
    quiet = rho_pnn(ms, pan, **options)
    assert "3/3" not in "".join(capfd.readouterr())  # no bar: it would count 3/3 steps
    shown = rho_pnn(ms, pan, progress=True, **options)
    assert "3/3" in "".join(capfd.readouterr())  # first band 2 steps + 1 later band
    assert np.array_equal(quiet, shown)  # the bar does not change the fit
