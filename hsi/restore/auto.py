"""``restore method=auto``: diagnose the scene's noise, then restore with the model that fits it.

A tile method like the others (``fit(blocks)`` on the scene-wide sample, then ``__call__`` on
batches of tiles): ``fit`` runs :func:`hsi.estimate.diagnosis.diagnose_noise` on the sampled
blocks, picks one of three configured methods by the diagnosed model and fits it on the same
blocks, so every tile is restored by the same method with the same statistics:

- ``gaussian`` (i.i.d. or band-dependent Gaussian): FastHyDe, which whitens each band by its
  own noise level; each whitened eigen-image is denoised by BM3D or by the diffusion prior
  (scaled scene-wide to its range), whichever has the lower SURE on the scene's sample
  (:class:`hsi.restore.eigen_denoisers.SureChoiceEigenDenoiser`): the prior wins on photographic
  textures, BM3D on piecewise-smooth fields with straight edges, at every noise level measured,
  so the choice follows the content, which SURE sees without a clean image;
- ``stripes`` (column offsets, no impulses or dead lines): destriping, then that FastHyDe;
- ``mixed`` (impulses or dead lines, no stripes): robust low-rank outlier removal, then
  FastHyDe (``robust_fasthyde`` without its destriping step, which on a stripe-free synthetic
  scene with field edges along the columns costs several dB: ``tests/restore/test_auto.py``);
- ``mixed_stripes`` (impulses or dead lines with stripes, or stripes at an angle to the columns):
  ``robust_fasthyde`` with destriping along the stripes' measured direction.

With ``restore_task="destripe"`` (``restore task=destripe``) the user has said the scene is striped:
a diagnosis without stripes then takes the branch with destriping (``gaussian`` ->
``stripes``, ``mixed`` -> ``mixed_stripes``), since the stripe test misses stripes it cannot
see (on scene edges, or on many neighbouring bands at once) and the task must not quietly
become a plain denoising.

:meth:`AutoDenoiser.report` gives the diagnosis, the choice and the eigen-image denoisers
chosen (with their SURE) for the job's report.
"""

from __future__ import annotations

import numpy as np

from hsi.errors import ParameterError
from hsi.estimate.diagnosis import MODELS, NoiseDiagnosis, diagnose_noise


class AutoDenoiser:
    """Choose the restoration method from the scene's noise diagnosis.

    Parameters
    ----------
    gaussian, stripes, mixed, mixed_stripes : tile methods (objects with ``fit(blocks)`` and
        ``__call__(batch)``), one per model of :data:`hsi.estimate.diagnosis.MODELS`
        (``conf/method/auto.yaml`` builds them).
    restore_task : the restore job's task; ``"destripe"`` always takes a branch with destriping.
    """

    def __init__(self, gaussian, stripes, mixed, mixed_stripes, restore_task: str = "denoise"):
        if restore_task not in ("denoise", "destripe"):
            raise ParameterError(f"method=auto does task=denoise or task=destripe; got task={restore_task!r}")
        self.restore_task = restore_task
        self.methods = dict(zip(MODELS, (gaussian, stripes, mixed, mixed_stripes)))
        for model, method in self.methods.items():
            if not (hasattr(method, "fit") and callable(method)):
                raise ParameterError(f"{model}= must be a tile method with fit(blocks); got {type(method).__name__}")
        self.diagnosis: NoiseDiagnosis | None = None
        self.model: str | None = None
        self.chosen = None

    @property
    def noise_std(self):
        """The noise per band of the chosen branch's denoiser: for destriping + FastHyDe,
        FastHyDe's (the destriping step's wavelet estimate resolves no less than the quantisation
        noise on finely quantised bands: :func:`hsi.estimate.noise.noise_std_from_blocks`)."""
        steps = getattr(self.chosen, "steps", [self.chosen])
        estimates = [getattr(step, "noise_std", None) for step in steps]
        return next((estimate for estimate in reversed(estimates) if estimate is not None), None)

    def fit(self, blocks: np.ndarray) -> "AutoDenoiser":
        self.diagnosis = diagnose_noise(blocks)
        self.model = self.diagnosis.model
        if self.restore_task == "destripe":
            self.model = {"gaussian": "stripes", "mixed": "mixed_stripes"}.get(self.model, self.model)
        self.chosen = self.methods[self.model]
        self.chosen.fit(blocks)
        return self

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if self.chosen is None:
            raise ParameterError("method=auto must be fitted on the scene (fit(blocks)) before it restores tiles")
        return self.chosen(batch)

    def report(self, bands: np.ndarray | None = None) -> dict | None:
        """The diagnosis and the model it chose (the method of that model is in the job's config).

        ``bands``: the scene's index of each band the method saw (when empty bands were left
        out); band lists are given in scene indices and per-band arrays come with them.
        """
        if self.diagnosis is None:
            return None
        diagnosis = self.diagnosis.as_dict()
        if bands is not None:
            bands = np.asarray(bands)
            diagnosis["bands"] = bands.tolist()
            for key in ("striped_bands", "clipped_bands"):
                diagnosis[key] = bands[diagnosis[key]].tolist()
        report = {"chosen": self.model, "diagnosis": diagnosis}
        if self.model != self.diagnosis.model:
            report["why"] = f"task=destripe: destriping although the diagnosis found {self.diagnosis.model} noise"
        eigen = _denoiser_report(self.chosen)
        if eigen is not None:
            report["eigen_denoiser"] = eigen
        return report


def _denoiser_report(method) -> dict | None:
    """The eigen-image denoiser of ``method`` or of its first step that has one (None for others)."""
    for step in [method, *getattr(method, "steps", [])]:
        if callable(getattr(step, "denoiser_report", None)):
            return step.denoiser_report()
    return None
