"""Single-channel training images for the noise-level-conditioned prior, with their licences.

Each source gives named 2-D float32 images (colour photographs as their luma and each of their
channels, multispectral pairs as their PAN and each MS band). Samson, Jasper Ridge and every
other scored scene are never read here; the Kodak images in :data:`HELD_OUT_KODAK` are kept out
of training so ``bench prior`` can score the prior on photographs it never saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from hsi.errors import InputError, ParameterError

#: Kodak images never trained on: ``python cli.py bench prior`` scores the prior on them.
HELD_OUT_KODAK = ("kodim05.png", "kodim10.png", "kodim15.png", "kodim20.png")

#: skimage.data photographs bundled in the wheel (no download); synthetic drawings left out.
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "hubble_deep_field", "rocket", "immunohistochemistry",
                  "retina", "camera", "moon", "brick", "grass", "gravel", "coins", "clock", "page", "text", "cell")


@dataclass
class ImageSource:
    """Named single-channel images and the licence that goes into the model card."""

    name: str
    licence: str
    images: list[tuple[str, np.ndarray]]


def luma_and_channels(name: str, image: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """A greyscale image as itself; a colour one as its Rec. 601 luma plus each channel."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        return [(name, image)]
    rgb = image[..., :3]
    views = [(f"{name}:luma", rgb @ np.array([0.299, 0.587, 0.114], np.float32))]
    return views + [(f"{name}:{band}", np.ascontiguousarray(rgb[..., i])) for i, band in enumerate("RGB")]


def _read_png(path: Path) -> np.ndarray:
    import skimage.io

    try:
        return skimage.io.imread(path)
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: cannot read the training image ({error})") from error


def _folder(data_dir: Path, name: str) -> Path:
    folder = data_dir / "natural" / name
    if not folder.is_dir():
        raise InputError(f"{folder}: training images not found (data_dir is {data_dir}); "
                         f"drop '{name}' from data.sources or set data.data_dir")
    return folder


def kodak24(data_dir: Path) -> ImageSource:
    """Kodak24 (20 of 24: :data:`HELD_OUT_KODAK` excluded), luma and channels."""
    folder = _folder(data_dir, "kodak24")
    images = []
    for path in sorted(folder.glob("kodim*.png")):
        if path.name not in HELD_OUT_KODAK:
            images += luma_and_channels(f"kodak24/{path.name}", _read_png(path))
    return ImageSource("kodak24", "Kodak PhotoCD test images, released by Kodak for unrestricted use "
                       f"(held out, never trained on: {', '.join(HELD_OUT_KODAK)})", images)


def train400(data_dir: Path) -> ImageSource:
    """DnCNN's Train400 (greyscale crops of the Berkeley Segmentation Dataset)."""
    folder = _folder(data_dir, "train400")
    images = [(f"train400/{p.name}", _read_png(p).astype(np.float32)) for p in sorted(folder.glob("*.png"))]
    return ImageSource("train400", "Train400 (Zhang et al., TIP 2017), cut from the Berkeley Segmentation "
                       "Dataset: non-commercial research and education use only", images)


def skimage_photos(data_dir: Path | None = None) -> ImageSource:
    """The photographs bundled with scikit-image, luma and channels."""
    return _skimage_photos()


@lru_cache(maxsize=1)
def _skimage_photos() -> ImageSource:  # decoded once per process (the smoke runs and tests reuse them)
    import skimage.data

    images = []
    for name in SKIMAGE_PHOTOS:
        images += luma_and_channels(f"skimage.data.{name}", getattr(skimage.data, name)())
    return ImageSource("skimage", "scikit-image sample data (skimage.data): public domain, CC0 or no known copyright "
                       "restrictions, as each loader's docstring states", images)


def pansharpening_texture(data_dir: Path) -> ImageSource:
    """PAN and every MS band of the WorldView-2 and IKONOS pairs (remote-sensing texture).

    ``bench pansharpen`` scores reduced-resolution versions of these pairs, and the pairs
    themselves are used here only as texture for a restoration prior that pansharpening
    never calls.
    """
    import scipy.io

    images = []
    for pair in ("imgWV2.mat", "imgIK.mat"):
        path = data_dir / "pansharpening" / pair
        if not path.is_file():
            raise InputError(f"{path}: pansharpening pair not found; drop 'pansharpening' from data.sources")
        mat = scipy.io.loadmat(path, variable_names=("I_MS", "I_PAN"))
        images.append((f"{pair}:I_PAN", mat["I_PAN"].astype(np.float32)))
        ms = mat["I_MS"].astype(np.float32)
        images += [(f"{pair}:I_MS[{b}]", np.ascontiguousarray(ms[:, :, b])) for b in range(ms.shape[2])]
    return ImageSource("pansharpening", "GRIP-UNINA pansharpening pairs WorldView-2 and IKONOS (Masi et al. 2016; "
                       "Scarpa et al. 2018): non-profit use only; PAN and MS bands used as texture", images)


SOURCES: dict[str, Callable[[Path], ImageSource]] = {
    "kodak24": kodak24, "train400": train400, "skimage": skimage_photos, "pansharpening": pansharpening_texture,
}


def load_sources(names: list[str], data_dir: Path) -> list[ImageSource]:
    """The named sources (keys of :data:`SOURCES`), read from ``data_dir`` (the shared data folder)."""
    unknown = [n for n in names if n not in SOURCES]
    if unknown or not names:
        raise ParameterError(f"data.sources must be a non-empty list of {sorted(SOURCES)}; got {list(names)}")
    return [SOURCES[name](Path(data_dir)) for name in names]
