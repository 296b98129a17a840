"""glibc's allocator for hsi's processes: one arena shared by all threads, freed pages handed back.

glibc gives threads that allocate at the same time arenas of their own (up to 8 per core),
and an arena returns freed memory to the system only from its top. The streamed restore
denoises tiles on several threads, each allocating and freeing tens of MB per tile: with an
arena per thread, freed blocks stay stranded in each and the resident set grows through the
pass (the before/after peaks are in ``bench_results/tpmem_before`` and ``tpmem_after``). The
tile threads spend their time in torch's kernels, not in ``malloc``, so they rarely wait on
the shared arena.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

#: ``mallopt`` parameter number of ``M_ARENA_MAX`` (glibc's malloc.h).
M_ARENA_MAX = -8


def _libc():
    return ctypes.CDLL(ctypes.util.find_library("c") or None)


def limit_arenas(count: int = 1) -> bool:
    """Cap glibc's malloc arenas at ``count`` for this process, unless ``MALLOC_ARENA_MAX`` is set.

    Call it before threads start allocating (arenas already made stay). Returns whether the
    cap was set: False on a C library without ``mallopt`` (musl, macOS) or when the user's
    ``MALLOC_ARENA_MAX`` decides.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        return bool(_libc().mallopt(M_ARENA_MAX, int(count)))
    except (OSError, AttributeError):
        return False


def release_free_memory() -> bool:
    """Hand the pages of freed heap memory back to the system (glibc's ``malloc_trim(0)``).

    An arena returns memory on its own only from its top; what a finished step freed below
    a block still in use stays resident. Called between the steps of a job whose temporary
    allocations are done (the fit's sample statistics, the denoising pass), so the next step
    starts from what is live. Returns False where there is no ``malloc_trim``.
    """
    try:
        _libc().malloc_trim(0)
        return True
    except (OSError, AttributeError):
        return False
