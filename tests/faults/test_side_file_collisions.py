"""Outputs named alike up to the extension (``a.tif``, ``a.h5``) share ``a_report.json`` and
``a_quicklook.png`` by the path rule: a run never replaces the other output's files."""

import hashlib
import json

import pytest

from hsi.cli import main
from hsi.io.record import matching_record, record_path
from hsi.jobs.common import run_fingerprint
from hsi.config import compose

from tests.faults._helpers import error_lines, small_scene


def _convert(source, output, *extra):
    return ["convert", f"input={source}", f"output={output}", "progress=false", *extra]


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("recorded", [True, False], ids=["recorded", "report_only"])
def test_two_inputs_converted_to_names_differing_by_extension_keep_their_own_reports(
        tmp_path, capsys, overwrite, recorded):
    """Before: with overwrite=true the second convert replaced the first's report and quicklook
    (its record then failed to match); without, the message invited overwrite=true."""
    first, second = small_scene(tmp_path / "x.tif", seed=0), small_scene(tmp_path / "y.tif", seed=1)
    out = tmp_path / "out"
    assert main(_convert(first, out / "a.tif")) == 0
    if not recorded:  # killed before its record, or written by an hsi that kept none: the report names its output
        record_path(out / "a.tif").unlink()
    before = _digests(out)
    capsys.readouterr()
    assert main(_convert(second, out / "a.h5", *(["overwrite=true"] if overwrite else []))) == 2
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and f"a_report.json: belongs to the output {out / 'a.tif'}" in lines[0], lines
    assert "choose another output name" in lines[0]
    assert _digests(out) == before and not (out / "a.h5").exists()
    if recorded:
        assert matching_record(out / "a.tif", run_fingerprint("convert", compose("convert", _convert(first, out / "a.tif")[1:])))[0]
    # the output's own run may still replace its own report
    assert main(_convert(first, out / "a.tif", "overwrite=true")) == 0
    assert json.loads((out / "a_report.json").read_text())["outputs"]["output"] == str(out / "a.tif")
    # and another name is fine
    assert main(_convert(second, out / "b.h5")) == 0
