"""The unmix job end to end on a small synthetic scene with known endmembers and abundances."""

import csv
import json

import numpy as np
import pytest

from hsi.cli import main
from hsi.jobs.run import run_job
from hsi.errors import InputError, ParameterError
from hsi.io import open_scene, save_scene
from hsi.sample_scene import make_sample_scene


@pytest.fixture(scope="module")
def scene_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unmix")
    sample = make_sample_scene(n_rows=40, n_cols=36, seed=1)
    cube = sample.cube.copy()
    cube[0, :5] = np.nan  # nodata pixels must stay nodata in the abundances
    scene = sample.to_scene().with_array(cube)
    paths = {"scene": save_scene(scene, folder / "scene.tif"), "sample": sample}
    paths["endmembers"] = folder / "endmembers.csv"
    with open(paths["endmembers"], "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", *sample.wavelengths_nm])
        for name, spectrum in zip(sample.material_names, sample.endmembers.T):
            writer.writerow([name, *spectrum])
    maps = scene.derived(n_bands=5, dtype=np.float32).with_array(sample.abundances.astype(np.float32))
    paths["abundances"] = save_scene(maps, folder / "abundances.tif")
    return paths


def test_unmix_job_writes_georeferenced_outputs_and_recovers_endmembers(tmp_path, scene_files):
    out = tmp_path / "run"
    assert main(["unmix", f"input={scene_files['scene']}", f"output={out}", "method=nfindr_fcls",
                 "n_endmembers=5", f"reference={scene_files['endmembers']}",
                 f"reference_abundances={scene_files['abundances']}", "block_bytes=40000"]) == 0
    source, maps = open_scene(scene_files["scene"]), open_scene(out / "abundances.tif")
    assert maps.shape == (40, 36, 5) and maps.dtype == np.float32
    assert maps.crs == source.crs and maps.transform.almost_equals(source.transform)
    assert maps.band_names == [f"endmember_{i}" for i in range(1, 6)]
    values = maps.read(physical=True)
    assert np.isnan(values[0, :5]).all() and np.isfinite(values[1:]).all()
    np.testing.assert_allclose(values[1:].sum(axis=-1), 1.0, atol=1e-5)
    with open(out / "endmembers.csv") as handle:
        rows = list(csv.reader(handle))
    kept = ~scene_files["sample"].bad_bands
    assert rows[0] == ["wavelength_nm"] + maps.band_names and len(rows) - 1 == kept.sum()
    report = json.loads((out / "abundances_report.json").read_text())
    scores = report["results"]["reference_scores"]
    assert scores["matched_by"] == "abundances"
    # Every land material within 2 deg; water (reflectance ~0.03, noise 0.004) within 20 deg.
    assert sorted(scores["sad_per_endmember_deg"])[3] < 2.0 and max(scores["sad_per_endmember_deg"]) < 20.0
    assert scores["abundance_rmse_x100"] < 5.0
    assert report["results"]["reconstruction_rmse"]["median"] < 0.01  # noise 0.004-0.008 per band
    assert report["results"]["preprocessing"]["removed_bad_bands"] == int((~kept).sum())
    assert report["method"]["name"] == "nfindr_fcls" and report["timings"]["total_s"] > 0
    for name in ("abundances_quicklook.png", "endmembers.png", "reconstruction_error.png"):
        assert (out / name).stat().st_size > 1000


def test_unmix_job_with_a_library_gives_the_true_abundances(tmp_path, scene_files):
    report = run_job("unmix", [f"input={scene_files['scene']}", f"output={tmp_path}", "method=library_fcls",
                               f"library={scene_files['endmembers']}", "quicklook=false",
                               f"reference_abundances={scene_files['abundances']}"])
    assert report["results"]["n_endmembers"] == 5
    assert open_scene(tmp_path / "abundances.tif").band_names == list(scene_files["sample"].material_names)
    assert report["results"]["reference_scores"]["abundance_rmse"] < 0.02
    assert report["results"]["reference_scores"]["permutation"] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        (["method=vca_fcls", "n_endmembers=500"], ParameterError, "n_endmembers=500"),
        (["method=sunsal"], ParameterError, "library"),
        (["method=vca_fcls", "n_endmembers=auto", "n_endmembers_method=pca"], ParameterError, "hysime"),
        (["method=library_fcls", "library=LIB_FAR"], InputError, "no wavelength overlap"),
    ],
    ids=["k-larger-than-bands", "sparse-without-library", "unknown-count-method", "library-no-overlap"],
)
def test_unmix_job_bad_input_is_explained(tmp_path, scene_files, overrides, error, message):
    far = tmp_path / "far.csv"
    far.write_text("name,3000,3500,4000\nthing,0.1,0.2,0.3\n")
    overrides = [o.replace("LIB_FAR", str(far)) for o in overrides]
    with pytest.raises(error, match=message):
        run_job("unmix", [f"input={scene_files['scene']}", f"output={tmp_path / 'out'}", "quicklook=false", *overrides])


