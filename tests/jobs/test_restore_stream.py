"""restore with fasthyde goes through the streamed subspace passes; GeoTIFF compression is the user's choice."""

import json

import numpy as np
import pytest
import rasterio

from hsi.cli import main
from hsi.io import open_scene

from tests.faults._helpers import small_scene


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return small_scene(tmp_path_factory.mktemp("stream") / "in.tif", rows=40, cols=36, bands=12)


def _restore(scene, output, *overrides):
    return main(["restore", f"input={scene}", f"output={output}", "method=fasthyde", "quicklook=false",
                 "progress=false", "+method.patch=4", "+method.radius=6", "+method.step=2", *overrides])


def test_fasthyde_is_streamed_and_equals_the_tile_runner_where_both_are_exact(tmp_path, scene):
    # one tile covering the scene: the streamed passes and the tile runner run the same arithmetic
    assert _restore(scene, tmp_path / "stream.tif", "tiling.tile=64", "tiling.eigen_tile=64") == 0
    assert _restore(scene, tmp_path / "runner.tif", "tiling.tile=64", "tiling.stream=false") == 0
    report = json.loads((tmp_path / "stream_report.json").read_text())
    assert report["results"]["tiling"]["path"] == "subspace_stream"
    assert "path" not in json.loads((tmp_path / "runner_report.json").read_text())["results"]["tiling"]
    streamed, runner = open_scene(tmp_path / "stream.tif").read(), open_scene(tmp_path / "runner.tif").read()
    np.testing.assert_allclose(streamed, runner, rtol=0, atol=1e-4)


@pytest.mark.parametrize("choice,compress", [(None, "none"), ("zstd", "zstd")])
def test_geotiff_output_compression_and_block_are_the_users_choice(tmp_path, scene, choice, compress):
    output = tmp_path / "out.tif"
    assert _restore(scene, output, *([f"write.compress={choice}"] if choice else []), "write.block=32") == 0
    with rasterio.open(output) as ds:
        assert (ds.compression.value.lower() if ds.compression else "none") == compress
        assert ds.block_shapes[0] == (32, 32)


def test_unknown_compression_is_one_line_and_exit_2(tmp_path, scene, capsys):
    assert _restore(scene, tmp_path / "out.tif", "write.compress=jpeg2000") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "compress must be one of none, deflate, lzw, zstd" in err[0]
    assert not (tmp_path / "out.tif").exists()
