"""Torch's idle worker threads spin briefly, then sleep, so a shared machine does not stall hsi.

libgomp (torch's OpenMP runtime on Linux) lets an idle worker thread spin 300,000 times
before it sleeps. When another process holds a core (a second job, a batch worker, a
colleague's run), the spinning threads take the time slices that the thread holding the work
needs, and each of the thousands of small parallel regions in a fit waits on them. The blind
unmixing fit on the shipped sample, two threads, 2-core machine (``/tmp`` scratch runs,
2026-12-05): idle, 2.8-2.9 s with the default spin, 2.9 s with 10,000 spins, 4.7 s with
passive waiting; beside one busy process, 9.4 s to over 40 s with the default spin, 9.2-9.9 s
with 10,000 spins, 5.1 s passive (5.6 s on one thread). 10,000 spins keep the idle speed and
remove the long stalls. The runtime reads the setting once, when torch loads it, so it is set
before ``import torch``.
"""

from __future__ import annotations

import os

#: Spins of an idle OpenMP thread before it sleeps (libgomp's default is 300,000).
SPIN_COUNT = 10_000


def limit_spinning() -> bool:
    """Set ``GOMP_SPINCOUNT`` to :data:`SPIN_COUNT` unless the user chose a wait policy or a spin count.

    Call it before torch is imported. Returns whether the setting was made here.
    """
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return False
    os.environ["GOMP_SPINCOUNT"] = str(SPIN_COUNT)
    return True