def test_a_library_for_an_image_without_wavelengths_needs_one_value_per_band(tmp_path, scene_files):
    # Nothing to resample by: a library of another band count was passed on unchanged and
    # the abundance step failed with "endmembers have 3 bands but pixels have 93", naming no file.
    scene = open_scene(scene_files["scene"])
    bare = save_scene(scene.with_array(scene.read(), wavelengths_nm=None, fwhm_nm=None, band_names=None),
                      tmp_path / "bare.npy")
    assert open_scene(bare).wavelengths_nm is None
    far = tmp_path / "far.csv"
    far.write_text("name,3000,3500,4000\nthing,0.1,0.2,0.3\n")
    with pytest.raises(InputError, match=f"{far}: the image has no wavelengths.*one value per image band \\(106\\); it has 3"):
        run_job("unmix", [f"input={bare}", f"output={tmp_path / 'out'}", "quicklook=false", f"library={far}"])
    report = run_job("unmix", [f"input={bare}", f"output={tmp_path / 'same'}", "quicklook=false", "method=library_fcls",
                               f"library={scene_files['endmembers']}", f"reference_abundances={scene_files['abundances']}"])
    assert report["results"]["reference_scores"]["abundance_rmse"] < 0.02  # same band count: taken band by band


def test_unmix_job_rejects_an_all_nodata_scene(tmp_path):
    blank = make_sample_scene(n_rows=16, n_cols=16).to_scene()
    path = save_scene(blank.with_array(np.full(blank.shape, np.nan, np.float32)), tmp_path / "blank.tif")
    with pytest.raises(InputError, match="no valid pixel"):
        run_job("unmix", [f"input={path}", f"output={tmp_path / 'out'}", "method=vca_fcls", "n_endmembers=3"])


def test_abundances_of_a_scaled_integer_scene_are_plain_fractions(tmp_path):
    """The shipped sample is int16 with scale 1e-4: the abundance raster must not inherit it."""
    out = tmp_path / "u"
    assert main(["unmix", "method=vca_fcls", "n_endmembers=5", f"output={out}", "quicklook=false"]) == 0
    maps = open_scene(out / "abundances.tif")
    assert maps.scale == 1.0 and maps.offset == 0.0
    values = maps.read(physical=True)
    assert np.allclose(values.sum(axis=2), 1.0, atol=1e-3)


@pytest.mark.parametrize("sample_pixels, expected", [(20000, True), (200, False)])
def test_unmix_job_gives_spatial_methods_the_grid_of_a_scene_sampled_whole(tmp_path, sample_pixels, expected):
    scene = make_sample_scene(n_rows=24, n_cols=20, seed=2).to_scene()
    path = save_scene(scene, tmp_path / "clean.tif")
    out = tmp_path / "run"
    assert main(["unmix", f"input={path}", f"output={out}", "method=ssnmf", "n_endmembers=3",
                 f"sample_pixels={sample_pixels}"]) == 0
    report = json.loads((out / "abundances_report.json").read_text())
    assert report["results"]["preprocessing"]["spatial_grid"] is expected
    assert open_scene(out / "abundances.tif").shape == (24, 20, 3)


def test_endmembers_csv_without_wavelengths_labels_rows_by_scene_band(tmp_path):
    from hsi.jobs.unmix import write_endmembers_csv

    bands = np.array([0, 1, 5, 9])  # bands 2-4 and 6-8 were left out (empty)
    path = write_endmembers_csv(tmp_path / "e.csv", None, np.ones((4, 2)), ["a", "b"], bands)
    with open(path) as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["band", "a", "b"]
    assert [row[0] for row in rows[1:]] == ["0", "1", "5", "9"]


def test_the_automatic_count_is_nwhfc_checked_by_hysime(monkeypatch, capsys):
    """NWHFC by default (smallest worst-case error in bench_results/unmix_count_s7); HySime as a check whose
    wide disagreement is said on the console (on Samson HySime gave 67 where the reference has 3)."""
    import hsi.unmix.count
    from hsi.config import compose
    from hsi.jobs.unmix import count_endmembers

    cfg = compose("unmix")
    assert cfg.n_endmembers == "auto" and cfg.n_endmembers_method == "nwhfc"
    estimates = {"nwhfc": 7, "hysime": 40}
    monkeypatch.setattr(hsi.unmix.count, "estimate_n_endmembers",
                        lambda pixels, method, false_alarm, shift_differences: estimates[method])
    sample = np.zeros((100, 10))
    assert count_endmembers(cfg, sample, 10) == (7, "estimated by nwhfc (hysime: 40)")
    assert "warning: the endmember count estimates disagree (nwhfc 7, hysime 40)" in capsys.readouterr().out
    estimates["hysime"] = 8
    assert count_endmembers(cfg, sample, 10) == (7, "estimated by nwhfc (hysime: 8)")
    assert "disagree" not in capsys.readouterr().out


