"""Idle OpenMP threads spin briefly in hsi's processes unless the user chose otherwise (hsi/threads.py says why)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hsi.threads import SPIN_COUNT, limit_spinning

ROOT = Path(__file__).resolve().parents[1]
PROBE = ("import os, runpy, sys\n"
         "sys.argv = ['cli.py', '--help']\n"
         "try:\n    runpy.run_path('cli.py', run_name='__main__')\n"
         "except SystemExit:\n    pass\n"
         "print(os.environ.get('GOMP_SPINCOUNT'))\n")


def test_limit_spinning_only_when_the_user_chose_nothing(monkeypatch):
    for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        monkeypatch.delenv(name, raising=False)
    assert limit_spinning() is True and os.environ["GOMP_SPINCOUNT"] == str(SPIN_COUNT)
    monkeypatch.setenv("GOMP_SPINCOUNT", "5")
    assert limit_spinning() is False and os.environ["GOMP_SPINCOUNT"] == "5"
    monkeypatch.delenv("GOMP_SPINCOUNT")
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert limit_spinning() is False and "GOMP_SPINCOUNT" not in os.environ


@pytest.mark.parametrize("given, expected", [({}, str(SPIN_COUNT)), ({"GOMP_SPINCOUNT": "5"}, "5"),
                                             ({"OMP_WAIT_POLICY": "PASSIVE"}, "None")])
def test_the_cli_process_runs_with_the_setting(given, expected):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")} | given
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == expected, out.stderr
