"""An unmixing method = an endmember step and an abundance step, composed by config.

``conf/method/<name>.yaml`` builds an :class:`Unmixer` from two callables, so the job and
the benchmark never branch on the method name:

- ``extract(pixels, n_endmembers, rng=...)`` returns endmembers (bands, k), or
  ``(endmembers, abundances)`` for blind methods;
- ``abundances(pixels, endmembers)`` returns (n_pixels, k); it is what the job streams
  over the scene window by window after the endmembers were learnt on a sample. A step
  that learns from the scene (``fit(pixels, endmembers)``, e.g.
  :class:`hsi.unmix.scaled.ScaledAbundances`) is fitted once on that sample first, so every
  window is unmixed by the same model.

Library methods (SUnSAL, CLSUnSAL) have no extraction step (``extract=None``): their
"endmembers" are the members of a spectral library given by the user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from hsi.arrays import Array, as_tensor, like_input
from hsi.errors import ParameterError
from hsi.unmix.abundance import fcls


def _parameters(fn) -> set[str]:
    """Keyword names ``fn`` accepts (through ``functools.partial``)."""
    import inspect

    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()


@dataclass
class Unmixer:
    """Endmember extraction followed by abundance estimation.

    Attributes
    ----------
    name : the method's name (reports, tables).
    extract : ``(pixels, n_endmembers, rng=...) -> endmembers | (endmembers, abundances)``, or
        None for library methods (endmembers come from a spectral library).
    abundances : ``(pixels, endmembers) -> abundances``; default exact FCLS.
    normalize : pre-processing the method expects ("none" or "l2"); applied by the caller.
    """

    name: str
    extract: Callable[..., Any] | None
    abundances: Callable[..., Any] = fcls
    normalize: str = "none"
    params: dict = field(default_factory=dict)

    @property
    def needs_library(self) -> bool:
        """True when the method has no extraction step and unmixes onto a spectral library."""
        return self.extract is None

    @property
    def spatial(self) -> bool:
        """True when the extraction step can use the pixels' grid (``image_shape=``)."""
        return self.extract is not None and "image_shape" in _parameters(self.extract)

    def _extract(self, pixels: Array, n_endmembers: int, rng, image_shape=None, fit_record: dict | None = None):
        if self.extract is None:
            raise ParameterError(f"method {self.name!r} unmixes onto a spectral library: pass library=FILE")
        options = {}
        if image_shape is not None and self.spatial:
            options["image_shape"] = tuple(image_shape)
        if fit_record is not None and "fit_record" in _parameters(self.extract):
            options["fit_record"] = fit_record
        return self.extract(pixels, n_endmembers, rng=rng, **options)

    def endmembers(self, pixels: Array, n_endmembers: int, rng=None, image_shape=None, fit_record: dict | None = None):
        """Endmembers (bands, k) learnt from ``pixels`` (n_pixels, bands), row-major on ``image_shape`` if given.

        ``fit_record``: a dict that extractors taking ``fit_record=`` fill with how the fit went
        (for the job's report: e.g. which restart was kept and the objectives of all of them).
        """
        result = self._extract(pixels, n_endmembers, rng, image_shape, fit_record)
        return result[0] if isinstance(result, tuple) else result

    def abundance_step(self, pixels: Array, endmembers: Array) -> tuple[Callable[..., Any], dict | None]:
        """The abundance function to apply to every pixel, and what the report says of it.

        Steps with a ``fit(pixels, endmembers)`` are fitted on ``pixels`` (the job's sample);
        others are returned as they are (record None).
        """
        fit = getattr(self.abundances, "fit", None)
        if fit is None:
            return self.abundances, None
        fitted = fit(pixels, endmembers)
        return fitted, fitted.record()

    def unmix(self, pixels: Array, n_endmembers: int, rng=None, image_shape=None):
        """``(endmembers (bands, k), abundances (n_pixels, k), abundance record or None)`` for in-memory pixels.

        ``image_shape`` (rows, cols) says the pixels are a whole image in row-major order;
        spatial methods (SS-NMF, RLSU, CNNAEU) then use the pixel grid. The record is what the
        abundance step learnt from the pixels (see :meth:`abundance_step`).
        """
        result = self._extract(pixels, n_endmembers, rng, image_shape)
        endmembers = result[0] if isinstance(result, tuple) else result
        endmembers = like_input(as_tensor(endmembers), pixels)
        step, record = self.abundance_step(pixels, endmembers)
        return endmembers, step(pixels, endmembers), record

    def __call__(self, pixels: Array, n_endmembers: int, rng=None, image_shape=None):
        """``(endmembers (bands, k), abundances (n_pixels, k))``: :meth:`unmix` without the record."""
        return self.unmix(pixels, n_endmembers, rng, image_shape)[:2]