def test_mnf_counts_the_shipped_sample_s_five_materials_where_nwhfc_counts_three(capsys):
    """The default (nwhfc) learns 3 endmembers on the shipped sample, which mixes 5 materials
    (bench_results/unmix_count_s8, row sample_scene); mnf, with the noise from adjacent pixel pairs
    that the job samples from the scene, counts 5."""
    from hsi.config import compose
    from hsi.io import open_scene
    from hsi.jobs.unmix import count_endmembers, neighbour_differences
    from hsi.settings import SAMPLE_SCENE
    from hsi.tiling.sampling import sample_pixels

    scene = open_scene(SAMPLE_SCENE)
    bands = np.flatnonzero(~scene.bad_bands)
    sample = sample_pixels(scene, bands, 20000, np.random.default_rng(0), scene.n_rows)
    pairs_read = []

    def differences():
        pairs_read.append(True)
        return neighbour_differences(cfg, scene, bands)

    cfg = compose("unmix", ["n_endmembers_method=mnf"])
    assert count_endmembers(cfg, sample, bands.size, differences) == (5, "estimated by mnf (hysime: 5)")
    assert pairs_read == [True]
    cfg = compose("unmix")
    assert count_endmembers(cfg, sample, bands.size, differences) == (3, "estimated by nwhfc (hysime: 5)")
    assert pairs_read == [True]  # the scene is read again only for a spatial count
    assert "disagree" not in capsys.readouterr().out


def test_endmembers_csv_is_a_library_one_scene_s_endmembers_unmix_the_next(tmp_path):
    # The README's round trip: `unmix input=A output=R1`, then `unmix input=B library=R1/endmembers.csv`.
    # On the same scene, with an FCLS abundance step both times, the abundances agree.
    first, second = tmp_path / "r1", tmp_path / "r2"
    assert main(["unmix", "method=nfindr_fcls", "n_endmembers=4", f"output={first}", "quicklook=false",
                 "progress=false"]) == 0
    report = run_job("unmix", [f"library={first / 'endmembers.csv'}", "method=library_fcls", f"output={second}",
                               "quicklook=false", "progress=false", "method.abundances.n_iter=3000"])
    assert report["results"]["n_endmembers"] == 4
    maps = open_scene(second / "abundances.tif")
    assert maps.band_names == open_scene(first / "abundances.tif").band_names  # the members' names came along
    # SUnSAL's ADMM (library_fcls) against the exact active set: equal to its convergence.
    np.testing.assert_allclose(maps.read(), open_scene(first / "abundances.tif").read(), atol=2e-3)


def test_endmembers_csv_of_a_scene_without_wavelengths_is_read_by_its_scene_bands(tmp_path):
    from hsi.unmix.library import load_library, on_scene_bands

    scene = make_sample_scene(n_rows=20, n_cols=20, seed=3).to_scene()
    cube = scene.read().astype(np.float32)
    cube[..., 2] = np.nan  # an empty band: left out of the unmixing and of endmembers.csv
    bare = save_scene(scene.with_array(cube, wavelengths_nm=None, fwhm_nm=None, band_names=None), tmp_path / "bare.npy")
    first = tmp_path / "r1"
    run_job("unmix", [f"input={bare}", "method=nfindr_fcls", "n_endmembers=3", f"output={first}", "quicklook=false"])
    library = load_library(first / "endmembers.csv")
    assert library.wavelengths_nm is None and 2 not in library.scene_bands and library.spectra.shape[1] == 3
    report = run_job("unmix", [f"input={bare}", f"library={first / 'endmembers.csv'}", "method=library_fcls",
                               f"output={tmp_path / 'r2'}", "quicklook=false"])
    assert report["results"]["n_endmembers"] == 3
    with pytest.raises(InputError, match="holds scene bands 0-1, 3-47, .*; the image uses bands 2 too"):
        on_scene_bands(library, np.arange(6))


def test_a_library_on_the_image_s_own_band_centres_is_taken_as_it_is():
    from hsi.unmix.library import SpectralLibrary, resample_library

    wavelengths = np.linspace(400, 2500, 50)
    spectra = np.random.default_rng(0).uniform(0, 1, (50, 3))
    library = SpectralLibrary(spectra, wavelengths, ["a", "b", "c"])
    same = resample_library(library, wavelengths[5:40] + 1e-4, np.full(35, 40.0))  # 4-decimal CSV rounding
    np.testing.assert_array_equal(same.spectra, spectra[5:40])


