"""Jobs on products: GLT orthorectification in convert/restore/unmix, nodata kept as nodata."""

from __future__ import annotations

import json
import warnings

import h5py
import numpy as np
import pytest
import rasterio

from hsi.cli import main

EMIT_OBS = "satellite/emit/EMIT_L1B_OBS_001_20220827T060753_9999999_999.nc"
EMIT_MASK = "satellite/emit/EMIT_L2A_MASK_001_20220827T060753_9999999_999.nc"
EMIT_RFL = "satellite/emit/EMIT_L2A_RFL_001_20241006T165148_2428011_003_crop.nc"
ENMAP_TILE = "satellite/enmap_l2a_hyspecnet"


def test_convert_emit_obs_writes_the_glt_orthorectified_cube(satellite, tmp_path):
    out = tmp_path / "obs_ortho.tif"
    assert main(["convert", f"input={satellite / EMIT_OBS}", f"output={out}", "progress=false"]) == 0
    with h5py.File(satellite / EMIT_OBS) as f:
        glt_x, glt_y, obs = f["location/glt_x"][:], f["location/glt_y"][:], f["obs"][:]
        geotransform = tuple(f.attrs["geotransform"])
    expected = np.full(glt_x.shape + (obs.shape[2],), -9999.0, np.float32)
    hit = (glt_x != 0) & (glt_y != 0)
    expected[hit] = obs[glt_y[hit] - 1, glt_x[hit] - 1]
    with rasterio.open(out) as ds:
        assert ds.crs.to_epsg() == 4326 and ds.nodata == -9999.0
        assert ds.transform.to_gdal() == pytest.approx(geotransform)
        np.testing.assert_array_equal(np.moveaxis(ds.read(), 0, -1), expected)


def test_convert_ortho_false_keeps_the_swath(satellite, tmp_path):
    out = tmp_path / "obs_swath.tif"
    assert main(["convert", f"input={satellite / EMIT_OBS}", f"output={out}", "ortho=false", "progress=false"]) == 0
    with rasterio.open(out) as ds:
        assert (ds.height, ds.width, ds.count) == (200, 200, 11) and ds.crs is None


@pytest.fixture
def emit_with_fill_lines(tmp_path, write_emit_rfl, rotated_glt):
    """A 24 x 20 x 12 EMIT RFL granule: smooth noisy spectra, two fill lines, two bad bands, a 20 deg GLT."""
    rng = np.random.default_rng(1)
    rows, cols, bands = 24, 20, 12
    yy, xx = np.mgrid[0:rows, 0:cols] / 10.0
    weights = np.stack([0.5 + 0.4 * np.sin(yy), 0.5 + 0.4 * np.cos(xx)], -1)
    spectra = np.stack([np.linspace(0.1, 0.5, bands), np.linspace(0.4, 0.2, bands)])
    cube = (weights @ spectra + rng.normal(0, 0.01, (rows, cols, bands))).astype(np.float32)
    cube[[6, 15]] = -9999.0
    good = np.ones(bands)
    good[[4, 9]] = 0
    glt_x, glt_y = rotated_glt(rows, cols, 20.0)
    return write_emit_rfl(tmp_path, cube, glt_x, glt_y, good=good), cube, glt_x, glt_y


def test_restore_emit_processes_the_swath_and_writes_the_ortho_grid(emit_with_fill_lines, tmp_path):
    path, cube, glt_x, glt_y = emit_with_fill_lines
    out = tmp_path / "restored.tif"
    assert main(["restore", f"input={path}", f"output={out}", "progress=false", "quicklook=false"]) == 0
    with rasterio.open(tmp_path / "restored_swath.tif") as ds:
        swath = np.moveaxis(ds.read(), 0, -1)
    assert (swath[[6, 15]] == -9999.0).all()  # fill lines are nodata, not "restored"
    valid = np.ones(cube.shape[0], bool)
    valid[[6, 15]] = False
    assert (np.abs(swath[valid] + 9999.0) > 1).all() and np.abs(swath[valid]).max() < 1.5
    with rasterio.open(out) as ds:
        ortho = np.moveaxis(ds.read(), 0, -1)
        assert ds.crs.to_epsg() == 4326 and ds.nodata == -9999.0
    hit = glt_x > 0
    np.testing.assert_array_equal(ortho[hit], swath[glt_y[hit] - 1, glt_x[hit] - 1])
    assert (ortho[~hit] == -9999.0).all()


