"""The method registry: what each job accepts, and the one-line refusals (wrong job, task, target)."""

import pytest

from hsi import methods
from hsi.cli import main
from hsi.config import compose
from hsi.errors import ParameterError
from hsi.jobs.run import run_job


def test_every_method_config_belongs_to_exactly_one_job():
    from hsi.config import config_files

    listed = [name for job in methods.JOBS for name in methods.names(job)]
    assert sorted(listed) == sorted(path.stem for path in config_files("method"))
    assert len(listed) == len(set(listed))


def test_restore_tasks_partition_the_restore_methods():
    assert set(methods.names("restore", "sr")) == {"bicubic", "fasthyde_bicubic", "diffusion_sr", "pnp", "pnp_sr_bm3d"}
    assert set(methods.names("restore", "inpaint")) == {"lrtv_inpaint", "diffusion_inpaint", "diffusion_inpaint_cold", "pnp", "pnp_inpaint_bm3d"}
    assert "fasthyde" in methods.names("restore", "denoise") and "fasthyde" not in methods.names("restore", "sr")
    covered = set().union(*(methods.names("restore", task) for task in methods.RESTORE_TASKS))
    assert covered == set(methods.names("restore"))


@pytest.mark.parametrize("job, name, owner", [("unmix", "fasthyde", "restore"), ("restore", "mtf_glp", "pansharpen"),
                                              ("pansharpen", "vca_fcls", "unmix")])
def test_a_method_of_another_job_is_refused_naming_the_accepted_ones(job, name, owner):
    with pytest.raises(ParameterError) as error:
        methods.load(job, name)
    message = str(error.value)
    assert f"{'an' if owner == 'unmix' else 'a'} {owner} method" in message and ", ".join(methods.names(job)) in message
    assert "\n" not in message


def test_a_task_the_method_cannot_do_is_refused():
    with pytest.raises(ParameterError, match="cannot do task=sr.*bicubic, diffusion_sr, fasthyde_bicubic"):
        methods.load("restore", "fasthyde", task="sr")
    with pytest.raises(ParameterError, match="cannot do task=denoise"):
        methods.load("restore", "lrtv_inpaint", task="denoise")


def test_task_sr_without_a_method_gets_the_default_sr_method():
    cfg = compose("restore", ["task=sr"])
    assert cfg.method_name == "pnp_sr_bm3d" == cfg.task_methods.sr
    assert compose("restore", ["task=sr", "method=bicubic"]).method_name == "bicubic"
    assert compose("restore", []).method_name == "auto"


def test_the_built_method_offers_the_job_interface():
    assert isinstance(methods.load("restore", "tv"), methods.RestoreMethod)  # a cube function, wrapped
    unmixer = methods.load("unmix", "vca_fcls")
    assert isinstance(unmixer, methods.UnmixMethod) and unmixer.name == "vca_fcls"
    assert isinstance(methods.load("pansharpen", "gsa"), methods.PansharpenMethod)


def test_restore_scale_comes_from_the_job_setting_through_hydra():
    assert methods.load("restore", "bicubic", scale=3, task="sr").scale == 3
    assert methods.load("restore", "fasthyde_bicubic", scale=2, task="sr").scale == 2


