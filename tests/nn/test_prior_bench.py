"""`bench prior`: the shipped prior against BM3D on held-out photographs, written as tables."""

import json

import pytest

from hsi.jobs.run import run_job
from hsi.settings import shared_data_dir


@pytest.mark.slow
def test_bench_prior_writes_denoise_and_mismatch_tables(tmp_path):
    if not (shared_data_dir() / "natural" / "kodak24").is_dir():
        pytest.skip(f"held-out Kodak images absent ({shared_data_dir()}/natural/kodak24)")
    run_job("bench", ["suite=prior", "suite.sigmas=[0.2]", "suite.mismatch=[0.5]", "suite.crop=64",
                      f"output={tmp_path}"])
    tables = json.loads((tmp_path / "prior.json").read_text())["results"]["tables"]
    (row,) = tables["denoise"]
    assert row["images"] == 4 and row["prior_psnr"] > row["noisy_psnr"] + 3 and row["bm3d_psnr"] > row["noisy_psnr"] + 3
    assert tables["mismatch"][0]["assumed_factor"] == 0.5
    assert "| sigma |" in (tmp_path / "prior.md").read_text()
