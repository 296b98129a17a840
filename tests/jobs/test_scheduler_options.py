"""A scheduler= that cannot work is refused in one line before any output or work.

Before (review): ``restore scheduler=foo`` was a ValueError traceback from distributed after
the fit; ``restore scheduler=local workers=0`` waited for ever.
"""

import pytest

from hsi.cli import main
from hsi.settings import SAMPLE_SCENE


@pytest.mark.parametrize("job", ["restore", "batch"])
@pytest.mark.parametrize("options, fragment", [(["scheduler=foo"], "scheduler= must be local or a Dask scheduler address"),
                                               (["scheduler=local", "workers=0"], "workers= must be >= 1")])
def test_a_scheduler_that_cannot_work_is_refused_before_any_work(tmp_path, capsys, monkeypatch, job, options, fragment):
    def no_work(*args, **kwargs):
        raise AssertionError("work started before scheduler= was checked")

    monkeypatch.setattr("hsi.jobs.restore.sample_blocks", no_work)
    if job == "restore":
        args = ["restore", f"input={SAMPLE_SCENE}", f"output={tmp_path / 'out.tif'}", "method=tv", "progress=false"]
    else:
        args = ["batch", "job=convert", f"inputs=[{SAMPLE_SCENE}]", f"output_dir={tmp_path / 'out'}"]
    assert main([*args, *options]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines
    assert list(tmp_path.iterdir()) == []
