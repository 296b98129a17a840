"""Every diffusion method config instantiates through the restore job's config (no special case)."""

import hydra
import pytest

from hsi.config import compose
from tests.diffusion._cubes import tiny_prior


@pytest.fixture(scope="module")
def prior_file(tmp_path_factory):
    target = tmp_path_factory.mktemp("prior") / "tiny.safetensors"
    tiny_prior().save(target)
    return target


@pytest.mark.parametrize("method, task, scale", [("diffusion", "denoise", 1), ("diffusion_sr", "sr", 4),
                                                 ("diffusion_inpaint", "inpaint", 1), ("dds2m", "denoise", 1)])
def test_method_configs_build_tile_functions(prior_file, method, task, scale):
    overrides = [f"method={method}"] + ([] if method == "dds2m" else [f"method.model={prior_file}"])
    restorer = hydra.utils.instantiate(compose("restore", overrides).method)
    assert callable(restorer) and hasattr(restorer, "fit")
    assert restorer.task == task and restorer.scale == scale


def test_sr_config_follows_the_job_scale(prior_file):
    cfg = compose("restore", ["method=diffusion_sr", f"method.model={prior_file}", "task=sr", "scale=2"])
    assert hydra.utils.instantiate(cfg.method).scale == 2


def test_restore_job_fails_clearly_without_the_prior(tmp_path, capsys):
    from hsi.cli import main

    missing = tmp_path / "gone.safetensors"
    status = main(["restore", "method=diffusion", f"method.model={missing}", f"output={tmp_path / 'out.tif'}"])
    message = capsys.readouterr().err.strip()
    assert status == 2 and message.startswith("error:") and "gone.json not found" in message
    assert len(message.splitlines()) == 1
