"""Writing a scene in another storage dtype without silently losing values.

A cast is refused, with the way out named, when the values do not fit the target type's
range (unless ``clip``), when an integer type would drop their fractions (unless ``scale``
says how to quantise them: stored = round((physical - offset) / scale), and the output
records ``scale``/``offset`` so readers recover physical values), when a float type would
round large integers, or when NaN would go to an integer type with no nodata value to
stand for it. Fill values are never cast as data: they become the output's nodata.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hsi.errors import ParameterError
from hsi.scene import Scene


def parse_dtype(text) -> np.dtype:
    """A numeric numpy dtype from a name such as ``int16`` or ``float32``."""
    try:
        dtype = np.dtype(str(text))
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "uif":
        choices = "uint8, int8, uint16, int16, uint32, int32, float32, float64"
        raise ParameterError(f"dtype={text!r} is not a numeric type; choose one of {choices}")
    return dtype


@dataclass
class ValueSummary:
    """What the valid (non-fill, finite) values look like once expressed in the target's units."""

    minimum: float = math.inf
    maximum: float = -math.inf
    fractional: bool = False
    n_nonfinite: int = 0
    n_valid: int = 0


@dataclass
class Cast:
    """How blocks of ``source`` become blocks of ``template`` (the output's dtype, scale, nodata)."""

    source: Scene
    template: Scene
    requantise: bool
    clip: bool

    def values(self, raw: np.ndarray) -> np.ndarray:
        """Stored values in the output's units (before rounding and clipping)."""
        if not self.requantise:
            return raw
        physical = raw.astype(np.float64) * self.source.scale + self.source.offset
        return (physical - self.template.offset) / self.template.scale

    def missing(self, raw: np.ndarray) -> np.ndarray:
        return self.source.nodata_mask_of(raw)

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """One block, cast; fill and non-finite values become the output's nodata."""
        target = self.template.dtype
        missing = self.missing(raw)
        values = self.values(raw)
        if target.kind in "iu":
            values = np.where(missing, 0, values)
            if self.requantise:
                values = np.rint(values)
        if self.clip:
            low, high = _limits(target)
            values = np.clip(values, low, high)
        out = values.astype(target)
        if self.template.nodata is not None and missing.any():
            out[missing] = np.asarray(self.template.nodata).astype(target)
        return out


def _limits(dtype: np.dtype) -> tuple[float, float]:
    info = np.iinfo(dtype) if dtype.kind in "iu" else np.finfo(dtype)
    return float(info.min), float(info.max)


def summarize(cast: Cast, blocks) -> ValueSummary:
    """One pass over ``blocks`` (raw stored values) collecting range, fractions and NaNs."""
    summary = ValueSummary()
    for raw in blocks:
        missing = cast.missing(raw)
        if raw.dtype.kind == "f":
            fill = np.zeros(raw.shape, bool) if cast.source.nodata is None or np.isnan(cast.source.nodata) else (
                raw == np.asarray(cast.source.nodata).astype(raw.dtype))
            summary.n_nonfinite += int((~np.isfinite(raw) & ~fill).sum())
        values = cast.values(raw)[~missing]
        if values.size:
            summary.n_valid += values.size
            summary.minimum = min(summary.minimum, float(values.min()))
            summary.maximum = max(summary.maximum, float(values.max()))
            summary.fractional = summary.fractional or bool(np.any(values != np.rint(values)))
    return summary


def _number(name: str, value) -> float | None:
    """A numeric option as a float (None stays None); anything else is one line naming the option."""
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}= must be a number; got {value!r}") from None


def plan_cast(source: Scene, dtype, *, scale: float | None = None, offset: float | None = None,
              clip: bool = False, nodata: float | None = None, blocks=None) -> Cast:
    """Check that writing ``source`` as ``dtype`` keeps its values, and say how.

    ``blocks`` is an iterable of raw blocks for the one scan the checks need (skipped when
    the cast cannot lose anything). Raises :class:`ParameterError` naming the problem and
    the option that resolves it.
    """
    target = source.dtype if dtype is None else parse_dtype(dtype)
    scale, offset, nodata = (_number(name, value) for name, value in (("scale", scale), ("offset", offset), ("nodata", nodata)))
    requantise = scale is not None or offset is not None
    if scale is not None and (not np.isfinite(scale) or scale == 0):
        raise ParameterError(f"scale={scale} must be a finite, non-zero number")
    out_nodata = source.nodata if nodata is None else float(nodata)
    if out_nodata is not None and not np.isnan(out_nodata) and target.kind in "iu":
        low, high = _limits(target)
        if out_nodata != round(out_nodata) or not low <= out_nodata <= high:
            raise ParameterError(f"nodata value {out_nodata:g} cannot be stored as {target.name}; pass nodata= "
                                 f"with an integer in [{low:.0f}, {high:.0f}]")
    template = source.derived(
        dtype=target,
        scale=float(scale) if scale is not None else (1.0 if requantise else source.scale),
        offset=float(offset) if offset is not None else (0.0 if requantise else source.offset),
        nodata=out_nodata,
    )
    cast = Cast(source, template, requantise, bool(clip))
    if not requantise and np.can_cast(source.dtype, target, "safe"):
        return cast
    summary = summarize(cast, blocks if blocks is not None else ())
    _check(summary, source, target, cast, out_nodata)
    return cast


def _check(summary: ValueSummary, source: Scene, target: np.dtype, cast: Cast, out_nodata) -> None:
    where = source.describe()
    name = target.name
    if summary.n_nonfinite and target.kind in "iu" and (out_nodata is None or np.isnan(out_nodata)):
        raise ParameterError(f"{where}: {summary.n_nonfinite} NaN/inf values cannot be stored as {name}; "
                             "pass nodata=<value> to write them as that value")
    if not summary.n_valid:
        return
    low, high = _limits(target)
    span = f"[{summary.minimum:.6g}, {summary.maximum:.6g}]"
    if target.kind in "iu" and summary.fractional and not cast.requantise:
        largest = max(abs(summary.minimum), abs(summary.maximum)) or 1.0
        exponent = math.ceil(math.log10(largest / high))
        step = f"1e{exponent}"
        raise ParameterError(f"{where}: values in {span} are not whole numbers and {name} would drop their "
                             f"fractions; pass scale= to quantise them (e.g. scale={step} stores value / {step}, "
                             "recorded in the output so readers get the values back)")
    margin = 0.5 if target.kind in "iu" else 0.0
    if (summary.minimum < low - margin or summary.maximum > high + margin) and not cast.clip:
        raise ParameterError(f"{where}: values in {span} do not fit {name} [{low:.6g}, {high:.6g}]; "
                             "pass scale=/offset= to rescale them or clip=true to clip them")
    if target.kind == "f" and source.dtype.kind in "iu" and not cast.requantise:
        exact = 2.0 ** (np.finfo(target).nmant + 1)
        if max(abs(summary.minimum), abs(summary.maximum)) > exact:
            raise ParameterError(f"{where}: integers in {span} exceed {exact:.0f}, beyond which {name} rounds "
                                 "them; use float64")
