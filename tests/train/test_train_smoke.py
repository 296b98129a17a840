"""The training job end to end on CPU (debug=smoke): checkpoint, exported prior, resume."""

import csv
import json
import math

import pytest
import torch

from hsi.jobs.run import run_job


def test_smoke_training_writes_a_loadable_prior(tmp_path):
    from hsi.nn.diffusion_prior import load_prior

    output = tmp_path / "run"
    summary = run_job("train", ["debug=smoke", f"output={output}"])["results"]
    assert summary["global_step"] == 3
    assert (output / "checkpoints" / "last.ckpt").is_file()
    with open(output / "logs" / "metrics.csv") as file:
        losses = [float(row["train/loss"]) for row in csv.DictReader(file) if row.get("train/loss")]
    assert len(losses) == 3 and all(math.isfinite(loss) for loss in losses)

    prior = load_prior(output / "prior")
    noisy = torch.randn(1, prior.channels, 16, 16, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(prior.predict_noise(noisy, 10)).all()
    assert "## Training data" in (output / "prior" / "MODEL_CARD.md").read_text()


@pytest.mark.slow
def test_training_resumes_from_the_last_checkpoint(tmp_path):
    output = tmp_path / "run"
    run_job("train", ["debug=smoke", f"output={output}"])
    # resume from last.ckpt: the step count continues instead of restarting
    again = run_job("train", ["debug=smoke", "trainer.max_steps=5", f"output={output}"])["results"]
    assert again["resumed_from"] and again["global_step"] == 5
    assert json.loads((output / "prior" / "prior_config.json").read_text())["global_step"] == 5


def test_precision_and_ddp_are_config_only():
    from hsi.config import compose

    ddp = compose("train", ["trainer=ddp"])
    assert ddp.trainer.strategy == "ddp" and ddp.trainer.precision == "bf16-mixed" and ddp.trainer.devices == -1
    assert compose("train", ["trainer=gpu"]).trainer.accelerator == "gpu"
    smoke = compose("train", ["debug=smoke"])
    assert smoke.data.synthetic > 0 and not smoke.data.pan_pairs  # no shared data needed
