"""Helpers for the file-level fault tests: run the CLI in-process, a small full disk."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hsi.cli import main
from hsi.jobs.common import ensure_sample


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """``python cli.py ARGS`` in this process: exit status, stdout, stderr."""
    capsys.readouterr()
    status = main([*args, "progress=false"] if args[0] in ("convert", "restore", "info") else list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(status: int, err: str, *fragments: str) -> str:
    """Exit status 2 and exactly one line on stderr, holding every fragment."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    """Hidden temporary files in ``folder`` (what a failed or killed write could leave)."""
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith("."))


def sample() -> Path:
    return ensure_sample()


class SmallDisk:
    """A tmpfs of ``size`` mounted at ``folder`` (root only), filled to leave ``free`` bytes."""

    def __init__(self, folder: Path, size: str = "2m"):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            pytest.skip("mounting a small tmpfs needs root; the ENOSPC tests without root cover the writers")
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(self.folder)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip() or result.returncode})")

    def fill(self, free_bytes: int) -> None:
        stat = os.statvfs(self.folder)
        available = stat.f_bavail * stat.f_frsize
        (self.folder / "filler").write_bytes(b"\0" * max(0, available - free_bytes))

    def unmount(self) -> None:
        # lazy: a file the test process still holds open (GDAL's cache, say) must not leave it mounted
        subprocess.run(["umount", "--lazy", str(self.folder)], check=False, capture_output=True)
