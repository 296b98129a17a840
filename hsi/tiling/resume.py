"""Finished strips kept beside an output while it is being made, so a run can resume.

With ``resume=True`` every strip the runner finishes is also saved as a ``.npy`` file in
``<output>.partial/``, with a ``journal.json`` holding the run's fingerprint: the identity of
the input files (size, modification time, content hash), the full resolved method config and
settings, the tiling and hsi's version (see :mod:`hsi.io.record`). After an interruption, the
next run with the same fingerprint replays those strips into the new output and computes
only the rest; on success the folder is removed.

A run whose fingerprint differs (another method, a changed parameter, an input whose
content changed) is *refused* with one line naming what changed, rather than redone: the
partial strips may be hours of work the user wants to resume with the original settings,
and silently deleting them would lose it. ``resume=false`` (or deleting the folder) starts
afresh. Strips and the journal are written to a hidden temporary name, fsynced, then
renamed, so a kill at any moment leaves either a whole strip or none; strips that are
unreadable or of the wrong size are dropped and recomputed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np

from hsi.errors import ParameterError
from hsi.io.record import differences
from hsi.scene import Window

STRIP_NAME = re.compile(r"^rows_(\d+)_(\d+)\.npy$")


def _write_durably(path: Path, write) -> None:
    """``write(handle)`` into a hidden temporary sibling, fsync, rename onto ``path``, fsync the folder."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _changes(recorded: dict, expected: dict) -> list[str]:
    changed = differences(recorded.get("run") or {}, expected.get("run") or {})
    changed += [key for key in sorted(set(recorded) | set(expected)) if key != "run" and recorded.get(key) != expected.get(key)]
    return changed


class StripJournal:
    """The ``<output>.partial/`` folder of one run, identified by ``fingerprint``."""

    def __init__(self, output: Path | str, fingerprint: dict):
        output = Path(output)
        self.folder = output.with_name(output.name + ".partial")
        self.fingerprint = json.loads(json.dumps(fingerprint, default=str))

    def open(self) -> int:
        """Create or check the folder; returns the output rows already done (contiguous from the top)."""
        journal = self.folder / "journal.json"
        if journal.exists():
            try:
                recorded = json.loads(journal.read_text())
            except ValueError:
                recorded = {"run": {"journal": "unreadable"}}
            changed = _changes(recorded, self.fingerprint)
            if changed:
                raise ParameterError(
                    f"{self.folder}: partial results were made with different settings or input ({', '.join(changed)}); "
                    "refusing to splice them: run with the original settings and input, or resume=false to start afresh"
                )
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            text = json.dumps(self.fingerprint, indent=1).encode()
            _write_durably(journal, lambda handle: handle.write(text))
        return self.rows_done()

    def strips(self) -> list[tuple[int, int, Path]]:
        """``(first row, end row, file)`` of every finished strip file, sorted (temporary files ignored)."""
        found = []
        for path in self.folder.iterdir() if self.folder.is_dir() else ():
            match = STRIP_NAME.match(path.name)
            if match:
                found.append((int(match.group(1)), int(match.group(2)), path))
        return sorted(found)

    def rows_done(self) -> int:
        """Rows covered by valid strips contiguous from the top; a bad strip is dropped with all below it."""
        done = 0
        for start, end, path in self.strips():
            if start != done or not self._valid(path, end - start):
                break
            done = end
        for start, _, path in self.strips():
            if start >= done:  # computed again, so not replayed twice
                path.unlink(missing_ok=True)
        return done

    @staticmethod
    def _valid(path: Path, n_rows: int) -> bool:
        try:
            values = np.load(path, mmap_mode="r")
        except (OSError, ValueError, EOFError):
            return False
        return values.ndim == 3 and values.shape[0] == n_rows

    def replay(self, write, up_to: int) -> None:
        """Hand the saved strips above row ``up_to`` to ``write(window, values)``."""
        for start, _, path in self.strips():
            if start >= up_to:
                break
            values = np.load(path)
            write(Window(start, 0, values.shape[0], values.shape[1]), values)

    def save(self, window: Window, values: np.ndarray) -> None:
        final = self.folder / f"rows_{window.row}_{window.row + window.height}.npy"
        _write_durably(final, lambda handle: np.save(handle, values))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