def test_unmix_emit_writes_real_wavelengths_and_ortho_abundances(emit_with_fill_lines, tmp_path):
    path, cube, glt_x, glt_y = emit_with_fill_lines
    folder = tmp_path / "unmix"
    assert main(["unmix", f"input={path}", f"output={folder}", "quicklook=false"]) == 0  # defaults
    header = (folder / "endmembers.csv").read_text().splitlines()
    wavelengths = [float(line.split(",")[0]) for line in header[1:]]
    kept = np.delete(np.linspace(381.0, 2493.0, 12), [4, 9])  # the bad bands are left out
    np.testing.assert_allclose(wavelengths, kept, atol=1e-3)
    with rasterio.open(folder / "abundances_swath.tif") as ds:
        swath = np.moveaxis(ds.read(), 0, -1)
    assert np.isnan(swath[[6, 15]]).all() and np.isfinite(np.delete(swath, [6, 15], axis=0)).all()
    with rasterio.open(folder / "abundances.tif") as ds:
        assert ds.crs.to_epsg() == 4326 and ds.shape == glt_x.shape


def _read_tif(path):
    with rasterio.open(path) as ds:
        return np.moveaxis(ds.read(), 0, -1), ds.crs, ds.nodata


@pytest.mark.slow
def test_restore_and_unmix_on_the_real_enmap_tile_keep_empty_bands_as_nodata(satellite, tmp_path):
    tile = satellite / ENMAP_TILE
    source, crs, nodata = _read_tif(next(tile.glob("*-SPECTRAL_IMAGE.TIF")))
    out = tmp_path / "enmap_restored.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the tile has no METADATA.XML
        assert main(["restore", f"input={tile}", f"output={out}", "progress=false", "quicklook=false"]) == 0
        # n_endmembers is given: auto (HySime) finds 18 on this tile, and edaa_pp's fit at k = 18 still
        # takes about 6 minutes on the shared 2-core machine (373 s, 2026-12-04, after the LU + warm-start FCLS)
        assert main(["unmix", f"input={tile}", f"output={tmp_path / 'unmix'}", "n_endmembers=3", "quicklook=false"]) == 0
    restored, out_crs, out_nodata = _read_tif(out)
    empty_in = (source == nodata).all(axis=(0, 1))
    assert empty_in.sum() == 22 and out_crs == crs and out_nodata == nodata
    np.testing.assert_array_equal(restored == nodata, source == nodata)  # nodata exactly where it was
    valid = restored[restored != nodata]
    assert np.abs(valid).max() < 1.2  # reflectance (nominal scale 1e-4), no fill value inside valid data
    rows = (tmp_path / "unmix" / "endmembers.csv").read_text().splitlines()[1:]
    wavelengths = np.array([float(row.split(",")[0]) for row in rows])
    assert wavelengths.size == 202 and wavelengths[0] == pytest.approx(418.416)  # the nominal centres, not indices
    report = json.loads((tmp_path / "enmap_restored_report.json").read_text())
    assert report["results"]["empty_bands_written_as_nodata"] == np.flatnonzero(empty_in).tolist()
    noise = np.array(report["results"]["estimated_noise_std_per_band"], dtype=float)  # null -> nan on the empty bands
    assert noise.size == 224 and np.isnan(noise[empty_in]).all() and (noise[~empty_in] > 0).all()
    abundances, ab_crs, _ = _read_tif(tmp_path / "unmix" / "abundances.tif")
    assert ab_crs == crs and np.isfinite(abundances).all()
    unmix_report = json.loads((tmp_path / "unmix" / "abundances_report.json").read_text())
    assert unmix_report["results"]["preprocessing"]["removed_empty_bands"] == np.flatnonzero(empty_in).tolist()


