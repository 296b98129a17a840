"""hsi: hyperspectral image restoration, unmixing and pansharpening.

Cubes are held in one axis order everywhere inside hsi: ``(rows, cols, bands)``
(see :mod:`hsi.scene`). Readers and writers convert at the file edge.
"""

__version__ = "0.1.0"