def test_library_without_method_is_the_default_s_abundance_step_and_the_report_says_so(tmp_path, scene_files):
    report = run_job("unmix", [f"input={scene_files['scene']}", f"output={tmp_path / 'a'}", "quicklook=false",
                               f"library={scene_files['endmembers']}", f"reference_abundances={scene_files['abundances']}"])
    assert report["method"]["name"] == "library_scaled"
    assert report["results"]["library_method"].startswith("library_scaled (library= without method=")
    assert report["results"]["fit"]["abundances"]["abundance_model"] in ("fcls", "scaled")
    assert report["results"]["reference_scores"]["abundance_rmse"] < 0.02
    chosen = run_job("unmix", [f"input={scene_files['scene']}", f"output={tmp_path / 'b'}", "quicklook=false",
                               f"library={scene_files['endmembers']}", "method=library_fcls"])
    assert chosen["method"]["name"] == chosen["results"]["library_method"] == "library_fcls"
    with pytest.raises(ParameterError, match="library_method=library_fcls is used with library= only"):
        run_job("unmix", [f"output={tmp_path / 'c'}", "library_method=library_fcls"])


def test_a_run_folder_as_library_names_the_file_and_bands_in_the_library_s_gaps_are_said(tmp_path, scene_files, capsys):
    first = tmp_path / "r1"
    run_job("unmix", [f"input={scene_files['scene']}", "method=nfindr_fcls", "n_endmembers=3", f"output={first}",
                      "quicklook=false"])
    with pytest.raises(InputError, match=f"{first}: a folder, not a spectral library file; an unmix run's is "
                                         f"{first / 'endmembers.csv'}"):
        run_job("unmix", [f"input={scene_files['scene']}", f"library={first}", f"output={tmp_path / 'r2'}"])
    # The run left the scene's bad (water-vapour) bands out of endmembers.csv; a scene of the same
    # sensor with no bands flagged bad, unmixed on every band (bad_bands=none: auto would find
    # those bands noisy), gets interpolated values there, and is told so.
    scene = open_scene(scene_files["scene"])
    unflagged = save_scene(scene.with_array(scene.read(physical=True), bad_bands=None), tmp_path / "unflagged.npy")
    capsys.readouterr()
    run_job("unmix", [f"input={unflagged}", f"library={first / 'endmembers.csv'}", "method=library_fcls",
                      f"output={tmp_path / 'r3'}", "quicklook=false", "bad_bands=none"])
    n_bad = int(scene_files["sample"].bad_bands.sum())
    assert f"warning: {n_bad} image bands (" in capsys.readouterr().out


@pytest.mark.slow
def test_the_default_s_endmembers_csv_as_library_gives_the_default_s_abundances_again(tmp_path):
    # `unmix output=R1`, then `unmix library=R1/endmembers.csv output=R2` on the same scene: library_scaled
    # fits the same abundance step on the same sample, so the abundances agree to the CSV's 8 digits.
    first, second = tmp_path / "r1", tmp_path / "r2"
    assert main(["unmix", f"output={first}", "quicklook=false", "progress=false"]) == 0
    assert main(["unmix", f"library={first / 'endmembers.csv'}", f"output={second}", "quicklook=false",
                 "progress=false"]) == 0
    np.testing.assert_allclose(open_scene(second / "abundances.tif").read(), open_scene(first / "abundances.tif").read(),
                               atol=1e-5)
    models = [json.loads((folder / "abundances_report.json").read_text())["results"]["fit"]["abundances"]
              for folder in (first, second)]
    assert models[1]["abundance_model"] == models[0]["abundance_model"]
    assert models[1]["scale_median"] == pytest.approx(models[0]["scale_median"], rel=1e-6)


def test_the_report_says_whether_and_how_each_endmember_was_refined(tmp_path, scene_files, capsys):
    report = run_job("unmix", [f"input={scene_files['scene']}", f"output={tmp_path}", "method=edaa_pp_refined",
                               "n_endmembers=5", "quicklook=false", "method.extract.n_outer=10"])
    entries = report["results"]["fit"]["refinement"]
    names = open_scene(tmp_path / "abundances.tif").band_names
    assert [entry["endmember"] for entry in entries] == names
    for entry in entries:
        passed = entry["density_ratio"] >= 3.0 and entry["pure_pixels"] >= 20  # the cluster test
        assert entry["refined"] == (passed and "rejected_move_deg" not in entry)
        assert ("cluster_spread_deg" in entry) == passed
        assert (entry["moved_deg"] > 0) == entry["refined"] and (entry["near_pure_pixels"] > 0) == entry["refined"]
    printed = capsys.readouterr().out
    assert ("pure-pixel cluster" in printed) and all(
        (entry["endmember"] in printed.split("pure-pixel cluster")[1].split(";")[0]) == entry["refined"]
        for entry in entries)
