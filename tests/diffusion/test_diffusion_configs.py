"""Every diffusion / plug-and-play config builds through the method registry, as the restore job builds it."""

import pytest

from hsi import methods
from hsi.restore.diffusion.denoisers import BM3DDenoiser


@pytest.mark.parametrize("method, task, scale, estimator", [
    ("diffusion", "denoise", 1, "tweedie"), ("diffusion_mean", "denoise", 1, "mean"),
    ("diffusion_sample", "denoise", 1, "sample"), ("diffusion_sr", "sr", 4, None),
    ("diffusion_inpaint", "inpaint", 1, None), ("diffusion_inpaint_cold", "inpaint", 1, None), ("pnp", "sr", 4, None), ("pnp", "inpaint", 1, None),
    ("pnp_sr_bm3d", "sr", 4, None), ("pnp_inpaint_bm3d", "inpaint", 1, None)])
def test_method_configs_build_tile_functions_with_any_denoiser(method, task, scale, estimator):
    restorer = methods.load("restore", method, ["denoiser=bm3d"], task=task)
    assert callable(restorer) and hasattr(restorer, "fit") and isinstance(restorer.denoiser, BM3DDenoiser)
    assert restorer.task == task and restorer.scale == scale
    assert getattr(restorer, "estimator", None) == estimator


def test_pnp_follows_the_job_task_and_scale_and_refuses_other_tasks():
    from hsi.errors import ParameterError

    assert methods.load("restore", "pnp", task="sr", scale=2).scale == 2
    assert "pnp" in methods.names("restore", "sr") and "pnp" in methods.names("restore", "inpaint")
    with pytest.raises(ParameterError, match="cannot do task=denoise"):
        methods.load("restore", "pnp", task="denoise")
    with pytest.raises(ParameterError, match="cannot do task=inpaint"):
        methods.load("restore", "pnp_sr_bm3d", task="inpaint")


def test_a_nested_denoiser_target_is_built_and_a_foreign_one_refused():
    from hsi.errors import ParameterError

    nested = "denoiser={_target_:hsi.restore.diffusion.denoisers.BM3DDenoiser,radius:8}"
    restorer = methods.load("restore", "pnp", [nested], task="sr")
    assert restorer.denoiser.options == {"radius": 8}
    with pytest.raises(ParameterError, match="refused"):
        methods.load("restore", "pnp", ["denoiser={_target_:builtins.open}"], task="sr")


def test_restore_job_fails_clearly_without_the_prior(tmp_path, capsys):
    from hsi.cli import main

    missing = tmp_path / "gone"
    status = main(["restore", "method=diffusion", f"method.model={missing}", f"output={tmp_path / 'out.tif'}"])
    message = capsys.readouterr().err.strip()
    assert status == 2 and message.startswith("error:") and "no diffusion prior" in message
    assert len(message.splitlines()) == 1
