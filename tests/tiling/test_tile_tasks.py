"""Tile tasks give the same bits however they run; tiles come back in order with a bounded number in flight."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from hsi.cli import main
from hsi.io import open_scene
from hsi.tiling.subspace_stream import denoise_in_tiles
from hsi.tiling.tasks import FixedThreads, run_in_order, torch_threads

from tests.faults._helpers import small_scene


def centred(images: np.ndarray) -> np.ndarray:
    """Each image minus its mean: a whole-image reduction, split over torch's threads above 32,768 values."""
    return np.stack([(x - x.mean()).numpy() for x in torch.from_numpy(images)])


@pytest.fixture
def images():
    return (np.random.default_rng(3).normal(0, 1, (2, 360, 360)) * 100 + 7).astype(np.float32)


def test_a_whole_image_reduction_depends_on_the_thread_count(images):
    # the premise of FixedThreads: without it, the same tile gives other bits on another thread count
    with torch_threads(1):
        one = centred(images)
    with torch_threads(2):
        two = centred(images)
    assert not np.array_equal(one, two)


@pytest.mark.parametrize("caller_threads,workers,executor", [(1, 1, False), (2, None, False), (2, 3, False),
                                                            (2, 1, True)],
                         ids=["one_thread", "two_threads", "three_workers", "executor"])
def test_denoised_tiles_are_the_same_bits_however_they_run(images, caller_threads, workers, executor):
    with torch_threads(1):
        expected = centred(images)  # one tile of the whole image on one thread
    target = np.empty_like(images)
    with torch_threads(caller_threads):
        if executor:
            with ThreadPoolExecutor(2) as pool:
                n = denoise_in_tiles(centred, images, target, tile=360, context=0, executor=pool)
        else:
            n = denoise_in_tiles(centred, images, target, tile=360, context=0, workers=workers)
        assert torch.get_num_threads() == caller_threads  # the caller's thread count is left as it was
    assert n == 1 and np.array_equal(target, expected)


def test_many_tiles_on_two_workers_equal_one_worker(images):
    one, two = np.empty_like(images), np.empty_like(images)
    with torch_threads(2):
        denoise_in_tiles(centred, images, one, tile=200, context=30, workers=1)
        denoise_in_tiles(centred, images, two, tile=200, context=30, workers=2)
    assert np.array_equal(one, two)


def test_results_come_in_order_with_at_most_in_flight_items_taken_ahead():
    taken, running, most = [], [0], [0]
    lock = threading.Lock()

    def items():
        for i in range(12):
            taken.append(i)
            yield i

    def slow_first(i):  # early items finish last
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02 * (12 - i) / 12)
        with lock:
            running[0] -= 1
        return i * i

    results = []
    for result in run_in_order(slow_first, items(), workers=3, in_flight=4):
        results.append(result)
        assert len(taken) - len(results) <= 4  # items submitted and not yet returned
    assert results == [i * i for i in range(12)]
    assert 2 <= most[0] <= 3  # tiles ran side by side, never more than the workers


def test_a_failing_tile_raises_and_the_items_after_the_window_are_never_started():
    started = []

    def fail_on_three(i):
        started.append(i)
        if i == 3:
            raise ValueError("tile 3 failed")
        return i

    with pytest.raises(ValueError, match="tile 3 failed"):
        list(run_in_order(fail_on_three, range(100), workers=2, in_flight=4))
    assert max(started) < 3 + 4 + 1


def test_fixed_threads_refuses_zero():
    from hsi.errors import ParameterError

    with pytest.raises(ParameterError, match="tile_threads must be >= 1; got 0"):
        FixedThreads(centred, 0)


def test_restore_on_two_threads_equals_one_thread_and_leaves_the_thread_count(tmp_path):
    scene = small_scene(tmp_path / "in.tif", rows=40, cols=36, bands=12)
    args = ["restore", f"input={scene}", "method=fasthyde", "quicklook=false", "progress=false", "tiling.eigen_tile=16",
            "+method.patch=4", "+method.radius=6", "+method.step=2"]
    with torch_threads(1):
        assert main([*args, f"output={tmp_path / 'one.npy'}"]) == 0
    with torch_threads(2):
        assert main([*args, f"output={tmp_path / 'two.npy'}"]) == 0
        assert torch.get_num_threads() == 2
    assert np.array_equal(open_scene(tmp_path / "one.npy").read(), open_scene(tmp_path / "two.npy").read())
