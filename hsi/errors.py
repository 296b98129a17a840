"""One exception family for hsi: the CLI turns these into one line and exit status 2."""


class HsiError(Exception):
    """Base class for every error hsi raises on purpose (bad input, bad options)."""


class InputError(HsiError):
    """An input file is missing, unreadable, or its content is not what the job needs."""


class FormatError(InputError):
    """The file's format is unknown, or its header/layout is inconsistent."""


class TooFewPixelsError(InputError):
    """The scene (or sample) holds too few pixels for a method's statistics (no more pixels than bands)."""


class GridMismatchError(InputError):
    """Two inputs that must share a pixel grid (shape, CRS, transform) do not."""


class OutputExistsError(HsiError):
    """The output exists and ``overwrite`` was not asked for."""


class ParameterError(HsiError):
    """A parameter value is outside what the method accepts."""


class WriteError(HsiError):
    """An output could not be written completely (disk full, read-only folder, I/O error).

    Raised only after the partial file is removed: nothing is left at the output path.
    """


class OutputLockedError(HsiError):
    """Another hsi process is writing this output (see :mod:`hsi.io.lock`)."""


class SchedulerLostError(HsiError):
    """The Dask scheduler could not be reached, or went away before the work was finished."""
