"""Where the tiles go: overlapping windows that cover a scene exactly."""

from __future__ import annotations

from dataclasses import dataclass

from hsi.errors import ParameterError
from hsi.scene import Window


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` with at least ``overlap`` shared pixels.

    The last tile ends at ``length`` (shifted back rather than padded), so every tile
    has full size unless the image is smaller than one tile.
    """
    if tile <= 0:
        raise ParameterError(f"tile must be positive, got {tile}")
    if not 0 <= overlap < tile:
        raise ParameterError(f"overlap must be in [0, tile) = [0, {tile}), got {overlap}")
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


@dataclass(frozen=True)
class TileGrid:
    """Tiles over a ``n_rows x n_cols`` image, in row-major order grouped by tile row."""

    n_rows: int
    n_cols: int
    tile: int
    overlap: int

    @property
    def row_starts(self) -> list[int]:
        return tile_starts(self.n_rows, self.tile, self.overlap)

    @property
    def col_starts(self) -> list[int]:
        return tile_starts(self.n_cols, self.tile, self.overlap)

    @property
    def tile_rows(self) -> int:
        return min(self.tile, self.n_rows)

    @property
    def tile_cols(self) -> int:
        return min(self.tile, self.n_cols)

    def row_of_tiles(self, row_start: int) -> list[Window]:
        return [Window(row_start, c, self.tile_rows, self.tile_cols) for c in self.col_starts]

    def __len__(self) -> int:
        return len(self.row_starts) * len(self.col_starts)
