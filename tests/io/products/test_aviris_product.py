"""AVIRIS-NG flight lines in swath geometry with their ENVI GLT (synthetic, to the JPL layout)."""

from __future__ import annotations

import dataclasses

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from hsi.cli import main
from hsi.io import open_scene, save_scene
from hsi.io.products.glt import orthorectified
from hsi.scene import Scene


def test_swath_and_glt_orthorectify_exactly(tmp_path, rotated_glt, rng):
    cube = rng.random((14, 10, 5)).astype(np.float32)
    save_scene(Scene.from_array(cube, wavelengths_nm=np.linspace(380, 2500, 5), nodata=-9999.0),
               tmp_path / "ang20200101t000000_rdn_img.hdr")
    glt_x, glt_y = rotated_glt(14, 10, 25.0)
    glt_x[2, :] = -np.abs(glt_x[2, :])  # AVIRIS marks neighbour-filled pixels with negative indices
    grid = Affine(5.0, 0.0, 300000.0, 0.0, -5.0, 4100000.0)
    save_scene(Scene.from_array(np.stack([glt_x, glt_y], -1).astype(np.int32), crs=CRS.from_epsg(32611), transform=grid),
               tmp_path / "ang20200101t000000_glt.hdr")
    scene = open_scene(tmp_path / "ang20200101t000000_rdn_img.hdr")
    assert scene.geolocation.kind == "glt" and scene.metadata["product"]["sensor"] == "AVIRIS-NG"
    ortho = orthorectified(scene)
    assert ortho.crs.to_epsg() == 32611 and ortho.transform == grid
    values, hit = ortho.read(), glt_y > 0
    np.testing.assert_array_equal(values[hit], cube[glt_y[hit] - 1, np.abs(glt_x[hit]) - 1])
    out = tmp_path / "ortho.tif"
    assert main(["convert", f"input={tmp_path / 'ang20200101t000000_rdn_img.hdr'}", f"output={out}", "progress=false"]) == 0
    np.testing.assert_array_equal(open_scene(out).read(), values)


def _glt(rotated_glt, rows, cols):
    glt_x, glt_y = rotated_glt(rows, cols, 25.0)
    grid = Affine(5.0, 0.0, 300000.0, 0.0, -5.0, 4100000.0)
    return Scene.from_array(np.stack([glt_x, glt_y], -1).astype(np.int32), crs=CRS.from_epsg(32611), transform=grid)


def test_the_distribution_documents_glt_names_are_found(tmp_path, rotated_glt, rng):
    """AVIRIS-NG ``<flight>_ort_glt`` and AVIRIS-3 ``<flight>_L1B_ORT_<version>_<hash>_GLT``."""
    for image, glt in (("ang20200101t000000_rfl_v2p5_img", "ang20200101t000000_ort_glt"),
                       ("AV320230821t173024_L1B_RDN_main_d71e8b07_RDN", "AV320230821t173024_L1B_ORT_main_d71e8b07_GLT")):
        save_scene(Scene.from_array(rng.random((14, 10, 3)).astype(np.float32)), tmp_path / f"{image}.hdr")
        save_scene(_glt(rotated_glt, 14, 10), tmp_path / f"{glt}.hdr")
        scene = open_scene(tmp_path / f"{image}.hdr")
        assert scene.geolocation is not None and scene.geolocation.kind == "glt", image


def test_an_orthorectified_image_beside_a_glt_is_an_ordinary_map_scene(tmp_path, rotated_glt, rng):
    grid = Affine(5.0, 0.0, 300000.0, 0.0, -5.0, 4100000.0)
    save_scene(Scene.from_array(rng.random((9, 8, 3)).astype(np.float32), crs=CRS.from_epsg(32611), transform=grid),
               tmp_path / "ang20200101t000000_rdn_v2p5_img.hdr")
    save_scene(_glt(rotated_glt, 14, 10), tmp_path / "ang20200101t000000_ort_glt.hdr")
    scene = open_scene(tmp_path / "ang20200101t000000_rdn_v2p5_img.hdr")
    assert scene.geolocation is None and scene.transform == grid and scene.shape == (9, 8, 3)


