"""The job skeleton: same report keys in every job, outputs validated before any work, path rule."""

import json

import numpy as np
import pytest

from hsi.cli import main
from hsi.jobs.common import REPORT_KEYS, output_paths
from hsi.jobs.run import run_job


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from hsi.io import save_scene
    from hsi.sample_scene import make_sample_scene

    folder = tmp_path_factory.mktemp("skeleton")
    scene = make_sample_scene(n_rows=64, n_cols=60, wavelengths_nm=np.linspace(420, 2400, 24), seed=4).to_scene()
    cube = scene.read(physical=True)
    ms = cube.reshape(16, 4, 15, 4, 24).mean(axis=(1, 3))
    pan = cube[:, :, :10].mean(axis=2, keepdims=True)
    plain = scene.derived(transform=None, crs=None)
    return {"scene": save_scene(scene, folder / "scene.tif"),
            "ms": save_scene(plain.derived(n_rows=16, n_cols=15).with_array(ms.astype(np.float32)), folder / "ms.tif"),
            "pan": save_scene(plain.derived(n_bands=1, wavelengths_nm=None, fwhm_nm=None, bad_bands=None, band_names=None)
                              .with_array(pan.astype(np.float32)), folder / "pan.tif")}


def _runs(tiny, tmp_path):
    return {
        "restore": (["restore", f"input={tiny['scene']}", "method=tv", f"output={tmp_path / 'r.tif'}", "progress=false"],
                    tmp_path / "r.tif"),
        "unmix": (["unmix", f"input={tiny['scene']}", "method=vca_fcls", "n_endmembers=3", f"output={tmp_path / 'u'}"],
                  tmp_path / "u" / "abundances.tif"),
        "pansharpen": (["pansharpen", f"ms={tiny['ms']}", f"pan={tiny['pan']}", "method=gsa", f"output={tmp_path / 'p.tif'}"],
                       tmp_path / "p.tif"),
    }


def test_every_job_writes_the_same_report_keys_and_a_quicklook_by_the_path_rule(tiny, tmp_path):
    keys = {}
    for job, (args, output) in _runs(tiny, tmp_path).items():
        report = run_job(args[0], args[1:])
        paths = output_paths(output)
        saved = json.loads(paths["report"].read_text())
        assert saved == json.loads(json.dumps(saved)) and tuple(saved) == REPORT_KEYS == tuple(report)
        assert saved["job"] == job and saved["method"]["name"] == next(a for a in args if a.startswith("method=")).split("=")[1]
        assert saved["outputs"]["output"] == str(output) and saved["outputs"]["report"] == str(paths["report"])
        assert saved["timings"]["total_s"] > 0 and saved["hsi_version"]
        assert paths["quicklook"].stat().st_size > 1000 and saved["outputs"]["quicklook"] == str(paths["quicklook"])
        keys[job] = tuple(saved)
    assert len(set(keys.values())) == 1


@pytest.mark.parametrize("job", ["restore", "unmix", "pansharpen"])
def test_an_existing_report_is_refused_before_any_work(tiny, tmp_path, capsys, job):
    args, output = _runs(tiny, tmp_path)[job]
    report = output_paths(output)["report"]
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("my notes\n")
    assert main(args) == 2
    assert "output exists" in capsys.readouterr().err and report.read_text() == "my notes\n"
    assert not output.exists() and not output_paths(output)["quicklook"].exists()


@pytest.mark.parametrize("job", ["restore", "unmix", "pansharpen"])
def test_an_existing_quicklook_is_refused_unless_overwrite(tiny, tmp_path, capsys, job):
    args, output = _runs(tiny, tmp_path)[job]
    quicklook = output_paths(output)["quicklook"]
    quicklook.parent.mkdir(parents=True, exist_ok=True)
    quicklook.write_bytes(b"png")
    assert main(args) == 2 and not output.exists()
    assert main([*args, "overwrite=true"]) == 0 and quicklook.stat().st_size > 1000


