"""The pansharpen job: grid checks, output on the PAN grid with its georeferencing, report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from hsi.jobs.run import run_job
from hsi.degrade.mtf import degrade_resolution, mtf_blur
from hsi.degrade.resample import upsample
from hsi.errors import GridMismatchError, InputError
from hsi.io import open_scene, save_scene
from hsi.scene import Scene


CRS_UTM = CRS.from_epsg(32611)


def _pair(tmp_path, ms_transform, pan_transform, crs=CRS_UTM, side=64):
    tmp_path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    pan = 1.0 + 0.2 * rng.random((side, side))
    ms = np.stack([pan[2::4, 2::4] * k for k in (0.5, 0.8, 1.1)], axis=2)
    wavelengths = np.array([480.0, 560.0, 660.0])
    save_scene(Scene.from_array(ms.astype(np.float32), wavelengths_nm=wavelengths, crs=crs if ms_transform else None,
                                transform=ms_transform), tmp_path / "ms.tif")
    save_scene(Scene.from_array(pan.astype(np.float32), crs=crs if pan_transform else None, transform=pan_transform),
               tmp_path / "pan.tif")
    return tmp_path / "ms.tif", tmp_path / "pan.tif", wavelengths


def test_output_on_the_pan_grid_with_report(tmp_path):
    pan_transform = Affine(1.0, 0, 500000.0, 0, -1.0, 4100000.0)
    ms_path, pan_path, wavelengths = _pair(tmp_path, pan_transform @ Affine.scale(4), pan_transform)
    out = tmp_path / "fused.tif"
    report = run_job("pansharpen", [f"ms={ms_path}", f"pan={pan_path}", f"output={out}", "method=gsa", "quicklook=false",
                                    "tiling.tile=8", "tiling.overlap=2", "tiling.context=4"])
    fused = open_scene(out)
    assert fused.shape == (64, 64, 3)
    assert fused.transform.almost_equals(pan_transform) and fused.crs == CRS_UTM
    assert np.allclose(fused.wavelengths_nm, wavelengths)
    saved = json.loads((tmp_path / "fused_report.json").read_text())
    assert saved["results"]["ratio"] == 4 == report["results"]["ratio"]
    assert 0.0 < saved["results"]["full_resolution"]["qnr"] <= 1.0
    assert saved["results"]["tiling"]["tiles"] > 1


def test_shapes_decide_the_ratio_without_georeferencing(tmp_path):
    ms_path, pan_path, _ = _pair(tmp_path, None, None)
    report = run_job("pansharpen", [f"ms={ms_path}", f"pan={pan_path}", f"output={tmp_path / 'f.npy'}",
                                    "method=mtf_glp", "protocol=reduced"])
    assert report["results"]["ratio"] == 4 and np.load(tmp_path / "f.npy").shape == (64, 64, 3)
    assert (tmp_path / "f_quicklook.png").stat().st_size > 1000
    assert "q2n" in report["results"]["reduced_resolution"]


def test_reduced_protocol_leaves_a_band_of_zeros_out_and_names_it(tmp_path, capsys):
    """protocol=reduced on an MS with an all-zero band stopped after the fusion with an unnamed ERGAS
    error; the band is now left out of the indexes (as the default's choice leaves it out), named in
    the report and on the console, and the other bands are scored as they would be alone."""
    from hsi.pansharpen.protocol import reduced_resolution_indexes, reduced_resolution_pair
    from hsi.pansharpen.cs import gsa

    ms_path, pan_path, wavelengths = _pair(tmp_path, None, None)
    ms = open_scene(ms_path).read()
    ms[:, :, 1] = 0.0
    save_scene(Scene.from_array(ms, wavelengths_nm=wavelengths), ms_path, overwrite=True)
    report = run_job("pansharpen", [f"ms={ms_path}", f"pan={pan_path}", f"output={tmp_path / 'f.npy'}",
                                    "method=gsa", "protocol=reduced", "quicklook=false"])
    reduced = report["results"]["reduced_resolution"]
    assert reduced["bands_left_out"] == [1] and str(ms_path) in reduced["note"]
    assert "band(s) [1]" in capsys.readouterr().out
    pair = reduced_resolution_pair(ms.astype(np.float64), open_scene(pan_path).read()[:, :, 0].astype(np.float64), ratio=4)
    kept = [0, 2]
    alone = reduced_resolution_indexes(gsa(pair.ms, pair.pan, ratio=4)[:, :, kept], pair.reference[:, :, kept], 4)
    assert np.isclose(reduced["ergas"], alone["ergas"]) and np.isclose(reduced["q2n"], alone["q2n"])


def test_inputs_over_different_ground_are_refused(tmp_path):
    pan_transform = Affine(1.0, 0, 500000.0, 0, -1.0, 4100000.0)
    shifted = Affine(4.0, 0, 500010.0, 0, -4.0, 4100000.0)
    ms_path, pan_path, _ = _pair(tmp_path, shifted, pan_transform)
    # each refusal names both files (before: "MS and PAN upper-left corners differ ...", no file)
    with pytest.raises(GridMismatchError, match=r"^ms=.*ms\.tif and pan=.*pan\.tif: MS and PAN upper-left corners"):
        run_job("pansharpen", [f"ms={ms_path}", f"pan={pan_path}", f"output={tmp_path / 'f.tif'}", "quicklook=false"])
    non_integer = Affine(3.5, 0, 500000.0, 0, -3.5, 4100000.0)
    ms_path, pan_path, _ = _pair(tmp_path / "second", non_integer, pan_transform)
    with pytest.raises(InputError, match=r"^ms=.*ms\.tif and pan=.*pan\.tif: MS pixel size .* integer multiple"):
        run_job("pansharpen", [f"ms={ms_path}", f"pan={pan_path}", f"output={tmp_path / 'g.tif'}", "quicklook=false",
                               "overwrite=true"])


def test_tiled_fusion_matches_the_untiled_one(tmp_path):
    """Interpolation is local: tiles with enough context give exactly the untiled EXP result."""
    from hsi.pansharpen.baseline import expand
    from hsi.pansharpen.tile_adapter import pansharpen_scene

    pan_transform = Affine(1.0, 0, 500000.0, 0, -1.0, 4100000.0)
    rng = np.random.default_rng(1)
    pan = rng.random((88, 72)).astype(np.float32)
    ms = rng.random((22, 18, 3)).astype(np.float32)
    ms_scene = Scene.from_array(ms, wavelengths_nm=[480.0, 560.0, 660.0], crs=CRS_UTM, transform=pan_transform @ Affine.scale(4))
    pan_scene = Scene.from_array(pan, crs=CRS_UTM, transform=pan_transform)
    summary = pansharpen_scene(expand, ms_scene, pan_scene, tmp_path / "tiled.tif", ratio=4, tile=8, overlap=2, context=8)
    assert summary["tiles"] > 4
    fused = open_scene(tmp_path / "tiled.tif")
    assert fused.transform.almost_equals(pan_transform) and fused.crs == CRS_UTM
    assert np.allclose(fused.read(), expand(ms.astype(np.float64), pan), atol=1e-5)


def _textured_pair(rng, rows: int, cols: int, bands: int = 4):
    """A PAN with structure at every scale and an MS of its blurred, decimated bands (ratio 4)."""
    texture = sum(mtf_blur(rng.random((4 * rows, 4 * cols, 1)), 0.3, 2.0 ** k) * 0.5 ** k for k in range(1, 4))[:, :, 0]
    pan = 100.0 + 50.0 * texture
    truth = np.stack([pan * (0.6 + 0.2 * k) + 5.0 * k * mtf_blur(rng.random(pan.shape + (1,)), 0.3, 8.0)[:, :, 0]
                      for k in range(bands)], axis=2)
    return degrade_resolution(truth, 4, 0.3).astype(np.float32), pan.astype(np.float32)


def _tiled_and_one_tile(tmp_path, method, ms, pan, **tiling):
    from hsi.pansharpen.tile_adapter import pansharpen_scene

    ms_scene, pan_scene = Scene.from_array(ms), Scene.from_array(pan)
    one = pansharpen_scene(method, ms_scene, pan_scene, tmp_path / "one.npy", ratio=4, tile=max(ms.shape[:2]), overlap=0)
    tiled = pansharpen_scene(method, ms_scene, pan_scene, tmp_path / "tiled.npy", ratio=4, **tiling)
    assert tiled["tiles"] > 4
    return np.load(one["output"]), np.load(tiled["output"])


def local_detail_injection(ms, pan, *, ratio, sensor=None):
    """HPF with unit gains and no global statistic: interpolated MS + (PAN - its box low-pass), both
    filters reflecting at the image's border as the methods do."""
    import torch

    from hsi.pansharpen.mra import box_lowpass

    pan = torch.as_tensor(pan)
    return (upsample(torch.as_tensor(ms), ratio) + (pan - box_lowpass(pan, ratio))[:, :, None]).numpy()


def test_a_local_method_tiled_equals_one_tile_at_the_scene_edges_too(tmp_path):
    """A local fusion: with context beyond its support every fused pixel, the scene's border included,
    equals the one-tile fusion (border tiles read the PAN that is there; reflecting the folded pair
    mirrored whole PAN blocks, 2.1 off on a range of 92 at the border)."""
    ms, pan = _textured_pair(np.random.default_rng(3), 30, 26)
    one, tiled = _tiled_and_one_tile(tmp_path, local_detail_injection, ms.astype(np.float64), pan.astype(np.float64),
                                     tile=12, overlap=2, context=8)
    assert np.max(np.abs(tiled - one)) < 1e-4 * np.ptp(one)


def test_tiles_at_the_scene_edge_match_one_tile_as_well_as_inner_ones(tmp_path):
    """MTF-GLP (MTF filters, per-tile gains): tiled vs one-tile difference within 2 MS pixels of the
    scene's border no worse than inside (over seeds 0-5 the ratio runs 0.88-1.07, hence the 1.2 bound;
    border tiles reflecting the folded pair, whole PAN blocks mirrored, made it 5.2x here)."""
    from hsi.pansharpen.mra import mtf_glp

    ms, pan = _textured_pair(np.random.default_rng(4), 48, 48)
    one, tiled = _tiled_and_one_tile(tmp_path, mtf_glp, ms, pan, tile=20, overlap=4, context=6)
    difference = np.abs(tiled - one).mean(axis=2)
    border = np.ones(difference.shape, bool)
    border[8:-8, 8:-8] = False
    assert difference[border].mean() <= 1.2 * difference[~border].mean(), (difference[border].mean(), difference[~border].mean())


def test_hs_ms_fusion_through_the_job(tmp_path):
    """pan_band=all hands the whole high-resolution MS to the method (CNMF), tiled, on the MS grid."""
    rng = np.random.default_rng(2)
    abundances = mtf_blur(rng.random((64, 64, 3)), 0.5, 2.0)
    abundances /= abundances.sum(axis=2, keepdims=True)
    endmembers = rng.uniform(0.1, 1.0, (3, 12))
    truth = abundances @ endmembers
    hs = degrade_resolution(truth, 4, 0.3)
    msi = np.stack([truth[:, :, 3 * k : 3 * k + 3].mean(axis=2) for k in range(4)], axis=2)
    save_scene(Scene.from_array(hs.astype(np.float32), wavelengths_nm=np.linspace(400, 900, 12)), tmp_path / "hs.npy")
    save_scene(Scene.from_array(msi.astype(np.float32)), tmp_path / "msi.npy")
    report = run_job("pansharpen", [f"ms={tmp_path / 'hs.npy'}", f"pan={tmp_path / 'msi.npy'}", f"output={tmp_path / 'f.npy'}",
                                    "method=cnmf", "method.n_endmembers=3", "pan_band=all",
                                    "quicklook=false", "protocol=reduced"])
    fused = np.load(tmp_path / "f.npy")
    assert fused.shape == (64, 64, 12) and report["results"]["ratio"] == 4
    rmse = lambda x: np.sqrt(np.mean((x - truth) ** 2))  # noqa: E731
    assert rmse(fused) < 0.5 * rmse(upsample(hs, 4))


@pytest.mark.parametrize("method", ["gsa", "wald_select"])
def test_pan_band_all_with_a_one_band_method_is_refused_up_front(tmp_path, method):
    """pan_band=all with a method that takes a one-band PAN failed only once the tiles reached it; now
    one line naming the setting and the method, before any file is read or written."""
    from hsi import methods
    from hsi.errors import ParameterError

    rng = np.random.default_rng(5)
    save_scene(Scene.from_array(rng.random((40, 40, 6)).astype(np.float32)), tmp_path / "hs.npy")
    save_scene(Scene.from_array(rng.random((160, 160, 3)).astype(np.float32)), tmp_path / "msi.npy")
    with pytest.raises(ParameterError, match=f"^pan_band=all hands method={method} every band of pan=.*one-band PAN.*cnmf"):
        run_job("pansharpen", [f"ms={tmp_path / 'hs.npy'}", f"pan={tmp_path / 'msi.npy'}", f"output={tmp_path / 'f.npy'}",
                               f"method={method}", "pan_band=all", "quicklook=false"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hs.npy", "hs.npy.json", "msi.npy", "msi.npy.json"]
    assert "cnmf" in methods.multiband_names() and "gsa" not in methods.multiband_names()


def test_every_pansharpening_config_instantiates():
    from hsi import methods
    from hsi.bench.pansharpen import DEFAULT_METHODS, FUSION_METHODS

    ours = set(methods.names("pansharpen"))
    assert set(DEFAULT_METHODS) | set(FUSION_METHODS) <= ours
    for name in sorted(ours):
        assert callable(methods.load("pansharpen", name)), name
    assert methods.load("pansharpen", "best") is not None  # the alias of rho_pnn composes and builds


def test_job_without_inputs_runs_on_the_sample_pair(tmp_path):
    from hsi.cli import main

    out = tmp_path / "fused.tif"
    assert main(["pansharpen", f"output={out}", "method=gsa", "quicklook=false"]) == 0
    pan = open_scene(Path(__file__).resolve().parents[2] / "data" / "sample_pair_pan.tif")
    fused = open_scene(out)
    assert fused.shape[:2] == pan.shape[:2] and fused.n_bands == 106
    assert fused.transform.almost_equals(pan.transform)


def test_the_shipped_sample_pair_is_what_the_code_generates_and_fits_the_default(tmp_path):
    """data/sample_pair_*.tif are ensure_sample_pair's output (regenerated to float32 rounding: the generator's
    filters and resampling round differently on CPUs with other vector units, 1 ulp on a quarter of the values),
    and the MS is large enough for the default's per-scene choice (wald_select fuses it reduced by 4 once more)."""
    from hsi.jobs.common import SAMPLE_PAIR_MS_SIDE, ensure_sample_pair
    from hsi.pansharpen.select import protocol_too_small

    shipped = Path(__file__).resolve().parents[2] / "data"
    ms_path, pan_path = ensure_sample_pair(tmp_path)
    for name, path in (("sample_pair_ms.tif", ms_path), ("sample_pair_pan.tif", pan_path)):
        generated, kept = open_scene(path), open_scene(shipped / name)
        np.testing.assert_allclose(generated.read(), kept.read(), rtol=1e-5, atol=0)
        assert generated.transform.almost_equals(kept.transform) and generated.crs == kept.crs
    ms = open_scene(shipped / "sample_pair_ms.tif")
    assert ms.shape == (SAMPLE_PAIR_MS_SIDE, SAMPLE_PAIR_MS_SIDE, 106) == (40, 40, 106)
    assert open_scene(shipped / "sample_pair_pan.tif").shape == (160, 160, 1)
    assert protocol_too_small(ms.shape, 4) is None


@pytest.mark.slow
def test_the_default_makes_its_choice_on_the_sample_pair(tmp_path, capsys):
    """`python cli.py pansharpen` as a newcomer runs it: wald_select chooses on the pair, no fallback note."""
    from hsi.cli import main

    out = tmp_path / "fused.tif"
    assert main(["pansharpen", f"output={out}", "quicklook=false"]) == 0
    report = json.loads((tmp_path / "fused_report.json").read_text())
    choice = report["results"]["choice"]
    assert report["method"]["name"] == "wald_select" and choice["rule"] in ("select", "stack") and not choice.get("note")
    said = capsys.readouterr().out
    assert "no per-scene choice" not in said and ("chose " in said or "weighted combination" in said)
    assert open_scene(out).shape == (160, 160, 106)


def test_ms_and_pan_from_one_matlab_file_with_their_own_reader_options(tmp_path):
    """The toolbox pairs store I_MS (rows, cols, bands) and a 2-D I_PAN in one .mat file."""
    import scipy.io

    rng = np.random.default_rng(3)
    pan = rng.uniform(0.1, 0.9, (64, 60))
    ms = np.stack([degrade_resolution(pan[..., None] * w, 4, "generic")[..., 0] for w in (0.8, 1.0, 1.2)], axis=-1)
    path = tmp_path / "pair.mat"
    scipy.io.savemat(path, {"I_MS": ms.astype(np.float32), "I_PAN": pan.astype(np.float32)})
    output = tmp_path / "fused.tif"
    run_job("pansharpen", [f"ms={path}", f"pan={path}", "read.key=I_MS", "pan_read.key=I_PAN",
                           "pan_read.layout=\"rows,cols\"", f"output={output}", "quicklook=false", "method=gsa"])
    from hsi.io import open_scene

    fused = open_scene(output)
    assert fused.shape == (64, 60, 3)
    cube = fused.read(physical=True)  # every band is a multiple of the PAN: the fusion follows its detail
    for band in range(3):
        assert np.corrcoef(cube[..., band].ravel(), pan.ravel())[0, 1] > 0.9


def test_default_chooses_once_per_scene_and_reports_the_choice(tmp_path, capsys):
    """The default (wald_select) decides on the pair before fusing; every tile applies that decision."""
    from hsi import methods
    from hsi.pansharpen.select import combine

    ms_path, pan_path, _ = _pair(tmp_path, None, None, side=128)  # a 32 x 32 MS: the smallest Wald's protocol takes at ratio 4
    out = tmp_path / "fused.tif"
    report = run_job("pansharpen", [f"ms={ms_path}", f"pan={pan_path}", f"output={out}", "quicklook=false"])
    choice = report["results"]["choice"]
    assert report["method"]["name"] == "wald_select" and choice["rule"] in ("select", "stack")
    assert set(choice["reduced_scale_scores"]) == set(choice["weights"]) and choice["weights"][choice["selected"]] != 0.0
    assert report["timings"]["choose_s"] > 0.0
    said = capsys.readouterr().out  # the console line names the decision, not only the report
    assert (f"chose {choice['selected']} (select" in said) if choice["rule"] == "select" else ("weighted combination" in said)
    assert ("bounded by their per-pixel range" in said) == choice["bounded"]
    candidates = methods.load("pansharpen", "wald_select").candidates
    ms, pan = open_scene(ms_path).read().astype(np.float64), open_scene(pan_path).read()[:, :, 0].astype(np.float64)
    expected = combine(candidates, choice["weights"], ms, pan, ratio=4, sensor="generic", bounded=choice["bounded"])
    np.testing.assert_allclose(open_scene(out).read(), expected, rtol=1e-5, atol=1e-5)


def test_a_pair_the_default_cannot_choose_on_is_refused_naming_the_files(tmp_path):
    """An MS without signal (every band 0) leaves wald_select nothing to score: one line naming the inputs, no output."""
    import re

    ms_path, pan_path, wavelengths = _pair(tmp_path, None, None, side=128)
    save_scene(Scene.from_array(np.zeros((32, 32, 3), np.float32), wavelengths_nm=wavelengths), ms_path, overwrite=True)
    out = tmp_path / "fused.tif"
    with pytest.raises(InputError, match=re.escape(f"ms={ms_path}, pan={pan_path}: ") + ".*no band with signal"):
        run_job("pansharpen", [f"ms={ms_path}", f"pan={pan_path}", f"output={out}", "quicklook=false"])
    assert not out.exists()


def test_a_choice_window_too_small_for_the_protocol_names_the_window_not_the_ms(tmp_path, capsys):
    """assess_size=24 on a 32 x 32 MS: the default falls back to its first candidate; the note says the window
    it chose on was 24 x 24 and why, not that the MS is."""
    ms_path, pan_path, _ = _pair(tmp_path, None, None, side=128)
    report = run_job("pansharpen", [f"ms={ms_path}", f"pan={pan_path}", f"output={tmp_path / 'f.tif'}", "quicklook=false",
                                    "assess_size=24"])
    note = report["results"]["choice"]["note"]
    assert report["results"]["choice"]["rule"] == "too_small" and "the MS is" not in note
    assert "it chooses on is 24x24" in note and note.endswith("(the central 24x24 window of the 32x32 MS: assess_size=24)")
    assert note in capsys.readouterr().out


def test_reduced_protocol_scores_a_choice_not_fitted_to_its_reference(tmp_path):
    """protocol=reduced with wald_select: the choice scored is made one level down, on the degraded pair,
    as in the bench; the choice fitted on the pair itself used the very MS the score compares with."""
    from scipy.ndimage import gaussian_filter

    from hsi import methods
    from hsi.pansharpen.protocol import reduced_resolution_indexes, reduced_resolution_pair

    rng = np.random.default_rng(3)
    # a 128 x 128 MS: the choice one level down fuses 8 x 8 (MIN_REDUCED_MS_SIDE), not the fallback
    texture = gaussian_filter(rng.standard_normal((512, 512)), 2.0) + 0.5 * gaussian_filter(rng.standard_normal((512, 512)), 6.0)
    truth = np.stack([1.0 + 0.3 * k * texture + 0.1 * gaussian_filter(rng.standard_normal((512, 512)), 4.0)
                      for k in (0.6, 1.0, 1.3, 0.8)], axis=2)
    pan = truth.mean(axis=2)
    ms = degrade_resolution(truth, 4, "generic")
    save_scene(Scene.from_array(ms.astype(np.float32), wavelengths_nm=np.array([480.0, 560.0, 660.0, 830.0])), tmp_path / "ms.tif")
    save_scene(Scene.from_array(pan.astype(np.float32)), tmp_path / "pan.tif")
    report = run_job("pansharpen", [f"ms={tmp_path / 'ms.tif'}", f"pan={tmp_path / 'pan.tif'}", f"output={tmp_path / 'f.tif'}",
                                    "quicklook=false", "protocol=reduced"])
    ms_read = open_scene(tmp_path / "ms.tif").read().astype(np.float64)
    pan_read = open_scene(tmp_path / "pan.tif").read()[:, :, 0].astype(np.float64)
    pair = reduced_resolution_pair(ms_read, pan_read, sensor="generic", ratio=4)
    fresh = methods.load("pansharpen", "wald_select")
    choice = fresh.fit(pair.ms, pair.pan, ratio=4, sensor="generic")  # the choice one level down, as in the bench
    assert choice["rule"] in ("select", "stack")
    expected = reduced_resolution_indexes(fresh(pair.ms, pair.pan, ratio=4, sensor="generic"), pair.reference, 4)
    assert report["results"]["reduced_resolution"]["q2n"] == pytest.approx(expected["q2n"], rel=1e-6)
    assert report["results"]["reduced_resolution"]["ergas"] == pytest.approx(expected["ergas"], rel=1e-6)
    assert report["results"]["reduced_resolution_choice"]["weights"] == pytest.approx(choice["weights"])


def test_nodata_in_every_assessable_window_is_refused_naming_the_files(tmp_path):
    """A 16 x 16 MS assessed whole (assess_size 256) with one NaN: no complete window of that size exists."""
    ms_path, pan_path, wavelengths = _pair(tmp_path, None, None)
    ms = open_scene(ms_path).read().astype(np.float32)
    ms[3, 4, 1] = np.nan
    save_scene(Scene.from_array(ms, wavelengths_nm=wavelengths), tmp_path / "ms_nan.tif")
    out = tmp_path / "out.tif"
    with pytest.raises(InputError, match=r"^ms=.*ms_nan\.tif, pan=.*pan\.tif: no 16x16 MS-pixel window without nodata"):
        run_job("pansharpen", [f"ms={tmp_path / 'ms_nan.tif'}", f"pan={pan_path}", f"output={out}",
                               "method=gsa", "quicklook=false"])
    assert not out.exists()


def test_nodata_in_the_central_window_moves_the_assessment_to_the_nearest_complete_one(tmp_path, capsys):
    """A masked patch in the middle of a 96 x 96 MS (assess_size=32): the job assesses and chooses on the
    complete 32 x 32 window nearest the centre, says so, and fuses the patch as nodata."""
    ms_path, pan_path, wavelengths = _pair(tmp_path, None, None, side=384)
    ms = open_scene(ms_path).read().astype(np.float32)
    ms[46:50, 46:50, :] = np.nan  # the centre of the MS
    save_scene(Scene.from_array(ms, wavelengths_nm=wavelengths), tmp_path / "ms_hole.tif")
    out = tmp_path / "out.tif"
    report = run_job("pansharpen", [f"ms={tmp_path / 'ms_hole.tif'}", f"pan={pan_path}", f"output={out}",
                                    "assess_size=32", "quicklook=false"])
    top, left, rows, cols = report["results"]["assessed_window_ms_pixels"]
    assert (rows, cols) == (32, 32) and np.isfinite(ms[top:top + rows, left:left + cols]).all()
    # the hole covers rows and columns 46-49: the nearest complete windows stay centred one way (32)
    # and end just before the hole or start just after it the other (14 or 50), 18 pixels off the centre
    assert sorted([top, left]) in ([14, 32], [32, 50])
    assert "holds nodata: assessed on the complete window" in report["results"]["assessed_window_note"]
    assert "note: the central 32x32 MS-pixel window holds nodata" in capsys.readouterr().out
    assert report["results"]["choice"]["rule"] in ("select", "stack")  # the default chose on that window
    fused = open_scene(out).read()
    assert np.isnan(fused[184:200, 184:200]).all() and np.isfinite(fused[:150]).all()


def test_a_pair_too_small_for_the_assessment_is_refused_before_any_output(tmp_path):
    """A 4 x 4 MS: QNR's blocks (8 MS pixels a side) do not fit; the job used to fuse, write the
    output, then fail on 'block_size=32' (a setting the user never gave), leaving a file without report."""
    ms_path, pan_path, _ = _pair(tmp_path, None, None, side=16)
    out = tmp_path / "fused.tif"
    with pytest.raises(InputError, match=r"^ms=.*ms\.tif: 4x4 pixels; the full-resolution assessment"):
        run_job("pansharpen", [f"ms={ms_path}", f"pan={pan_path}", f"output={out}", "method=gsa", "quicklook=false"])
    assert not out.exists()


@pytest.mark.parametrize("georeferenced", [True, False])
def test_an_ms_given_as_its_own_pan_is_one_line_naming_both_files(tmp_path, georeferenced):
    """ms= and pan= on the same grid (e.g. the same file twice): was 'ratio must be ... > 1; got 1', naming no file."""
    transform = Affine(4.0, 0, 500000.0, 0, -4.0, 4100000.0) if georeferenced else None
    ms_path, _, _ = _pair(tmp_path, transform, transform)
    with pytest.raises(GridMismatchError, match=r"^ms=.*ms\.tif and pan=.*ms\.tif have the same .*finer grid than the MS"):
        run_job("pansharpen", [f"ms={ms_path}", f"pan={ms_path}", f"output={tmp_path / 'out.tif'}", "quicklook=false"])
    assert not (tmp_path / "out.tif").exists()
