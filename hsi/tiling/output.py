"""Where a streamed run's finished strips go: the output file, nodata, and the resume journal.

Shared by the generic tile runner and the subspace stream: both hand finished strips of
output rows, top to bottom, to :meth:`StreamedOutput.put`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hsi.scene import Scene, Window


class StreamedOutput:
    """The output file of one run, its nodata rule and (with ``resume``) its strip journal.

    Parameters
    ----------
    output : the output path (format by extension).
    like : a function ``n_bands -> Scene`` giving the output's template (grid, metadata,
        dtype) once the first strip says how many bands it has.
    inputs : files that must never be overwritten.
    journal : a :class:`hsi.tiling.resume.StripJournal`, or None without resume.
    write_options : the writer's options (e.g. GeoTIFF ``compress``, ``block``).
    """

    def __init__(self, output: Path | str, like, *, overwrite: bool = False, inputs=(), journal=None,
                 write_options: dict | None = None):
        self.output, self.like, self.overwrite, self.inputs = Path(output), like, overwrite, tuple(inputs)
        self.journal, self.write_options = journal, dict(write_options or {})
        self.writer, self.nodata = None, None

    def rows_done(self) -> int:
        """Output rows already finished by an interrupted run (0 without resume)."""
        return self.journal.open() if self.journal is not None else 0

    def open(self, n_bands: int):
        """The writer (created on first use: an existing output is refused here, before any strip)."""
        if self.writer is None:
            from hsi.io import create_writer

            template: Scene = self.like(n_bands)
            self.nodata = template.nodata
            self.writer = create_writer(self.output, template, overwrite=self.overwrite, inputs=self.inputs,
                                        **self.write_options)
        return self.writer

    def replay(self, rows_done: int) -> None:
        """Write the strips an interrupted run finished (rows above ``rows_done``) into the new output."""
        if self.journal is not None and rows_done:
            self.journal.replay(lambda window, values: self.open(values.shape[2]).write(window, values), rows_done)

    def put(self, window: Window, values: np.ndarray, empty: np.ndarray) -> None:
        """Write a finished strip; pixels flagged ``empty`` (and non-finite values) become nodata."""
        writer = self.open(values.shape[2])
        if self.nodata is not None:
            values[empty] = self.nodata
            if not np.isnan(self.nodata):  # bands kept out of the method (NaN) are nodata too
                values[~np.isfinite(values)] = self.nodata
        if self.journal is not None:
            self.journal.save(window, values)
        writer.write(window, values)

    def close(self) -> str:
        path = str(self.writer.close())
        if self.journal is not None:
            self.journal.remove()
        return path

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()
