"""What a user brings to ``unmix``: a scene without a bad-band list, a library in other units, the USGS .mat.

Before (new-user review, session 9): the AVIRIS-NG radiance was unmixed with its noisy water-vapour
bands; a library in reflectance x 1e4 was accepted silently (FCLS garbage, the scaled step's prior
6.8e-5); ``library=usgs_splib04_aviris.mat`` was read without its wavelengths or names.
"""

import csv
import json

import numpy as np
import pytest
from scipy.io import savemat

from hsi.cli import main
from hsi.errors import FormatError, InputError, ParameterError
from hsi.io import open_scene, save_scene
from hsi.jobs.run import run_job
from hsi.sample_scene import make_sample_scene
from hsi.unmix.library import complete_members, load_library

SENTINEL = -1.23e34  # USGS splib04's missing value


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unmix_inputs")
    sample = make_sample_scene(n_rows=30, n_cols=30, seed=1)
    flagged = sample.to_scene()
    paths = {"sample": sample, "folder": folder,
             "flagged": save_scene(flagged, folder / "flagged.tif"),
             "unflagged": save_scene(flagged.with_array(sample.cube, bad_bands=None), folder / "unflagged.tif")}
    for name, factor in (("library", 1.0), ("library_x1e4", 1e4), ("library_percent", 100.0)):
        paths[name] = folder / f"{name}.csv"
        with open(paths[name], "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["name", *sample.wavelengths_nm])
            for material, spectrum in zip(sample.material_names, sample.endmembers.T):
                writer.writerow([material, *(spectrum * factor)])
    return paths


def _report(folder):
    return json.loads((folder / "abundances_report.json").read_text())["results"]


def _abundances(folder):
    return open_scene(folder / "abundances.tif").read(physical=True)


# --- 3. absorption bands on a scene without a bad-band list -------------------------------------

def test_a_scene_without_a_bad_band_list_loses_its_noisy_water_vapour_bands(files, tmp_path, capsys):
    sample = files["sample"]
    out = tmp_path / "auto"
    run_job("unmix", [f"input={files['unflagged']}", "method=nfindr_fcls", "n_endmembers=5", f"output={out}",
                      "quicklook=false", "progress=false"])
    line = next(l for l in capsys.readouterr().out.splitlines() if "no bad-band list" in l)
    assert "left out 13 bands in the atmospheric absorption windows" in line and "1360-1440, 1800-1940 nm" in line
    record = _report(out)["preprocessing"]
    assert record["bad_bands"]["mode"] == "auto" and record["bad_bands"]["header"] is None
    assert record["bad_bands"]["absorption"] == np.flatnonzero(sample.bad_bands).tolist()
    np.testing.assert_allclose(record["bad_bands"]["absorption_nm"], sample.wavelengths_nm[sample.bad_bands])
    assert "15 dB below the median of the bands outside them" in record["bad_bands"]["why"]
    with open(out / "endmembers.csv") as handle:  # endmembers on the bands used, as with a header's list
        wavelengths = [float(row[0]) for row in list(csv.reader(handle))[1:]]
    np.testing.assert_allclose(wavelengths, sample.wavelengths_nm[~sample.bad_bands], atol=1e-3)
    # the same as the scene whose header lists them
    flagged = tmp_path / "flagged"
    run_job("unmix", [f"input={files['flagged']}", "method=nfindr_fcls", "n_endmembers=5", f"output={flagged}",
                      "quicklook=false", "progress=false"])
    assert _report(flagged)["preprocessing"]["bad_bands"]["absorption"] == []
    np.testing.assert_allclose(_abundances(out), _abundances(flagged), atol=1e-5)


@pytest.mark.parametrize("mode", ["none", "header"])
def test_bad_bands_none_or_header_keeps_every_band_of_a_scene_without_a_list(files, tmp_path, mode):
    out = tmp_path / mode
    run_job("unmix", [f"input={files['unflagged']}", "method=nfindr_fcls", "n_endmembers=5", f"output={out}",
                      "quicklook=false", "progress=false", f"bad_bands={mode}"])
    record = _report(out)["preprocessing"]
    assert record["removed_bad_bands"] == 0 and record["bad_bands"]["absorption"] == []


def test_bad_bands_none_ignores_a_header_list_and_a_wrong_mode_is_one_line(files, tmp_path, capsys):
    out = tmp_path / "none"
    run_job("unmix", [f"input={files['flagged']}", "method=nfindr_fcls", "n_endmembers=5", f"output={out}",
                      "quicklook=false", "progress=false", "bad_bands=none"])
    assert _report(out)["preprocessing"]["removed_bad_bands"] == 0
    assert main(["unmix", f"input={files['flagged']}", f"output={tmp_path / 'x'}", "bad_bands=noisy"]) == 2
    assert "bad_bands must be one of auto, header, none; got 'noisy'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_the_real_aviris_ng_radiance_loses_its_water_vapour_bands(shared_data):
    from hsi.jobs.unmix_inputs import usable_bands
    from hsi.nodata import empty_bands

    scene = open_scene(shared_data / "aviris_ng" / "ang20160910t185702_2rdn_img.hdr")
    assert scene.bad_bands is None
    empty = empty_bands(scene, np.random.default_rng(0))
    auto, record = usable_bands(scene, "auto", empty)
    left_out = scene.wavelengths_nm[record["absorption"]]
    wavelengths = scene.wavelengths_nm
    for low, high in ((1819, 1875), (1353, 1419)):  # the deep 1.87 um and 1.38 um water-vapour bands, all
        deep = np.flatnonzero((wavelengths >= low) & (wavelengths <= high))
        assert deep.size >= 11 and set(deep.tolist()) <= set(record["absorption"]), (low, high)
    assert left_out.min() > 1340 and not ((left_out > 1470) & (left_out < 1770)).any()  # windows only
    assert usable_bands(scene, "header", empty)[0].size == scene.n_bands == auto.size + len(left_out)


# --- 1. a library in other units than the scene ----------------------------------------------------

@pytest.mark.parametrize("name, factor", [("library_x1e4", "0.0001"), ("library_percent", "0.01")])
def test_a_library_in_other_units_is_refused_naming_the_factor_and_the_factor_unmixes_it(
        files, tmp_path, capsys, name, factor):
    out = tmp_path / name
    assert main(["unmix", f"input={files['flagged']}", f"library={files[name]}", "method=library_fcls",
                 f"output={out}", "progress=false"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: {files[name]}: other units than") and f"library_scale={factor} " in error
    assert len(error.splitlines()) == 1 and not out.exists()
    run_job("unmix", [f"input={files['flagged']}", f"library={files[name]}", "method=library_fcls",
                      f"output={out}", "quicklook=false", "progress=false", f"library_scale={factor}"])
    reference = tmp_path / "reference"
    run_job("unmix", [f"input={files['flagged']}", f"library={files['library']}", "method=library_fcls",
                      f"output={reference}", "quicklook=false", "progress=false"])
    np.testing.assert_allclose(_abundances(out), _abundances(reference), atol=1e-5)
    sample = files["sample"]
    assert np.sqrt(np.mean((_abundances(out) - sample.abundances) ** 2)) < 0.05  # the true abundances
    assert _report(out)["library_units"]["factor"] == float(factor)
    assert _report(reference)["library_units"]["other_units"] is False


def test_a_dark_scene_against_a_bright_library_is_brightness_not_units(files, tmp_path, capsys):
    # the shipped EnMAP tile (deep water, 0.005) is 0.0096 x USGS's typical member: both in 0-1
    # reflectance, so a warning, not a refusal and not a factor
    sample = files["sample"]
    dark = save_scene(open_scene(files["flagged"]).with_array(sample.cube * 0.02), tmp_path / "dark.tif")
    out = tmp_path / "dark"
    run_job("unmix", [f"input={dark}", f"library={files['library']}", "method=library_fcls", f"output={out}",
                      "quicklook=false", "progress=false"])
    assert "taken as brightness (a dark scene?), not units" in capsys.readouterr().out
    units = _report(out)["library_units"]
    assert units["factor"] == 1.0 and units["other_units"] is False and units["brightness_ratio"] < 1 / 30


def test_a_radiance_scene_with_a_library_is_warned_about(files, tmp_path, capsys):
    import dataclasses

    scene = open_scene(files["flagged"])
    radiance = save_scene(dataclasses.replace(scene.with_array(files["sample"].cube * 10),
                                              units="radiance (uW nm-1 cm-2 sr-1)"), tmp_path / "radiance.tif")
    out = tmp_path / "radiance"
    run_job("unmix", [f"input={radiance}", f"library={files['library']}", "method=library_fcls", f"output={out}",
                      "quicklook=false", "progress=false"])
    assert "cannot unmix radiance without atmospheric correction" in capsys.readouterr().out
    assert _report(out)["library_units"]["source"].startswith("auto: radiance scene")


def test_library_scale_without_a_library_or_not_a_number_is_one_line(files, tmp_path):
    with pytest.raises(ParameterError, match="library_scale=0.01 is used with library= only"):
        run_job("unmix", [f"input={files['flagged']}", f"output={tmp_path / 'a'}", "library_scale=0.01"])
    with pytest.raises(ParameterError, match="library_scale must be auto or a positive number; got 'x'"):
        run_job("unmix", [f"input={files['flagged']}", f"library={files['library']}", f"output={tmp_path / 'b'}",
                          "library_scale=x"])


# --- 2. the USGS .mat layout -----------------------------------------------------------------------

def _char_rows(names, width=29):
    return np.array([[ord(c) for c in name.ljust(width)[:width]] for name in names], np.uint8)


def _usgs_like(path, sample, extra=()):
    """``datalib`` as USGS ships it: wavelength (um), resolution, channel, spectra; ``names`` one row per column."""
    wavelengths_um = np.concatenate([[0.38], sample.wavelengths_nm / 1000.0, [2.52, 2.54]])
    spectra = [np.interp(wavelengths_um, sample.wavelengths_nm / 1000.0, column) for column in sample.endmembers.T]
    names = [*sample.material_names]
    for name, spectrum in extra:
        spectra.append(spectrum)
        names.append(name)
    table = np.column_stack([wavelengths_um, np.full(wavelengths_um.size, 0.01), np.arange(1, wavelengths_um.size + 1),
                             *spectra])
    header = ["Wavelengths in microns 224c", "Resolution  in microns 224c", "Data value = channel number"]
    savemat(path, {"datalib": table, "names": _char_rows(header + names)})
    return wavelengths_um


def test_the_usgs_mat_layout_is_read_with_wavelengths_names_and_missing_values(files, tmp_path):
    sample = files["sample"]
    bright = np.full(sample.wavelengths_nm.size + 3, 0.5)
    broken, edge = bright.copy(), bright.copy()
    broken[40] = SENTINEL  # inside the scene's range: this member cannot be used
    edge[-1] = SENTINEL  # at 2540 nm, beyond the scene's 400-2500 nm and the library sample above it
    path = tmp_path / "usgs_like.mat"
    wavelengths_um = _usgs_like(path, sample, [("Broken XY123", broken), ("Edge ZZ9", edge)])
    library = load_library(path)
    np.testing.assert_allclose(library.wavelengths_nm, wavelengths_um * 1000.0)
    assert library.names == [*sample.material_names, "Broken XY123", "Edge ZZ9"]
    assert np.isnan(library.spectra[40, 5]) and np.isnan(library.spectra[-1, 6]) and np.isfinite(library.spectra[:, :5]).all()
    kept, dropped = complete_members(library, sample.wavelengths_nm)
    assert dropped == ["Broken XY123"] and kept.names[-1] == "Edge ZZ9"


def test_unmix_onto_a_usgs_layout_mat_drops_a_member_with_missing_values_and_recovers_the_abundances(
        files, tmp_path, capsys):
    sample = files["sample"]
    broken = np.full(sample.wavelengths_nm.size + 3, 0.4)
    broken[30] = SENTINEL
    path = tmp_path / "usgs_like.mat"
    _usgs_like(path, sample, [("Broken XY123", broken)])
    out = tmp_path / "usgs"
    run_job("unmix", [f"input={files['flagged']}", f"library={path}", "method=library_fcls", f"output={out}",
                      "quicklook=false", "progress=false"])
    assert f"warning: {path}: left out 1 members with missing values on the image's bands: Broken XY123" \
        in capsys.readouterr().out
    assert open_scene(out / "abundances.tif").band_names == list(sample.material_names)
    assert np.sqrt(np.mean((_abundances(out) - sample.abundances) ** 2)) < 0.05


def test_a_generic_mat_library_follows_the_documented_rule(tmp_path):
    spectra = np.random.default_rng(0).uniform(0.1, 0.6, (4, 20))  # (members, bands), as some toolboxes save it
    path = tmp_path / "lib.mat"
    savemat(path, {"A": spectra, "wavelengths": np.linspace(0.4, 2.4, 20), "names": np.array(["a", "b", "c", "d"])})
    library = load_library(path)
    np.testing.assert_array_equal(library.spectra, spectra.T)
    np.testing.assert_allclose(library.wavelengths_nm, np.linspace(400, 2400, 20))
    assert library.names == ["a", "b", "c", "d"]
    savemat(path, {"A": spectra, "wavelengths": np.linspace(400, 2400, 7)})
    with pytest.raises(FormatError, match=r"lib.mat: 7 wavelengths for a 'A' of shape \(4, 20\)"):
        load_library(path)
    savemat(path, {"datalib": np.ones((5, 3))})
    with pytest.raises(FormatError, match=r"lib.mat: 'datalib' must be a numeric \(bands, 3 \+ members\) table"):
        load_library(path)
    savemat(path, {"label": "text only"})
    with pytest.raises(FormatError, match="lib.mat: no numeric 2-D array to use as a library"):
        load_library(path)


def test_the_real_usgs_library_is_read_as_the_bench_reads_it(shared_data):
    from hsi.bench.unmix_cases import usgs_library

    library = load_library(shared_data / "usgs_library" / "usgs_splib04_aviris.mat")
    assert library.spectra.shape == (224, 498) and library.names[0] == "Acmite NMNH133746"
    assert library.wavelengths_nm[0] == pytest.approx(383.15, abs=0.01)
    assert library.wavelengths_nm[-1] == pytest.approx(2508.2, abs=0.01)
    bench = usgs_library(shared_data)
    np.testing.assert_array_equal(bench.spectra, library.spectra)
    assert bench.names == library.names


def test_unmix_of_the_real_emit_crop_onto_the_usgs_library(shared_data, tmp_path, capsys):
    usgs = shared_data / "usgs_library" / "usgs_splib04_aviris.mat"
    out = tmp_path / "emit_usgs"
    run_job("unmix", [f"input={shared_data / 'emit' / 'emit20250324t221005_jpl_unmix_ex.hdr'}", f"library={usgs}",
                      "method=library_fcls", f"output={out}", "quicklook=false", "progress=false"])
    assert f"1 image bands (381 nm) lie beyond {usgs}'s 383-2508 nm: left out" in capsys.readouterr().out
    results = _report(out)
    assert results["n_endmembers"] == 498 and results["preprocessing"]["beyond_library_bands"] == [0]
    assert results["reconstruction_rmse"]["mean"] < 0.01  # reflectance 0.14-0.27