def test_a_bad_output_extension_fails_before_any_work(tiny, tmp_path, capsys, monkeypatch):
    import hsi.jobs.restore as restore_job

    def no_work(*args, **kwargs):
        raise AssertionError("the output must be refused before sampling the scene")

    monkeypatch.setattr(restore_job, "sample_blocks", no_work)
    assert main(["restore", f"input={tiny['scene']}", f"output={tmp_path / 'r.xyz'}"]) == 2
    assert "unknown file extension '.xyz'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_reference_of_another_shape_is_refused_before_any_work(tiny, tmp_path, capsys, monkeypatch):
    import hsi.jobs.restore as restore_job

    def no_work(*args, **kwargs):
        raise AssertionError("the reference must be refused before sampling the scene")

    monkeypatch.setattr(restore_job, "sample_blocks", no_work)
    output = tmp_path / "r.tif"
    assert main(["restore", f"input={tiny['scene']}", f"reference={tiny['ms']}", f"output={output}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ms.tif: reference= is 16 x 15 x 24" in err and "64 x 60 x 24" in err
    assert not output.exists()


def test_unmix_output_that_is_a_file_is_one_line(tiny, tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    assert main(["unmix", f"input={tiny['scene']}", f"output={target}", "method=vca_fcls", "n_endmembers=3"]) == 2
    assert "must be a folder" in capsys.readouterr().err and target.read_text() == "x"


def test_unmix_streams_through_the_tiling_runner_with_exact_reference_scores(tiny, tmp_path):
    """Abundance RMSE accumulated tile by tile equals the metric on whole arrays."""
    from hsi.io import open_scene, save_scene
    from hsi.metrics.unmix import unmixing_scores

    scene = open_scene(tiny["scene"])
    noisy_reference = np.random.default_rng(1).dirichlet(np.ones(3), size=scene.n_rows * scene.n_cols)
    reference = save_scene(scene.derived(n_bands=3, dtype=np.float32, wavelengths_nm=None, fwhm_nm=None,
                                         bad_bands=None, band_names=None)
                           .with_array(noisy_reference.reshape(scene.n_rows, scene.n_cols, 3).astype(np.float32)),
                           tmp_path / "ref.tif")
    report = run_job("unmix", [f"input={tiny['scene']}", "method=vca_fcls", "n_endmembers=3", "quicklook=false",
                               f"reference_abundances={reference}", f"output={tmp_path / 'u'}", "tiling.tile=24"])
    assert report["results"]["tiling"]["tiles"] == 3 * 3
    estimate = open_scene(tmp_path / "u" / "abundances.tif").read(physical=True).reshape(-1, 3)
    truth = open_scene(reference).read(physical=True).reshape(-1, 3)
    expected = unmixing_scores(abundances=estimate, ref_abundances=truth, match_by="abundances")
    got = report["results"]["reference_scores"]
    assert got["permutation"] == expected["permutation"]
    assert got["abundance_rmse"] == pytest.approx(expected["abundance_rmse"], rel=1e-5)


def test_unmix_report_and_console_name_the_restart_kept(tiny, tmp_path, capsys):
    report = run_job("unmix", [f"input={tiny['scene']}", "n_endmembers=3", "quicklook=false", "progress=false",
                               "method.extract.n_outer=10", f"output={tmp_path / 'u'}"])
    fit = report["results"]["fit"]
    objectives = [r["objective"] for r in fit["restarts"]]
    assert fit["kept"]["objective"] == min(objectives) and fit["kept"]["start"] == fit["restarts"][fit["kept"]["index"]]["start"]
    assert f"kept the {fit['kept']['start']}" in capsys.readouterr().out
    # a method with no restarts keeps no record
    report = run_job("unmix", [f"input={tiny['scene']}", "method=vca_fcls", "n_endmembers=3", "quicklook=false",
                               f"output={tmp_path / 'v'}"])
    assert report["results"]["fit"] is None


@pytest.mark.parametrize("job", ["restore", "unmix", "pansharpen", "info", "convert"])
def test_every_job_with_an_input_takes_reader_options_without_plus(job):
    from hsi.config import compose

    assert compose(job, ["read.key=cube", "read.layout='bands,pixels'"]).read.key == "cube"


def test_unmix_console_counts_every_restart_not_only_those_with_an_objective():
    """edaa_pp_ensemble: 4 seeded restarts have an archetypal objective, 16 random ones (unconverged by
    design) none; the console line must not say that 4 restarts ran."""
    from hsi.jobs.unmix import _kept_restart

    record = {"restarts": [{"start": f"seed {i}", "objective": 0.5 + i} for i in range(4)]
                          + [{"start": f"EDAA random start {i + 1}", "objective": None} for i in range(16)],
              "kept": {"index": 6, "start": "EDAA random start 3", "objective": None}}
    line = _kept_restart(record)
    assert line == ": kept the EDAA random start 3; 20 restarts (4 scored by objective), objectives 0.5-3.5"
    record["restarts"], record["kept"] = record["restarts"][:4], {"index": 0, "start": "seed 0", "objective": 0.5}
    assert _kept_restart(record) == ": kept the seed 0, objective 0.5; 4 restarts, objectives 0.5-3.5"
