"""Impossible shared settings (tiles, seed, sample size) are refused in one line before any work.

Before (review): the default restore streams its eigen-images in tiles of its own and ignored
``tiling.tile=-5`` (rc 0); ``unmix tiling.tile=-5`` failed only after the endmember fit and left
its output folder behind; ``seed=-1`` was numpy's ValueError traceback and ``unmix
sample_pixels=0`` said every pixel was nodata.
"""

import pytest

from hsi.cli import main
from hsi.settings import SAMPLE_SCENE


@pytest.mark.parametrize("job, output", [("restore", "r.tif"), ("unmix", "unmixed")])
@pytest.mark.parametrize("setting, fragment", [("tiling.tile=-5", "tiling.tile must be >= 1; got -5"),
                                               ("tiling.overlap=300", "tiling.overlap must be in [0, tiling.tile)"),
                                               ("tiling.eigen_tile=0", "tiling.eigen_tile must be >= 1"),
                                               ("seed=-1", "seed= must be >= 0; got -1"),
                                               ("sample_pixels=0", "sample_pixels= must be >= 1; got 0")])
def test_impossible_settings_are_refused_before_any_work(tmp_path, capsys, monkeypatch, job, output, setting, fragment):
    if job != "restore" and setting.startswith("tiling.eigen"):
        setting, fragment = "tiling.tile=0", "tiling.tile must be >= 1; got 0"
    monkeypatch.setattr("hsi.jobs.unmix.sample_pixels", _no_work)
    monkeypatch.setattr("hsi.jobs.restore.sample_blocks", _no_work)
    status = main([job, f"input={SAMPLE_SCENE}", f"output={tmp_path / output}", setting, "progress=false"])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1 and fragment in lines[0], lines
    assert list(tmp_path.iterdir()) == []


def _no_work(*args, **kwargs):
    raise AssertionError("work started before the tile settings were checked")