def test_restore_and_unmix_on_the_real_emit_rfl_crop(satellite, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the crop lost its wavelengths and GLT
        assert main(["restore", f"input={satellite / EMIT_RFL}", f"output={tmp_path / 'r.tif'}", "progress=false",
                     "quicklook=false"]) == 0
        assert main(["unmix", f"input={satellite / EMIT_RFL}", f"output={tmp_path / 'u'}", "n_endmembers=2",
                     "method=vca_fcls", "quicklook=false"]) == 0
    restored, _, nodata = _read_tif(tmp_path / "r.tif")
    assert nodata == -9999.0 and np.isfinite(restored).all() and 0 < restored.min() and restored.max() < 1


def test_info_names_product_geolocation_bad_bands_and_masks(emit_with_fill_lines, capsys):
    path, *_ = emit_with_fill_lines
    assert main(["info", f"input={path}", "progress=false"]) == 0
    printed = capsys.readouterr().out
    assert "product     EMIT L2A RFL (level L2A)" in printed
    assert "geolocation glt (swath geometry)" in printed
    assert "bad bands   2 flagged by the product: 4 (1149.0 nm), 9 (2109.0 nm)" in printed
    assert "wavelengths 12 from 381.0 to 2493.0 nm" in printed


def test_info_on_the_real_enmap_tile_names_the_product_grid_and_masks(satellite, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no METADATA.XML in this copy
        assert main(["info", f"input={satellite / ENMAP_TILE}", "progress=false"]) == 0
    printed = capsys.readouterr().out
    assert "product     EnMAP L2A SPECTRAL_IMAGE (level L2A)" in printed
    assert "geolocation map grid (affine + CRS)" in printed and "EPSG:32618" in printed
    assert "masks       cirrus, cloud, cloud_shadow, haze, pixel, snow, test_flags" in printed


@pytest.mark.parametrize("job", ["restore", "unmix"])
@pytest.mark.parametrize(("granule", "content"), [(EMIT_OBS, "geometry"), (EMIT_MASK, "flags")])
def test_spectral_jobs_refuse_a_granule_that_holds_no_spectra(satellite, tmp_path, capsys, job, granule, content):
    """EMIT's OBS (observation geometry) and MASK (flags) granules were 'restored' and 'unmixed' like spectra."""
    out = tmp_path / "out"
    assert main([job, f"input={satellite / granule}", f"output={out}.tif", "progress=false", "quicklook=false"]) == 2
    said = capsys.readouterr().err
    assert f"{satellite / granule}: EMIT L" in said and f"holds {content}, not spectra; {job} needs" in said
    assert not list(tmp_path.iterdir())


def test_convert_keeps_the_quality_layers_beside_the_cube(satellite, tmp_path, capsys):
    """Converting a product kept its cube and lost its cloud / cirrus / water flags (review finding)."""
    from hsi.io import open_scene
    from hsi.io.products.glt import orthorectified

    for name, source, ortho in (("enmap", satellite / ENMAP_TILE, False), ("emit", satellite / EMIT_MASK, True)):
        out = tmp_path / f"{name}.hdr"
        assert main(["convert", f"input={source}", f"output={out}", "progress=false", "quicklook=false"]) == 0
        scene = open_scene(source)
        scene = orthorectified(scene) if ortho else scene
        layers = [layer for layer, reader in scene.masks.items() if reader.shape[2] == 1]
        assert len(layers) >= 6
        with rasterio.open(tmp_path / f"{name}_masks.tif") as ds:
            assert ds.descriptions == tuple(layers) and ds.dtypes[0] == "uint8"
            assert (ds.height, ds.width) == scene.shape[:2] and ds.crs == open_scene(out).crs
            no_data = scene.nodata_mask_of(scene.read()).all(axis=2)  # map pixels outside EMIT's swath
            assert ds.nodata == 255 and (no_data.any() if ortho else True)
            for band, layer in enumerate(layers, start=1):
                expected = scene.read_mask(layer).astype(np.uint8)
                expected[no_data] = 255  # not 'clear' where the cube has no data (review3 finding)
                np.testing.assert_array_equal(ds.read(band), expected)
        report = json.loads((tmp_path / f"{name}_report.json").read_text())
        assert report["results"]["masks"]["layers"] == layers
        said = capsys.readouterr().out
        assert "its quality layers (" in said
        per_band = [layer for layer in scene.masks if layer not in layers]  # EnMAP's per-band pixel mask
        assert report["results"].get("masks_not_written", {}).get("layers", []) == per_band
        assert all(f"not written: {layer}" in said for layer in per_band)
    out = tmp_path / "nomasks.tif"
    assert main(["convert", f"input={satellite / ENMAP_TILE}", f"output={out}", "masks=false", "progress=false",
                 "quicklook=false"]) == 0
    assert not (tmp_path / "nomasks_masks.tif").exists()


def test_convert_leaves_nothing_when_the_quality_layers_cannot_be_written(satellite, tmp_path, monkeypatch, capsys):
    """A failed masks write (disk full) left the converted cube behind, without its masks, report or
    completion record (review finding): the cube, its masks and report are one result, complete or absent."""
    import hsi.jobs.convert as convert
    from hsi.errors import WriteError

    create_writer = convert.create_writer

    def failing_masks_writer(path, *args, **kwargs):
        writer = create_writer(path, *args, **kwargs)
        if str(path).endswith("_masks.tif"):
            def write(window, values):
                raise WriteError(f"{path}: No space left on device")
            writer.write = write
        return writer

    monkeypatch.setattr(convert, "create_writer", failing_masks_writer)
    out = tmp_path / "out.tif"
    assert main(["convert", f"input={satellite / ENMAP_TILE}", f"output={out}", "bands=[0]", "progress=false",
                 "quicklook=false"]) == 2
    assert "out_masks.tif: No space left on device" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_per_band_quality_layer_cut_to_one_band_is_not_written_as_a_single_layer(satellite, tmp_path):
    """bands=[0] on the EnMAP tile cut its per-band pixel mask to one band, which then went into the
    masks file as a seventh 'single' layer (review3 finding); with bands=[0,5] it was left out."""
    out = tmp_path / "one.tif"
    assert main(["convert", f"input={satellite / ENMAP_TILE}", f"output={out}", "bands=[0]", "progress=false",
                 "quicklook=false"]) == 0
    report = json.loads((tmp_path / "one_report.json").read_text())
    assert "pixel" not in report["results"]["masks"]["layers"] and len(report["results"]["masks"]["layers"]) == 6
    assert report["results"]["masks_not_written"]["layers"] == ["pixel"]
    with rasterio.open(tmp_path / "one_masks.tif") as ds:
        assert ds.count == 6


@pytest.mark.parametrize("suffix", [".hdr", ".mat", ".tif", ".h5", ".npy"])
def test_a_converted_granule_that_holds_no_spectra_is_still_refused(satellite, tmp_path, capsys, suffix):
    """Converting EMIT's OBS granule to ENVI or MAT dropped the 'not spectra' marker, so restore and
    unmix then processed observation geometry as spectra (stop 23's left-out)."""
    converted = tmp_path / f"obs{suffix}"
    assert main(["convert", f"input={satellite / EMIT_OBS}", f"output={converted}", "progress=false",
                 "quicklook=false"]) == 0
    capsys.readouterr()
    for job in ("restore", "unmix"):
        out = tmp_path / job
        assert main([job, f"input={converted}", f"output={out}.tif", "progress=false", "quicklook=false"]) == 2
        said = capsys.readouterr().err
        assert "EMIT L1B OBS holds geometry, not spectra; " + job in said and converted.stem in said
        assert not list(tmp_path.glob(f"{job}*"))


def test_a_rerun_without_quality_layers_removes_only_the_masks_the_replaced_cube_had(satellite, tmp_path, capsys):
    """A re-run with masks=false overwrite=true left the older <OUT stem>_masks.tif beside the new
    cube, where a user takes it for the new cube's flags (stop 23's left-out)."""
    out, masks = tmp_path / "enmap.tif", tmp_path / "enmap_masks.tif"
    args = ["convert", f"input={satellite / ENMAP_TILE}", f"output={out}", "progress=false", "quicklook=false"]
    assert main(args) == 0 and masks.exists()
    assert main(args + ["masks=false", "overwrite=true"]) == 0
    assert not masks.exists() and out.exists()
    report = json.loads((tmp_path / "enmap_report.json").read_text())
    assert report["results"]["stale_masks_removed"]["path"] == str(masks)
    assert f"removed {masks}" in capsys.readouterr().out
    # a masks file no record of the output lists (or one changed since) is never deleted: refused
    masks.write_bytes(b"a user's own file")
    assert main(args + ["masks=false", "overwrite=true"]) == 2
    assert "no completion record of enmap.tif lists it" in capsys.readouterr().err
    assert masks.read_bytes() == b"a user's own file"
    # nor is the input: converting a masks file onto its own stem keeps it
    assert main(args + ["overwrite=true"]) == 0
    source = tmp_path / "copy_masks.tif"
    masks.rename(source)
    copy = tmp_path / "copy.tif"
    assert main(["convert", f"input={source}", f"output={copy}", "progress=false", "quicklook=false"]) == 2
    assert "a file of the input" in capsys.readouterr().err and source.exists() and not copy.exists()


@pytest.mark.slow
def test_info_says_the_enmap_l2a_tiles_stripes_run_at_13_degrees_to_the_columns(satellite, capsys):
    """The EnMAP L2A tile is on a UTM grid: its detector stripes follow the rotated track, which
    the column stripe test cannot see (stop 23's left-out)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no METADATA.XML in this copy
        assert main(["info", f"input={satellite / ENMAP_TILE}", "progress=false", "band_table=false"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("  stripes"))
    angle = float(line.split(" lines at ")[1].split(" deg")[0])
    assert -14.0 <= angle <= -12.0 and float(line.split("contrast ")[1].split(";")[0]) > 20
