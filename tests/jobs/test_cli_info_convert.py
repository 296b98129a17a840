"""The CLI as a user meets it: help, info, convert, and one-line errors with exit status 2."""

import subprocess
import sys

import numpy as np
import pytest

from hsi.cli import main
from hsi.io import open_scene, save_scene
from hsi.scene import Scene
from hsi.settings import PROJECT_ROOT


def test_help_lists_jobs(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "info" in out and "convert" in out and "bench" in out


def test_info_on_real_aviris_shows_crs_pixels_and_wavelengths(shared_data, capsys):
    path = shared_data / "aviris_ng" / "ang20160910t185702_2rdn_img.hdr"
    assert main(["info", f"input={path}", "progress=false"]) == 0
    out = capsys.readouterr().out
    assert "EPSG:32611" in out and "15 x 15 m" in out and "425 from 376.4" in out


def test_info_without_input_runs_on_the_sample(tmp_path, capsys):
    assert main(["info", "band_table=false", "progress=false", f"quicklook={tmp_path / 'q.png'}",
                 f"report={tmp_path / 'info.json'}"]) == 0
    assert "sample" in capsys.readouterr().out
    import json

    import matplotlib.image

    assert matplotlib.image.imread(tmp_path / "q.png").shape[:2] == (192, 192)  # 96 px upscaled x2
    report = json.loads((tmp_path / "info.json").read_text())
    info = report["results"]
    assert info["crs"] == "EPSG:32611" and len(info["bands"]["mean"]) == 106
    assert report["outputs"]["quicklook"] == str(tmp_path / "q.png")


def test_info_bands_selects_bands_as_convert_does(tmp_path):
    import json

    assert main(["info", "bands=[0,5,10]", "progress=false", f"report={tmp_path / 'info.json'}"]) == 0
    info = json.loads((tmp_path / "info.json").read_text())["results"]
    assert info["shape_rows_cols_bands"][2] == 3 and len(info["bands"]["mean"]) == 3


def test_info_refuses_an_existing_report_before_reading_the_scene(tmp_path, capsys):
    (tmp_path / "info.json").write_text("mine")
    assert main(["info", "progress=false", f"report={tmp_path / 'info.json'}"]) == 2
    assert "output exists" in capsys.readouterr().err and (tmp_path / "info.json").read_text() == "mine"


def test_convert_keeps_data_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "sample.hdr"
    assert main(["convert", f"output={out}", "progress=false"]) == 0
    sample = open_scene(PROJECT_ROOT / "data" / "sample_scene.tif")
    converted = open_scene(out)
    np.testing.assert_array_equal(converted.read(), sample.read())
    assert converted.crs == sample.crs and converted.scale == sample.scale
    assert main(["convert", f"output={out}", "progress=false"]) == 2
    assert "pass overwrite=true" in capsys.readouterr().err


def test_convert_all_nodata_scene_is_an_error(tmp_path, capsys):
    src = save_scene(Scene.from_array(np.full((3, 3, 2), -9999, np.float32), nodata=-9999), tmp_path / "empty.tif")
    assert main(["convert", f"input={src}", f"output={tmp_path / 'o.h5'}", "progress=false"]) == 2
    assert "every pixel is nodata" in capsys.readouterr().err
    assert not (tmp_path / "o.h5").exists()


def test_convert_reports_nonfinite_values(tmp_path, capsys):
    cube = np.ones((3, 3, 2), np.float32)
    cube[0, 0, 0] = np.nan
    cube[1, 1, 1] = np.inf
    src = save_scene(Scene.from_array(cube, nodata=-1.0), tmp_path / "nan.tif")
    assert main(["convert", f"input={src}", f"output={tmp_path / 'o.tif'}", "progress=false"]) == 0
    assert "2 non-finite values; written as the nodata value -1.0" in capsys.readouterr().out
    assert (open_scene(tmp_path / "o.tif").read() == -1).sum() == 2


def test_bad_setting_is_one_line_exit_2(capsys):
    assert main(["info", "no_such_key=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


def test_cli_script_runs_as_a_process(tmp_path):
    result = subprocess.run([sys.executable, str(PROJECT_ROOT / "cli.py"), "info", "input=missing.tif"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: missing.tif: input file not found"


def test_job_help_names_the_default_method_and_the_choices(capsys):
    from hsi.cli import main

    assert main(["restore", "--help"]) == 0
    out = capsys.readouterr().out
    assert "method: auto (method=NAME picks another:" in out and "robust_fasthyde" in out
    assert main(["unmix", "method=nosuch"]) == 2
    assert "methods for unmix:" in capsys.readouterr().err


@pytest.mark.parametrize("job,method", [("unmix", "fasthyde"), ("restore", "edaa_pp"), ("pansharpen", "vca_fcls")])
def test_a_method_of_another_job_is_refused_before_anything_else(job, method, tmp_path, capsys):
    assert main([job, f"method={method}", f"output={tmp_path / 'out.tif'}"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # not even "no input= given: using the sample scene"
    assert captured.err.strip().count("\n") == 0 and f"methods for {job}:" in captured.err
    assert list(tmp_path.iterdir()) == []


def test_help_into_a_closed_pipe_ends_quietly():
    """`python cli.py restore --help | head`: no BrokenPipeError traceback when the reader leaves."""
    reader_gone = subprocess.run(f"{sys.executable} cli.py restore --help | (exec 0<&-; true)", shell=True,
                                 cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert "Traceback" not in reader_gone.stderr and "BrokenPipeError" not in reader_gone.stderr


@pytest.mark.parametrize("job", ["info", "convert", "restore", "unmix", "pansharpen", "batch", "train", "bench"])
def test_every_job_help_shows_its_usage_and_groups(job, capsys):
    assert main([job, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"usage: python cli.py {job}" in out and "settings (override with key=value):" in out
    if job == "bench":
        assert "suite=unmix by default (suite=NAME, one of: identity, pansharpen, prior, restore, scale, throughput, unmix" in out


@pytest.mark.parametrize("job", ["convert", "info"])
@pytest.mark.parametrize("bands, fragment", [("abc", "takes band indices (integers)"), ("[1.5]", "takes band indices (integers)"),
                                             ("[]", "selects no band")])
def test_band_selections_that_are_not_band_indices_are_one_line(tmp_path, capsys, job, bands, fragment):
    """Before (review): bands=abc was a ValueError traceback, bands=[1.5] read band 1 silently and
    bands=[] failed in GDAL on a zero-band file."""
    output = "output" if job == "convert" else "report"
    status = main([job, f"bands={bands}", f"{output}={tmp_path / ('out.tif' if job == 'convert' else 'info.json')}",
                   "progress=false"])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error: bands= ") and fragment in lines[0], lines
    assert list(tmp_path.iterdir()) == []
    assert main(["convert", "bands=[-1]", f"output={tmp_path / 'last.tif'}", "progress=false", "quicklook=false"]) == 0
    assert open_scene(tmp_path / "last.tif").wavelengths_nm.tolist() == [2500.0]  # negative indices count from the end


def _sample_with_hole(tmp_path, stripes: bool) -> "Path":
    """The shipped sample with a central 20 x 20 nodata hole (and, if asked, stripes on bands 40-45)."""
    from hsi.jobs.common import ensure_sample

    scene = open_scene(ensure_sample())
    cube = scene.read(physical=True).astype(np.float32)
    if stripes:  # band-specific, as detector stripes are: other columns in each band
        rng = np.random.default_rng(0)
        for band in range(40, 46):
            columns = rng.choice(cube.shape[1], 5, replace=False)
            cube[:, columns, band] += rng.choice([-0.05, 0.05], 5).astype(np.float32)
    cube[38:58, 38:58] = -9999.0
    path = tmp_path / ("holed_striped.tif" if stripes else "holed.tif")
    save_scene(scene.derived(dtype=np.float32, nodata=-9999.0, scale=1.0, offset=0.0).with_array(cube), path)
    return path


def test_info_takes_no_fill_hole_for_stripes_and_still_finds_stripes_beside_one(tmp_path, capsys):
    """A nodata hole in the sample made info flag 2 columns of bands 16 and 53 as stripes: columns
    averaged over other rows than their neighbours (stop 23's left-out)."""
    import json

    for stripes, expected in ((False, []), (True, list(range(40, 46)))):
        report = tmp_path / f"info_{stripes}.json"
        assert main(["info", f"input={_sample_with_hole(tmp_path, stripes)}", "band_table=false", "progress=false",
                     f"report={report}"]) == 0
        info = json.loads(report.read_text())["results"]
        assert info["nodata_fraction"] > 0.04
        assert np.flatnonzero(info["bands"]["striped"]).tolist() == expected
    assert "striped     0 bands" in capsys.readouterr().out
