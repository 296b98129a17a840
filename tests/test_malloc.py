"""The CLI's process shares one malloc arena between its threads (hsi/malloc.py)."""

import os
import subprocess
import sys

import pytest

from hsi.settings import PROJECT_ROOT

SCRIPT = """
import ctypes, sys, threading
from hsi.malloc import limit_arenas
capped = limit_arenas() if sys.argv[1] == "cap" else False
barrier = threading.Barrier(4)
def work():
    barrier.wait()  # the four threads allocate at the same time
    for _ in range(200):
        blocks = [bytearray(4096) for _ in range(100)]
        del blocks
threads = [threading.Thread(target=work) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
print(capped)
sys.stdout.flush()
ctypes.CDLL(None).malloc_stats()  # glibc: one 'Arena N:' paragraph per arena, on stderr
"""


def _arenas(mode: str, **env) -> tuple[int, str]:
    base = {key: value for key, value in os.environ.items() if key != "MALLOC_ARENA_MAX"}
    run = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, cwd=PROJECT_ROOT,
                         env={**base, "PYTHONPATH": str(PROJECT_ROOT), **env}, check=True)
    return run.stderr.count("Arena "), run.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt and malloc_stats")
def test_threads_share_one_arena_unless_the_user_set_malloc_arena_max():
    free, _ = _arenas("free")
    capped, said = _arenas("cap")
    user, user_said = _arenas("cap", MALLOC_ARENA_MAX="4")
    assert free > 1, "threads allocating at once get arenas of their own without the cap"
    assert (capped, said) == (1, "True")
    assert user > 1 and user_said == "False"  # the user's MALLOC_ARENA_MAX wins


TRIM = """
import sys
from hsi.malloc import release_free_memory
def anonymous_mb():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("RssAnon:")) / 1024
blocks = [bytearray(8192) for _ in range(8000)]  # 64 MB in small heap blocks
top = bytearray(8192)  # allocated last: the heap cannot shrink from its top
del blocks
before = anonymous_mb()
released = release_free_memory()
print(released, before - anonymous_mb())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_freed_heap_memory_below_a_live_block_goes_back_to_the_system():
    run = subprocess.run([sys.executable, "-c", TRIM], capture_output=True, text=True, cwd=PROJECT_ROOT,
                         env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, check=True)
    released, dropped_mb = run.stdout.split()
    assert released == "True" and float(dropped_mb) > 48