def test_a_flight_lines_geometry_layers_are_not_spectra(tmp_path, rotated_glt, rng, capsys):
    """AVIRIS-NG OBS / LOC layers (path length, angles, UTC time; lon, lat, elevation), in swath geometry
    with their GLT or orthorectified, were restored and unmixed as if spectra (review3 finding; the
    shared data's ang20160910t185702_obs_ortdem_mod was); the radiance beside them stays spectra."""
    save_scene(Scene.from_array(rng.random((14, 10, 5)).astype(np.float32), wavelengths_nm=np.linspace(380, 2500, 5)),
               tmp_path / "ang20200101t000000_rdn_img.hdr")
    save_scene(_glt(rotated_glt, 14, 10), tmp_path / "ang20200101t000000_glt.hdr")
    grid = Affine(5.0, 0.0, 300000.0, 0.0, -5.0, 4100000.0)
    layers = {"ang20200101t000000_obs": None, "ang20200101t000000_rdn_loc": None, "ang20200101t000000_obs_ortdem_mod": grid}
    for name, transform in layers.items():
        save_scene(Scene.from_array(rng.random((14, 10, 3)).astype(np.float32), crs=CRS.from_epsg(32611) if transform else None,
                                    transform=transform), tmp_path / f"{name}.hdr")
        scene = open_scene(tmp_path / f"{name}.hdr")
        assert scene.metadata["product"]["content"] == "geometry", name
        assert (scene.geolocation is not None) == (transform is None), name  # a swath layer keeps its GLT
        out = tmp_path / "out" / f"{name}.tif"
        for job in ("restore", "unmix"):
            assert main([job, f"input={tmp_path / name}.hdr", f"output={out}", "progress=false", "quicklook=false"]) == 2
            assert f"{name}.hdr: AVIRIS-NG L1B {name.split('_')[-1 if transform is None else 1].upper()} holds geometry, not spectra" \
                in capsys.readouterr().err
        assert not (tmp_path / "out").exists()
    assert open_scene(tmp_path / "ang20200101t000000_rdn_img.hdr").metadata["product"]["content"] == "spectra"


def test_a_flight_lines_units_come_from_its_name_when_the_header_has_none(tmp_path, rng):
    # The real AVIRIS-NG radiance header has no 'data units': unmix must know it is radiance
    # (a reflectance library cannot unmix it), on a map grid and in swath geometry alike.
    cube = Scene.from_array(rng.random((4, 3, 5)).astype(np.float32), wavelengths_nm=np.linspace(380, 2500, 5),
                            crs=CRS.from_epsg(32611), transform=Affine(15.0, 0, 3e5, 0, -15.0, 4e6))
    for name, units, level in (("ang20160910t185702_2rdn_img", "radiance (uW nm-1 cm-2 sr-1)", "L1B"),
                               ("ang20200101t000000_rfl", "reflectance", "L2"),
                               ("ang20200101t000000_corr_img", "reflectance", "L2")):
        save_scene(cube, tmp_path / f"{name}.hdr")
        scene = open_scene(tmp_path / f"{name}.hdr")
        assert scene.units == units and scene.metadata["product"]["level"] == level, name
        np.testing.assert_array_equal(scene.read(), cube.read())
    save_scene(dataclasses.replace(cube, units="reflectance"), tmp_path / "ang20200101t000001_rdn_img.hdr")
    assert open_scene(tmp_path / "ang20200101t000001_rdn_img.hdr").units == "reflectance"  # the header's own word wins
    save_scene(cube, tmp_path / "plain.hdr")
    assert open_scene(tmp_path / "plain.hdr").units is None


def test_the_real_aviris_ng_radiance_is_radiance(shared_data):
    scene = open_scene(shared_data / "aviris_ng" / "ang20160910t185702_2rdn_img.hdr")
    assert scene.units.startswith("radiance") and scene.transform is not None and scene.geolocation is None
