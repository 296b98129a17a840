"""How many endmembers (``n_endmembers=auto``): HySime, HFC / NWHFC virtual dimensionality, or the MNF count."""

from __future__ import annotations

from hsi.arrays import Array, as_tensor
from hsi.errors import InputError, ParameterError

METHODS = ("hysime", "hfc", "nwhfc", "mnf")
#: Methods that need differences of spatially adjacent pixels besides the pixels.
SPATIAL_METHODS = ("mnf",)


def estimate_n_endmembers(
    pixels: Array,
    *,
    method: str = "hysime",
    false_alarm: float = 1e-3,
    shift_differences: Array | None = None,
) -> int:
    """Number of endmembers from the data.

    Parameters
    ----------
    pixels : (n_pixels, bands), finite.
    method : "hysime" (signal-subspace dimension, noise by regression), "hfc"
        (Harsanyi-Farrand-Chang virtual dimensionality at ``false_alarm``), "nwhfc"
        (HFC on noise-whitened data: fair when bands have unequal noise) or "mnf" (directions
        of spatially coherent signal above a random-matrix edge, noise from neighbour
        differences: :func:`hsi.estimate.subspace.mnf_dimension`).
    false_alarm : the Neyman-Pearson false-alarm probability of HFC / NWHFC.
    shift_differences : (m, bands) differences of adjacent pixels, pre-processed like
        ``pixels``; needed by "mnf" only.

    Returns
    -------
    k : int >= 2 (a single endmember is not an unmixing problem), at most bands.

    References
    ----------
    J. M. Bioucas-Dias and J. M. P. Nascimento, "Hyperspectral subspace identification",
    IEEE TGRS 46(8), 2008. C.-I Chang and Q. Du, "Estimation of number of spectrally
    distinct signal sources in hyperspectral imagery", IEEE TGRS 42(3), 2004. A. A. Green et
    al., "A transformation for ordering multispectral data in terms of image quality with
    implications for noise removal", IEEE TGRS 26(1), 1988.
    """
    from hsi.estimate.noise import estimate_noise_regression
    from hsi.estimate.subspace import hfc, hysime, mnf_dimension

    data = as_tensor(pixels).double()
    if data.shape[0] <= data.shape[1]:
        raise InputError(
            f"n_endmembers=auto needs more pixels ({data.shape[0]}) than bands ({data.shape[1]})"
        )
    if method == "hysime":
        noise, noise_cov = estimate_noise_regression(data)
        k = int(hysime(data, noise, noise_cov)[0])
    elif method in ("hfc", "nwhfc"):
        k = int(hfc(data, false_alarm, noise_whitened=method == "nwhfc"))
    elif method == "mnf":
        if shift_differences is None:
            raise ParameterError("n_endmembers method 'mnf' needs shift_differences (differences of adjacent pixels)")
        k = mnf_dimension(data, shift_differences)
    else:
        raise ParameterError(f"n_endmembers method must be one of {METHODS}; got {method!r}")
    return int(min(max(k, 2), data.shape[1]))
