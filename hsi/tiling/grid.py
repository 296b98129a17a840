"""Where the tiles go: overlapping windows that cover a scene exactly."""

from __future__ import annotations

from dataclasses import dataclass

from hsi.errors import ParameterError
from hsi.scene import Window


def check_tile_overlap(tile: int, overlap: int, prefix: str = "") -> None:
    """``tile`` >= 1 and ``overlap`` in ``[0, tile)`` (``prefix`` names the settings, e.g. ``tiling.``)."""
    if tile <= 0:
        raise ParameterError(f"{prefix}tile must be >= 1; got {tile}")
    if not 0 <= overlap < tile:
        raise ParameterError(f"{prefix}overlap must be in [0, {prefix}tile) = [0, {tile}); got {overlap}")


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` with at least ``overlap`` shared pixels.

    The last tile ends at ``length`` (shifted back rather than padded), so every tile
    has full size unless the image is smaller than one tile.
    """
    check_tile_overlap(tile, overlap)
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def balanced_tile(length: int, tile: int, overlap: int) -> int:
    """The smallest tile size, at most ``tile``, that covers ``length`` with as few tiles as ``tile`` does.

    Shifting the last full-size tile back to the border makes it overlap its neighbour by
    up to a whole tile (a 512-pixel scene in 256-pixel tiles with 32 of overlap takes three
    tiles of 256 where three of 192 suffice), so work per pixel jumped with scene size;
    shrinking all tiles equally keeps the overlap near ``overlap`` everywhere.
    """
    if length <= tile:
        return length
    stride = tile - overlap
    n_tiles = -(-(length - overlap) // stride)
    return -(-(length - overlap) // n_tiles) + overlap


@dataclass(frozen=True)
class TileGrid:
    """Tiles over a ``n_rows x n_cols`` image, in row-major order grouped by tile row.

    Tiles have the :func:`balanced_tile` size along each axis (at most ``tile``).
    """

    n_rows: int
    n_cols: int
    tile: int
    overlap: int

    def _starts(self, length: int) -> list[int]:
        tile_starts(length, self.tile, self.overlap)  # validates tile and overlap as given
        return tile_starts(length, balanced_tile(length, self.tile, self.overlap), self.overlap) if length > self.tile else [0]

    @property
    def row_starts(self) -> list[int]:
        return self._starts(self.n_rows)

    @property
    def col_starts(self) -> list[int]:
        return self._starts(self.n_cols)

    @property
    def tile_rows(self) -> int:
        return balanced_tile(self.n_rows, self.tile, self.overlap)

    @property
    def tile_cols(self) -> int:
        return balanced_tile(self.n_cols, self.tile, self.overlap)

    def row_of_tiles(self, row_start: int) -> list[Window]:
        return [Window(row_start, c, self.tile_rows, self.tile_cols) for c in self.col_starts]

    def owned(self, window: Window) -> Window:
        """The part of tile ``window`` no earlier tile owns: from its start to the next tile's start (or
        the scene's end) on each axis. The tiles' owned parts partition the scene."""
        def span(start: int, starts: list[int], length: int) -> int:
            later = [s for s in starts if s > start]
            return (later[0] if later else length) - start

        return Window(window.row, window.col, span(window.row, self.row_starts, self.n_rows),
                      span(window.col, self.col_starts, self.n_cols))

    def __len__(self) -> int:
        return len(self.row_starts) * len(self.col_starts)
