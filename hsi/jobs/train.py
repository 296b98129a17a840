"""Train a diffusion prior (Lightning; model=, data=, trainer=, experiment= config groups)."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from hsi.io.guard import check_output_folder
from hsi.jobs.common import finish, start

CHECKPOINTS = "checkpoints"
PRIOR_FOLDER = "prior"
LOGS = "logs"
REPORT = "train_report.json"


def hardware() -> str:
    """One line naming the machine the run used."""
    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()})"


def _data_lines(inventory: list[dict]) -> list[str]:
    lines = []
    for item in inventory:
        if "licence" in item:
            lines.append(f"- {item['source']}: {item['images']} images, {item['pixels'] / 1e6:.1f} M pixels, "
                         f"weight {item['weight']:g}. Licence: {item['licence']}")
        else:
            lines.append(f"- {item['source']}: {' x '.join(map(str, item['shape']))}")
    return lines or ["(none)"]


def _description(channels: int) -> list[str]:
    if channels == 1:
        return [
            "Single-channel, noise-level-conditioned diffusion prior (diffusers UNet2DModel + DDPMScheduler):",
            "a denoiser for one image at a time, such as a FastHyDe eigen-image. Load it with",
            "`hsi.nn.diffusion_prior.load_prior(folder)`; `prior.denoise(noisy, sigma)` returns the posterior",
            "mean (Tweedie) of `noisy = x + sigma * n` at the matched timestep.", "",
            "Scale: images are used as `hsi.nn.diffusion_prior.normalise` maps them, per image",
            "`(x - offset) / scale` with `offset` the midpoint and `scale` half the distance of the image's",
            "0.5 % and 99.5 % quantiles (about [-1, 1]); `sigma` is in those units (`sigma_raw / scale`).",
        ]
    return ["Diffusion prior (noise-prediction U-Net, diffusers UNet2DModel + DDPMScheduler) over normalised",
            f"{channels}-channel images. hsi's restore methods load single-channel priors only."]


def model_card(cfg: DictConfig, summary: dict, inventory: list[dict]) -> str:
    """The card written beside the exported prior: data and licences, settings, steps, hardware; no scores."""
    channels = int(cfg.model.unet.channels)
    return "\n".join([
        f"# {cfg.name}", "", *_description(channels), "",
        "## Training data", "", *_data_lines(inventory), "",
        "## Settings", "", "```yaml", OmegaConf.to_yaml(cfg.model, resolve=True).strip(), OmegaConf.to_yaml(cfg.data, resolve=True).strip(),
        OmegaConf.to_yaml(cfg.trainer, resolve=True).strip(), "```", "",
        "## Run", "",
        f"- command: `{summary['command']}`",
        f"- optimiser steps: {summary['global_step']}",
        f"- wall time: {summary['seconds']:.0f} s",
        f"- hardware: {summary['hardware']}, {summary.get('processes', 1)} training process(es)",
        f"- last logged training loss: {summary['last_loss']}", "",
        "## Scores", "", "None measured by this job: run `python cli.py bench prior` (single-channel) or",
        "`python cli.py bench restore` and quote its table here.", "",
    ])


def _command(cfg: DictConfig) -> str:
    """The command line to quote in the card: ``overrides_for_card`` if given, else this process's."""
    import shlex
    import sys

    if cfg.get("overrides_for_card"):
        return "python cli.py train " + " ".join(cfg.overrides_for_card)
    if Path(sys.argv[0]).name == "cli.py":
        return "python " + " ".join(shlex.quote(arg) for arg in sys.argv)
    return "hsi.jobs.run.run_job('train', ...) from Python"


def _last_checkpoint(folder: Path) -> Path | None:
    last = folder / CHECKPOINTS / "last.ckpt"
    return last if last.is_file() else None


def launched_worker() -> bool:
    """True in a process Lightning's DDP launcher started for a rank other than 0.

    ``strategy=ddp`` re-runs this very command once per extra device with ``LOCAL_RANK`` /
    ``NODE_RANK`` set; such a process trains its share, but the output folder, its lock, the
    exported prior and the report belong to rank 0.
    """
    return any(int(os.environ.get(name) or 0) != 0 for name in ("RANK", "LOCAL_RANK", "NODE_RANK"))


def run(cfg: DictConfig) -> dict:
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    output = Path(str(cfg.output)).expanduser()
    resume_from = _last_checkpoint(output) if cfg.resume else None
    worker = launched_worker()
    if resume_from is None and not worker:  # a fresh run: the folder must be new, empty, or given up with overwrite=true
        check_output_folder(output, (REPORT,), bool(cfg.overwrite))
    # resuming continues in the run's own folder, so its files (and an old report) are replaced
    job = None if worker else start("train", cfg, output / REPORT, inputs={}, scene_output=False, folder=output,
                                    report=output / REPORT, overwrite=bool(cfg.overwrite) or resume_from is not None)
    if job is not None:
        job.outputs.update({"folder": output, "checkpoints": output / CHECKPOINTS, "logs": output / LOGS,
                            "prior": output / PRIOR_FOLDER})
    started = time.perf_counter()
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    module = hydra.utils.instantiate(cfg.model, _convert_="all")
    checkpoints = ModelCheckpoint(dirpath=output / CHECKPOINTS, save_last=True, save_top_k=0,
                                  every_n_train_steps=int(cfg.checkpoint_every))
    logger = CSVLogger(save_dir=str(output), name=LOGS, version="")
    trainer = hydra.utils.instantiate(cfg.trainer, logger=logger, callbacks=[checkpoints],
                                      default_root_dir=str(output))
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume_from) if resume_from else None)
    trainer.save_checkpoint(output / CHECKPOINTS / "last.ckpt")  # every rank: it synchronises them
    if job is None:
        return {}
    job.timed("train", started)
    last_loss = trainer.callback_metrics.get("train/loss")
    summary = {
        "resumed_from": str(resume_from) if resume_from else None,
        "global_step": int(trainer.global_step),
        "last_loss": None if last_loss is None else float(last_loss),
        "seconds": time.perf_counter() - started,
        "hardware": hardware(),
        "processes": int(trainer.world_size),
        "command": _command(cfg),
        "data": datamodule.inventory,
    }
    prior_folder = output / PRIOR_FOLDER
    if trainer.is_global_zero:
        module.export_prior().save(prior_folder, card=model_card(cfg, summary, datamodule.inventory),
                                   extra={"name": str(cfg.name), "global_step": summary["global_step"]})
    report = finish(job, summary)
    print(f"trained {summary['global_step']} steps in {summary['seconds']:.0f} s; prior written to {prior_folder}; "
          f"report {job.outputs['report']}")
    return report
