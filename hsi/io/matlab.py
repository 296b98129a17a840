"""MATLAB .mat files: v5 through scipy, v7.3 (HDF5) through h5py.

Cubes are stored either as 3-D arrays (``layout=rows,cols,bands`` by default) or, as in
the unmixing benchmarks, as a bands x pixels matrix whose pixels are in MATLAB's
column-major order (``layout=bands,pixels`` with ``n_rows``/``n_cols`` read from the
file's ``nRow``/``nCol`` or ``lines``/``cols`` variables when not given, ``order=F``).
v7.3 arrays appear transposed in h5py; they are transposed back so both versions read
alike. A v5 file is read whole (the format has no windowed access), then windowed.
hsi writes the scene's metadata (the product label among it, which makes restore and unmix
refuse flags and observation geometry) as JSON text in the variable ``hsi_metadata``.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from hsi.errors import FormatError, InputError
from hsi.io.base import SceneWriter, require_file
from hsi.io.hdf5 import parse_layout, read_stored
from hsi.io.wavelengths import to_nanometres
from hsi.scene import ArrayReader, Scene, Window

SUFFIXES = (".mat",)
_ROW_KEYS, _COL_KEYS = ("nRow", "nrow", "lines", "rows", "n_rows"), ("nCol", "ncol", "cols", "samples", "n_cols")
_WAVELENGTH_KEYS = ("wavelength_nm", "wavelengths", "wavelength", "wl", "lambda")
METADATA_KEY = "hsi_metadata"


def load_variables(path: Path) -> dict[str, np.ndarray]:
    """Every variable of a .mat file (v5 or v7.3) by name, v7.3 arrays transposed back to MATLAB's axes."""
    if h5py.is_hdf5(path):
        out = {}
        with h5py.File(path, "r") as handle:
            for name, obj in handle.items():
                if isinstance(obj, h5py.Dataset) and not name.startswith("#"):
                    out[name] = np.asarray(obj).T  # MATLAB is column-major: h5py sees the axes reversed
        return out
    import scipy.io  # here, not at the top: a second of start-up that only .mat files need

    try:
        return {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    except (ValueError, NotImplementedError, TypeError, EOFError, scipy.io.matlab.MatReadError) as error:
        raise FormatError(f"{path}: not a readable MATLAB file ({error})") from None


def _scalar(variables: dict, keys: tuple[str, ...]) -> int | None:
    for key in keys:
        if key in variables and np.size(variables[key]) == 1:
            return int(np.asarray(variables[key]).item())
    return None


def _pick_key(variables: dict, key: str | None, path: Path) -> str:
    if key is not None:
        if key not in variables:
            raise FormatError(f"{path}: no variable '{key}'; the file has {', '.join(sorted(variables))}")
        return key
    if "Y" in variables and np.ndim(variables["Y"]) == 2 and _scalar(variables, _ROW_KEYS + _COL_KEYS) is not None:
        return "Y"  # the unmixing benchmarks' bands x pixels matrix (other 3-D arrays there are abundances)
    cubes = [k for k, v in variables.items() if isinstance(v, np.ndarray) and v.ndim == 3 and v.dtype.kind in "uif"]
    if len(cubes) == 1:
        return cubes[0]
    raise FormatError(f"{path}: cannot tell which variable is the cube; pass key=<one of {', '.join(sorted(variables))}>")


def open_matlab(
    path: Path,
    key: str | None = None,
    layout: str | None = None,
    n_rows: int | None = None,
    n_cols: int | None = None,
    order: str = "F",
    wavelength_key: str | None = None,
) -> Scene:
    path = require_file(path)
    variables = load_variables(path)
    key = _pick_key(variables, key, path)
    array = np.asarray(variables[key])
    if array.dtype.kind not in "uif":
        raise FormatError(f"{path}: variable '{key}' is {array.dtype}, not numeric")
    if array.ndim == 2 and layout == "rows,cols":  # a one-band image (a PAN, say)
        cube = array[:, :, None]
    elif array.ndim == 2:
        if layout not in (None, "bands,pixels", "pixels,bands"):
            raise FormatError(f"{path}: 2-D variable '{key}' needs layout=bands,pixels, pixels,bands or rows,cols "
                              f"(a one-band image), got {layout!r}")
        matrix = array if layout in (None, "bands,pixels") else array.T
        n_rows = n_rows or _scalar(variables, _ROW_KEYS)
        n_cols = n_cols or _scalar(variables, _COL_KEYS)
        n_bands, n_pixels = matrix.shape
        if n_rows is None and n_cols is None:
            side = int(round(np.sqrt(n_pixels)))
            if side * side != n_pixels:
                raise FormatError(f"{path}: '{key}' is {n_bands} x {n_pixels} (bands x pixels); pass n_rows and n_cols "
                                  "(read.n_rows=, read.n_cols=), or \"read.layout='rows,cols'\" (quoted) if it is a one-band image")
            n_rows = n_cols = side
        n_rows = n_rows or n_pixels // n_cols
        n_cols = n_cols or n_pixels // n_rows
        if n_rows * n_cols != n_pixels:
            raise FormatError(f"{path}: n_rows {n_rows} x n_cols {n_cols} != {n_pixels} pixels in '{key}'")
        if order.upper() not in ("F", "C"):
            raise InputError(f"{path}: order must be F (MATLAB column-major) or C, got {order!r}")
        cube = matrix.reshape(n_bands, n_rows, n_cols, order=order.upper()).transpose(1, 2, 0)
    elif array.ndim == 3:
        axes = parse_layout(layout, str(path))
        cube = read_stored(array, axes, Window(0, 0, *[array.shape[axes.index(a)] for a in ("rows", "cols")]),
                           np.arange(array.shape[axes.index("bands")]))
    else:
        raise FormatError(f"{path}: variable '{key}' has shape {array.shape}; expected a 3-D cube or a bands x pixels matrix")
    wavelengths = None
    for candidate in ((wavelength_key,) if wavelength_key else _WAVELENGTH_KEYS):
        if candidate in variables and np.size(variables[candidate]) == cube.shape[2]:
            wavelengths = to_nanometres(np.asarray(variables[candidate], dtype=np.float64).reshape(-1), None)
            break
    else:
        if wavelength_key:
            raise FormatError(f"{path}: wavelength variable '{wavelength_key}' missing or not one value per band")
    nodata = _scalar(variables, ("nodata",))
    return Scene(reader=ArrayReader(np.ascontiguousarray(cube)), wavelengths_nm=wavelengths,
                 nodata=None if nodata is None else float(nodata), metadata=_metadata(variables, path), path=path)


def _metadata(variables: dict, path: Path) -> dict:
    """The scene metadata hsi wrote as JSON text in ``hsi_metadata`` (none in other files)."""
    if METADATA_KEY not in variables:
        return {}
    text = np.asarray(variables[METADATA_KEY])
    try:
        metadata = json.loads(str(text.item()) if text.dtype.kind == "U" and text.size == 1 else "")
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict):
        raise FormatError(f"{path}: variable '{METADATA_KEY}' is not the JSON text of hsi's scene metadata")
    return metadata


