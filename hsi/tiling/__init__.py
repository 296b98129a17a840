"""Tiled sliding-window inference that streams a scene to disk in bounded memory.

The package knows nothing of the methods it runs: any callable (or ``torch.nn.Module``)
mapping a batch of tiles ``(n, rows, cols, bands)`` to ``(n, rows*scale, cols*scale,
bands_out)`` can be run over a scene of any size.
"""

from hsi.tiling.grid import TileGrid, tile_starts
from hsi.tiling.runner import TiledRunner, run_tiled, run_tiled_array
from hsi.tiling.sampling import sample_blocks, sample_pixels
from hsi.tiling.windows import blend_weights

__all__ = ["TileGrid", "tile_starts", "TiledRunner", "run_tiled", "run_tiled_array", "sample_blocks", "sample_pixels", "blend_weights"]
