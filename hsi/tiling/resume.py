"""Finished strips kept beside an output while it is being made, so a run can resume.

With ``resume=True`` every strip the runner finishes is also saved (atomically) as a
``.npy`` file in ``<output>.partial/``, with a ``journal.json`` that fingerprints the run.
After an interruption, the next run with the same settings replays those strips into the
new output and computes only the rest; on success the folder is removed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from hsi.errors import ParameterError
from hsi.scene import Window


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
            recorded = json.loads(journal.read_text())
            if recorded != self.fingerprint:
                changed = sorted(k for k in set(recorded) | set(self.fingerprint) if recorded.get(k) != self.fingerprint.get(k))
                raise ParameterError(
                    f"{self.folder}: partial results were made with different settings ({', '.join(changed)}); "
                    "delete the folder or run with resume=false"
                )
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = journal.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.fingerprint, indent=1))
            os.replace(tmp, journal)
        return self.rows_done()

    def strips(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.folder.glob("rows_*.npy"):
            start, _ = path.stem.split("_")[1:3]
            found.append((int(start), path))
        return sorted(found)

    def rows_done(self) -> int:
        done = 0
        for start, path in self.strips():
            if start != done:
                break
            done = start + int(np.load(path, mmap_mode="r").shape[0])
        return done

    def replay(self, write, up_to: int) -> None:
        """Hand the saved strips above row ``up_to`` to ``write(window, values)``."""
        for start, path in self.strips():
            if start >= up_to:
                break
            values = np.load(path)
            write(Window(start, 0, values.shape[0], values.shape[1]), values)

    def save(self, window: Window, values: np.ndarray) -> None:
        final = self.folder / f"rows_{window.row}_{window.row + window.height}.npy"
        tmp = final.with_name(final.stem + ".tmp.npy")
        np.save(tmp, values)
        os.replace(tmp, final)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
