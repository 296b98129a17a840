"""Every diffusion method config builds through the method registry, as the restore job builds it (no special case)."""

import pytest

from hsi import methods
from tests.diffusion._cubes import tiny_prior


@pytest.fixture(scope="module")
def prior_file(tmp_path_factory):
    target = tmp_path_factory.mktemp("prior") / "tiny.safetensors"
    tiny_prior().save(target)
    return target


@pytest.mark.parametrize("method, task, scale", [("diffusion", "denoise", 1), ("diffusion_sr", "sr", 4),
                                                 ("diffusion_inpaint", "inpaint", 1), ("dds2m", "denoise", 1)])
def test_method_configs_build_tile_functions(prior_file, method, task, scale):
    overrides = [] if method == "dds2m" else [f"model={prior_file}"]
    restorer = methods.load("restore", method, overrides, task=task)
    assert callable(restorer) and hasattr(restorer, "fit")
    assert restorer.task == task and restorer.scale == scale


def test_sr_config_follows_the_job_scale(prior_file):
    assert methods.load("restore", "diffusion_sr", [f"model={prior_file}"], task="sr", scale=2).scale == 2


def test_restore_job_fails_clearly_without_the_prior(tmp_path, capsys):
    from hsi.cli import main

    missing = tmp_path / "gone.safetensors"
    status = main(["restore", "method=diffusion", f"method.model={missing}", f"output={tmp_path / 'out.tif'}"])
    message = capsys.readouterr().err.strip()
    assert status == 2 and message.startswith("error:") and "gone.json not found" in message
    assert len(message.splitlines()) == 1
