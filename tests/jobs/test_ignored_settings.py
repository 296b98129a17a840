"""A setting given on the command line that the chosen task, method or input would not use is
refused in one line naming it, before any work or output (exit status 2).

Before (review): ``unmix n_endmembers=3 library=LIB`` unmixed onto all five library members and
``restore scale=3`` (task=denoise) kept the grid, both with exit status 0 and nothing said.
"""

import numpy as np
import pytest

from hsi.cli import main
from hsi.io import save_scene
from hsi.scene import Scene
from hsi.settings import SAMPLE_SCENE


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """A 5-member library on the sample scene's wavelengths (CSV: a wavelength header, a row per member)."""
    folder = tmp_path_factory.mktemp("ignored_settings")
    wavelengths = np.linspace(400, 2500, 106)
    rng = np.random.default_rng(0)
    rows = ["name," + ",".join(f"{w:.3f}" for w in wavelengths)]
    rows += [f"m{i}," + ",".join(f"{v:.4f}" for v in rng.uniform(0.1, 0.6, wavelengths.size)) for i in range(5)]
    path = folder / "library.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _refused(capsys, tmp_path, args, fragments):
    status = main(args)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1, lines
    assert all(fragment in lines[0] for fragment in fragments), lines
    assert list(tmp_path.iterdir()) == []  # no output, no report, no empty folder


def _no_work(*args, **kwargs):
    raise AssertionError("work started before the settings were checked")


@pytest.mark.parametrize("options, fragments", [
    (["scale=3"], ["scale=3 is used by task=sr only", "task=denoise does not resample"]),
    (["task=destripe", "scale=2"], ["scale=2 is used by task=sr only", "task=destripe"]),
    (["mask={scene}"], ["mask= is only used with task=inpaint", "task=denoise"]),
    (["workers=4"], ["workers=4 is used by scheduler=local only"]),
])
def test_restore_refuses_a_setting_its_task_ignores(tmp_path, capsys, monkeypatch, options, fragments):
    monkeypatch.setattr("hsi.jobs.restore.input_scene", _no_work)
    options = [o.format(scene=SAMPLE_SCENE) for o in options]
    _refused(capsys, tmp_path, ["restore", f"output={tmp_path / 'r.tif'}", *options], fragments)


def test_restore_scale_is_taken_by_task_sr(tmp_path, monkeypatch):
    """The counter-case: the same setting with the task that uses it passes the check."""
    monkeypatch.setattr("hsi.jobs.restore.input_scene", _no_work)
    with pytest.raises(AssertionError, match="work started"):
        main(["restore", "task=sr", "scale=2", f"output={tmp_path / 'r.tif'}"])


@pytest.mark.parametrize("options, fragments", [
    (["n_endmembers=3", "library={library}"], ["n_endmembers=3 is not used with library=", "library's members"]),
    (["n_endmembers_method=hfc", "library={library}"], ["n_endmembers_method=hfc is not used with library="]),
    (["method=vca_fcls", "library={library}"], ["method=vca_fcls learns endmembers", "library_fcls", "sunsal"]),
    (["n_endmembers=3", "n_endmembers_method=nwhfc"], ["n_endmembers_method=nwhfc is used by n_endmembers=auto only"]),
    (["n_endmembers=3", "false_alarm=0.01"], ["false_alarm=0.01 is used by n_endmembers=auto", "got n_endmembers=3"]),
    (["n_endmembers_method=hysime", "false_alarm=0.01"], ["false_alarm=0.01 is used by", "n_endmembers_method=hysime"]),
])
def test_unmix_refuses_a_setting_its_method_ignores(tmp_path, capsys, monkeypatch, library, options, fragments):
    monkeypatch.setattr("hsi.jobs.unmix.input_scene", _no_work)
    options = [o.format(library=library) for o in options]
    _refused(capsys, tmp_path, ["unmix", f"output={tmp_path / 'u'}", *options], fragments)


def test_unmix_with_a_library_method_and_a_library_still_runs(tmp_path, library):
    """The counter-case: a library method with library= (and no count) unmixes onto every member."""
    from hsi.jobs.run import run_job

    report = run_job("unmix", [f"input={SAMPLE_SCENE}", f"output={tmp_path / 'u'}", "method=library_fcls",
                               f"library={library}", "quicklook=false", "progress=false"])
    assert report["results"]["n_endmembers"] == 5


@pytest.mark.parametrize("options, fragments", [
    (["product={scene}", "ms={scene}"], ["ms= is not used with product="]),
    (["product={scene}", "pan_read.key=PAN"], ["pan_read.key= is not used with product="]),
    (["protocol=wald"], ["protocol must be one of", "'wald'"]),
])
def test_pansharpen_refuses_settings_before_opening_anything(tmp_path, capsys, monkeypatch, options, fragments):
    monkeypatch.setattr("hsi.jobs.pansharpen.open_pair", _no_work)
    monkeypatch.setattr("hsi.jobs.pansharpen.open_scene", _no_work)
    options = [o.format(scene=SAMPLE_SCENE) for o in options]
    _refused(capsys, tmp_path, ["pansharpen", f"output={tmp_path / 'p.tif'}", *options], fragments)


@pytest.mark.parametrize("options, fragments", [
    (["job=convert", "pan=pans/x_pan.tif"], ["pan= is used by job=pansharpen only"]),
    (["job=convert", "workers=3"], ["workers=3 is used by scheduler=local only"]),
])
def test_batch_refuses_a_setting_its_job_ignores(tmp_path, capsys, options, fragments):
    scenes = tmp_path / "in"
    scenes.mkdir()
    save_scene(Scene.from_array(np.ones((4, 4, 3), np.float32)), scenes / "a.tif")
    out = tmp_path / "out"
    assert main(["batch", f"inputs=[{scenes}/*.tif]", f"output_dir={out}", *options]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and all(f in lines[0] for f in fragments), lines
    assert not out.exists()
