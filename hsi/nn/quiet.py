"""Lightning without its console lines, for a method that fits a network inside a job.

A zero-shot method (``rho_pnn``) trains a small network on the image through
:class:`lightning.Trainer`; Lightning then prints its accelerator summary ("GPU available: ...",
"TPU available: ...") and an advertising tip at INFO level for every ``Trainer``, lines a user of
``python cli.py pansharpen`` did not ask for and that say nothing about hsi's run. The training
job (``python cli.py train``) keeps them: there the Trainer is the point.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

#: Lightning's loggers (the Trainer's rank-zero messages go through their children).
LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric")
#: Warnings an inner fit makes by design: one process, no loader workers, tiny datasets.
EXPECTED_WARNINGS = ".*(num_workers|does not have many workers|GPU available|TPU available|LeafSpec).*"


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Within the block, Lightning logs only warnings and errors, and its expected warnings are ignored."""
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=EXPECTED_WARNINGS)
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