class MatlabWriter(SceneWriter):
    """MATLAB v5: the format cannot be written piecewise, so the cube is assembled in memory."""

    MAX_BYTES = 2**31 - 1

    def __init__(self, path: Path, like: Scene, *, temporary: Path, key: str = "cube"):
        super().__init__(path, like)
        n_bytes = int(np.prod(self.shape)) * self.dtype.itemsize
        if n_bytes > self.MAX_BYTES:
            raise InputError(f"{path}: {n_bytes / 1e9:.1f} GB is too large for a MATLAB v5 file; write .h5 or .tif")
        self._cube = np.zeros(self.shape, dtype=self.dtype)
        self._temporary, self._key = temporary, key
        self._parts = [(temporary, self.path)]

    def _write(self, window: Window, block: np.ndarray) -> None:
        self._cube[window.rows, window.cols, :] = block

    def _finish(self) -> None:
        if self._cube is None:
            return
        variables = {self._key: self._cube}
        if self.like.wavelengths_nm is not None:
            variables["wavelength_nm"] = np.asarray(self.like.wavelengths_nm, dtype=np.float64)
        if self.like.nodata is not None:
            variables["nodata"] = float(self.like.nodata)
        if self.like.metadata:
            variables[METADATA_KEY] = json.dumps(self.like.metadata, default=str)
        self._cube = None
        import scipy.io

        with open(self._temporary, "wb") as handle:
            scipy.io.savemat(handle, variables, do_compression=True)