@pytest.mark.parametrize("job, overrides", [
    ("restore", ["method._target_=builtins.open", "+method.file=X", "+method.mode=w"]),
    ("unmix", ["method.abundances._target_=builtins.open", "+method.abundances.file=X"]),
    ("restore", ["method=fasthyde_bicubic", "method.steps.1._target_=builtins.open", "+method.steps.1.file=X"]),
    ("pansharpen", ["method=rho_pnn", "method.start._target_=builtins.open", "+method.start.file=X"]),
    ("train", ["trainer._target_=builtins.open", "+trainer.file=X"]),
    ("bench", ["suite._target_=builtins.open", "+suite.file=X"]),
], ids=["restore-top", "unmix-nested", "restore-list-nested", "pansharpen-nested", "train", "bench"])
def test_a_foreign_target_from_the_command_line_is_refused_and_creates_nothing(tmp_path, monkeypatch, capsys, job, overrides):
    monkeypatch.chdir(tmp_path)
    assert main([job, *overrides, f"output={tmp_path / 'out.tif'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "builtins.open" in err and "refused" in err
    assert list(tmp_path.iterdir()) == []


def test_shipped_foreign_targets_stay_allowed_but_cannot_be_swapped():
    cfg = compose("unmix", ["method=cnnaeu"])
    methods.check_targets(cfg.method, methods._shipped("cnnaeu"), "method")  # lightning.Trainer, as shipped
    swapped = compose("unmix", ["method=cnnaeu", "method.extract.trainer._target_=os.system"])
    with pytest.raises(ParameterError, match="method.extract.trainer._target_='os.system'"):
        methods.check_targets(swapped.method, methods._shipped("cnnaeu"), "method")


@pytest.mark.parametrize("job", ["restore", "unmix", "pansharpen"])
def test_help_lists_exactly_the_registry_methods(job, capsys):
    assert main([job, "--help"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("method:"))
    assert line.split("picks another: ")[1].rstrip(")").split(", ") == methods.names(job)


@pytest.mark.parametrize("overrides, message", [
    (["restore", "tiling.tile=abc"], "tiling.tile='abc': expected an integer"),
    (["restore", "quicklook=maybe"], "quicklook='maybe': expected true or false"),
    (["unmix", "method=nope"], "methods for unmix: atgp_fcls"),
])
def test_bad_settings_are_one_line(capsys, overrides, message):
    assert main(overrides) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0


@pytest.mark.parametrize("overrides, message", [
    (["restore", "metod=tv"], "unknown setting 'metod' (did you mean 'method'?); `python cli.py restore --help`"),
    (["restore", "method=tv", "method.weight_per_sigm=2"],
     "unknown setting 'method.weight_per_sigm' (did you mean 'method.weight_per_sigma'?)"),
    (["unmix", "tiling.tiel=8"], "unknown setting 'tiling.tiel' (did you mean 'tiling.tile'?)"),
])
def test_a_misspelt_setting_is_named_with_the_closest_ones_not_hydra_s_plus_advice(capsys, overrides, message):
    """Before (review s9): 'Could not override ...' with Hydra's advice `+metod=tv`, which runs the default."""
    assert main(overrides) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {err[len('error: '):]}" and message in err and err.count("\n") == 0
    assert "+" not in err


def test_run_job_refuses_an_unknown_job():
    with pytest.raises(ParameterError, match="unknown job"):
        run_job("nope", [])


def test_multirun_sweeps_every_combination(capsys):
    from hsi.cli import sweeps

    assert sweeps(["method=tv,hyres", "seed=0", "tiling.tile=64,128"]) == [
        ["method=tv", "seed=0", "tiling.tile=64"], ["method=tv", "seed=0", "tiling.tile=128"],
        ["method=hyres", "seed=0", "tiling.tile=64"], ["method=hyres", "seed=0", "tiling.tile=128"]]
    assert main(["info", "-m", "band_table=true,false", "progress=false"]) == 0
    assert capsys.readouterr().out.count("[multirun] info") == 2


def test_benches_and_the_registry_import_no_job_and_no_cli():
    """Layers point down: benches build methods through the registry, never through a job."""
    import subprocess
    import sys

    from hsi.settings import PROJECT_ROOT

    code = ("import sys, hsi.bench.restore, hsi.bench.unmix, hsi.bench.pansharpen, hsi.bench.scale, hsi.methods\n"
            "from hsi import methods\n"
            "methods.load('restore', 'fasthyde'); methods.load('unmix', 'vca_fcls'); methods.load('pansharpen', 'gsa')\n"
            "print(sorted(m for m in sys.modules if m.startswith('hsi.jobs') or m == 'hsi.cli'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
