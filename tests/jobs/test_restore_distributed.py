"""``restore scheduler=tcp://...`` on a real ``dask scheduler`` + two ``dask worker`` processes.

The tiles run on the workers (each did some) and the output is bit-identical to the
one-process run of the same command, for the default method (FastHyDe's streamed path: the
eigen-image tiles go to the workers) and for a method run by the tile runner. The streamed
path's tiles each run on ``tiling.tile_threads`` (1) torch threads wherever they run, so its
output is also the same on one thread, on two, and on the workers; the tile runner's is
compared at one thread.
"""

import numpy as np
import pytest

from hsi.io import open_scene
from tests.faults._helpers import cli_env, run_cli, small_scene

pytest.importorskip("distributed", reason="dask[distributed] is in the dev extra")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from hsi.bench.dask_cluster import local_dask_cluster

    with local_dask_cluster(tmp_path_factory.mktemp("dask-logs"), n_workers=2, env=cli_env()) as running:
        yield running


def _executed_per_worker(address: str) -> dict[str, int]:
    from distributed import Client

    with Client(address, timeout="30s") as client:
        return client.run(lambda dask_worker: dask_worker.state.executed_count)


@pytest.mark.parametrize("overrides", [[], ["method=destripe_fasthyde"]], ids=["default", "tile_runner"])
def test_tiles_spread_over_two_workers_give_the_one_process_output_bit_for_bit(cluster, tmp_path, overrides):
    scene = small_scene(tmp_path / "noisy.tif", rows=96, cols=80, bands=24, seed=4)
    common = [f"input={scene}", "tiling.tile=32", "tiling.overlap=8", "tiling.eigen_tile=32", "quicklook=false",
              "progress=false", *overrides]
    here = run_cli("restore", *common, f"output={tmp_path / 'here.npy'}")
    assert here.returncode == 0, here.stderr[-2000:]
    before = _executed_per_worker(cluster["address"])
    spread = run_cli("restore", *common, f"output={tmp_path / 'spread.npy'}", f"scheduler={cluster['address']}")
    assert spread.returncode == 0, spread.stderr[-2000:]
    executed = [count - before[worker] for worker, count in _executed_per_worker(cluster["address"]).items()]
    assert min(executed) >= 1, f"tasks per worker: {executed}"
    a, b = open_scene(tmp_path / "here.npy").read(), open_scene(tmp_path / "spread.npy").read()
    assert a.shape == b.shape == (96, 80, 24)
    assert np.array_equal(a, b, equal_nan=True), f"max |difference| {np.nanmax(np.abs(a - b))}"


def test_default_restore_gives_the_same_bits_on_one_thread_two_threads_and_two_dask_workers(cluster, tmp_path):
    # 192 x 192 eigen-images: BM3D's whole-image reductions (over 32,768 values) are split over
    # torch's threads, so a tile's bits depend on its thread count; every tile runs on one.
    scene = small_scene(tmp_path / "noisy.tif", rows=192, cols=192, bands=16, seed=5)
    common = [f"input={scene}", "quicklook=false", "progress=false"]
    runs = {"one_thread": (1, []), "two_threads": (2, []), "dask": (2, [f"scheduler={cluster['address']}"]),
            "tiles_on_two_threads": (2, ["tiling.tile_threads=2"])}
    outputs = {}
    for name, (threads, extra) in runs.items():
        result = run_cli("restore", *common, f"output={tmp_path / name}.npy", *extra, threads=threads)
        assert result.returncode == 0, result.stderr[-2000:]
        outputs[name] = open_scene(tmp_path / f"{name}.npy").read()
    reference = outputs["one_thread"]
    assert np.isfinite(reference).all() and reference.shape == (192, 192, 16)
    for name in ("two_threads", "dask"):
        assert np.array_equal(outputs[name], reference), f"{name}: max |difference| {np.abs(outputs[name] - reference).max()}"
    # the scene is one where the thread count of a tile shows in the output bits
    assert not np.array_equal(outputs["tiles_on_two_threads"], reference)


def test_workers_that_import_another_hsi_are_refused_in_one_line(tmp_path):
    import shutil

    from hsi.bench.dask_cluster import local_dask_cluster
    from hsi.settings import PROJECT_ROOT

    other = tmp_path / "other-checkout"
    shutil.copytree(PROJECT_ROOT / "hsi", other / "hsi", ignore=shutil.ignore_patterns("__pycache__"))
    with open(other / "hsi" / "restore" / "auto.py", "a") as changed:
        changed.write("\n# a line this run's hsi does not have\n")
    scene = small_scene(tmp_path / "noisy.tif", rows=24, cols=24, bands=8)
    env = {**cli_env(), "PYTHONPATH": str(other)}
    with local_dask_cluster(tmp_path / "logs", n_workers=1, env=env) as running:
        result = run_cli("restore", f"input={scene}", f"output={tmp_path / 'out.npy'}", "quicklook=false",
                         "progress=false", f"scheduler={running['address']}")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and len(errors) == 1, result.stderr[-2000:]
    assert f"runs hsi from {other / 'hsi'}" in errors[0] and "PYTHONPATH" in errors[0]
    assert not (tmp_path / "out.npy").exists()


def test_a_scheduler_without_workers_is_refused_instead_of_waiting_for_ever(tmp_path):
    from distributed import Client

    from hsi.bench.dask_cluster import local_dask_cluster
    from hsi.distributed import check_workers
    from hsi.errors import SchedulerLostError

    with local_dask_cluster(tmp_path / "logs", n_workers=0, env=cli_env()) as running:
        with Client(running["address"], timeout="30s") as client:
            with pytest.raises(SchedulerLostError, match="no Dask worker joined within 1 s"):
                check_workers(client, running["address"], timeout_s=1)
