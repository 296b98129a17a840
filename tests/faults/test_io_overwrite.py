"""No write replaces an input, through any file the writer touches or any name for the input.

Before: the guard compared the requested path with the input's path as strings, so
`convert input=e.hdr output=e.img format=envi overwrite=true` replaced the input pair and
`unmix input=DIR/abundances.tif output=DIR overwrite=true` replaced its input (rc 0).
"""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest
from _io_faults import assert_one_line_error, run_cli, sample

from hsi.errors import OutputExistsError
from hsi.io import create_writer, open_scene, save_scene


def digest(*paths) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


@pytest.fixture
def envi_input(tmp_path):
    save_scene(open_scene(sample()), tmp_path / "e.hdr")
    return tmp_path / "e.hdr", tmp_path / "e.img"


@pytest.mark.parametrize("output", ["e.img", "e", "E.hdr"])
def test_convert_refuses_to_write_over_an_envi_input_pair(tmp_path, capsys, envi_input, output):
    header, data = envi_input
    before = digest(header, data)
    target = tmp_path / output
    if output == "E.hdr":  # another name for the same header
        os.link(header, target)
    status, out, err = run_cli(capsys, "convert", f"input={header}", f"output={target}", "format=envi",
                               "overwrite=true")
    assert_one_line_error(status, err, "would overwrite the input")
    assert digest(header, data) == before


def test_links_to_an_input_are_the_input(tmp_path, envi_input):
    header, data = envi_input
    scene = open_scene(header)
    (tmp_path / "linked").mkdir()
    os.symlink(tmp_path, tmp_path / "linked" / "again")
    with pytest.raises(OutputExistsError, match="would overwrite the input"):
        create_writer(tmp_path / "linked" / "again" / "e.img", scene.derived(), overwrite=True, format="envi",
                      inputs=(header,))


def test_npy_sidecar_of_an_input_is_protected(tmp_path):
    save_scene(open_scene(sample()), tmp_path / "a.npy")
    scene = open_scene(tmp_path / "a.npy")
    before = digest(tmp_path / "a.npy", tmp_path / "a.npy.json")
    with pytest.raises(OutputExistsError, match="would overwrite the input"):
        create_writer(tmp_path / "a.npy.json", scene.derived(), overwrite=True, format="npy", inputs=(scene.path,))
    assert digest(tmp_path / "a.npy", tmp_path / "a.npy.json") == before


def test_unmix_refuses_a_folder_whose_outputs_include_its_input(tmp_path, capsys):
    shutil.copy(sample(), tmp_path / "abundances.tif")
    before = digest(tmp_path / "abundances.tif")
    status, out, err = run_cli(capsys, "unmix", f"input={tmp_path / 'abundances.tif'}", f"output={tmp_path}",
                               "overwrite=true", "n_endmembers=3")
    assert_one_line_error(status, err, "would overwrite the input", "abundances.tif")
    assert digest(tmp_path / "abundances.tif") == before


def test_unmix_output_that_is_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "taken").write_text("a file")
    status, out, err = run_cli(capsys, "unmix", f"output={tmp_path / 'taken'}", "n_endmembers=3")
    assert_one_line_error(status, err, "taken", "must be a folder")
    assert (tmp_path / "taken").read_text() == "a file"


def test_a_stale_aux_xml_does_not_describe_the_new_geotiff(tmp_path):
    save_scene(open_scene(sample()), tmp_path / "a.tif")
    (tmp_path / "a.tif.aux.xml").write_text("<PAMDataset><Metadata><MDI key='units'>stale</MDI></Metadata></PAMDataset>")
    save_scene(open_scene(sample()), tmp_path / "a.tif", overwrite=True)
    assert not (tmp_path / "a.tif.aux.xml").exists()


def test_the_report_and_quicklook_beside_an_output_are_guarded_too(tmp_path):
    from omegaconf import OmegaConf

    from hsi.io import lock, record
    from hsi.jobs.common import start

    cfg = OmegaConf.create({"overwrite": True, "quicklook": True})
    (tmp_path / "r_report.json").write_text("{}")
    with pytest.raises(OutputExistsError, match=r"would overwrite the input .*r_report\.json"):
        start("convert", cfg, tmp_path / "r.tif", inputs={"input": tmp_path / "r_report.json"})
    (tmp_path / "r_quicklook.png").write_text("png")
    with pytest.raises(OutputExistsError, match=r"would overwrite the input .*r_quicklook\.png"):
        start("convert", cfg, tmp_path / "r.tif", inputs={"input": tmp_path / "r_quicklook.png"})
    run = start("convert", cfg, tmp_path / "r.tif", inputs={"input": tmp_path / "other.json"})
    assert run.outputs["output"] == tmp_path / "r.tif"
    record.drop_reservations()
    lock.release_all()


def test_a_product_folders_files_are_inputs(tmp_path):
    """Before: a product folder (EnMAP, Landsat) stood for no file, so
    `convert input=ENMAP_DIR output=ENMAP_DIR/<...>-SPECTRAL_IMAGE.TIF overwrite=true` replaced
    the product's own spectral image."""
    folder = tmp_path / "product"
    folder.mkdir()
    save_scene(open_scene(sample()), folder / "SPECTRAL_IMAGE.TIF")
    before = digest(folder / "SPECTRAL_IMAGE.TIF")
    scene = open_scene(folder / "SPECTRAL_IMAGE.TIF")
    with pytest.raises(OutputExistsError, match="would overwrite the input"):
        create_writer(folder / "SPECTRAL_IMAGE.TIF", scene.derived(), overwrite=True, inputs=(folder,))
    assert digest(folder / "SPECTRAL_IMAGE.TIF") == before
