"""Array plumbing shared by the unmixing modules: numpy in, numpy out; torch in, torch out."""

from __future__ import annotations

import numpy as np
import torch

from hsi.errors import InputError, ParameterError

Array = torch.Tensor | np.ndarray


def as_tensor(values: Array, *, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """A torch view of ``values`` (no copy for float tensors already on ``device``).

    numpy float64 stays float64, every other numpy dtype becomes float32 unless ``dtype`` says.
    """
    if isinstance(values, torch.Tensor):
        tensor = values
        if not tensor.is_floating_point():
            tensor = tensor.to(torch.float32)
    else:
        array = np.asarray(values)
        if array.dtype != np.float64:
            array = array.astype(np.float32, copy=False)
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    if dtype is not None or device is not None:
        tensor = tensor.to(dtype=dtype or tensor.dtype, device=device or tensor.device)
    return tensor


def like_input(result: torch.Tensor, reference: Array):
    """``result`` as the kind of ``reference``: numpy for numpy inputs, a tensor otherwise."""
    if isinstance(reference, torch.Tensor):
        return result
    return result.detach().cpu().numpy()


def check_pixels(pixels: torch.Tensor, name: str = "pixels") -> None:
    """Raise unless ``pixels`` is a finite, non-empty ``(n_pixels, bands)`` matrix."""
    if pixels.ndim != 2:
        raise InputError(f"{name} must be a (n_pixels, bands) matrix; got shape {tuple(pixels.shape)}")
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise InputError(f"{name} is empty (shape {tuple(pixels.shape)})")
    # A column sum is finite unless some value is not (or the sum overflows: then look closer).
    if not bool(torch.isfinite(pixels.sum(dim=0)).all()) and not bool(torch.isfinite(pixels).all()):
        raise InputError(f"{name} contains NaN or infinite values; drop nodata pixels first")


def check_n_endmembers(n_endmembers: int, n_pixels: int, n_bands: int) -> int:
    """Validate the requested number of endmembers against the data size."""
    if isinstance(n_endmembers, bool) or not isinstance(n_endmembers, (int, np.integer)):
        raise ParameterError(f"n_endmembers must be an integer; got {n_endmembers!r}")
    n_endmembers = int(n_endmembers)
    if n_endmembers < 1:
        raise ParameterError(f"n_endmembers must be >= 1; got {n_endmembers}")
    if n_endmembers > n_bands:
        raise ParameterError(f"n_endmembers={n_endmembers} is larger than the number of bands ({n_bands})")
    if n_endmembers > n_pixels:
        raise ParameterError(f"n_endmembers={n_endmembers} is larger than the number of pixels ({n_pixels})")
    return n_endmembers


def torch_generator(rng: np.random.Generator | torch.Generator | int | None, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch generator from a seed, a numpy Generator (draws a seed from it) or a torch Generator."""
    if isinstance(rng, torch.Generator):
        return rng
    if rng is None:
        seed = int(np.random.default_rng().integers(2**63 - 1))
    elif isinstance(rng, (int, np.integer)):
        seed = int(rng)
    else:
        seed = int(rng.integers(2**63 - 1))
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator
