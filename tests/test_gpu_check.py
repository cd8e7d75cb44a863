"""benchmarks/gpu_check.sh in its reduced CPU mode: every step of the GPU check runs on tiny
settings, so that the script a GPU session runs in one go is known to work before it gets one."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("env", "tests-1", "speed", "overhead", "autocast", "torchrun")


@pytest.mark.skipif(shutil.which("timeout") is None, reason="needs coreutils' timeout")
def test_the_gpu_check_runs_every_step_in_cpu_mode(tmp_path):
    environment = dict(
        os.environ, GPU_CHECK_DEVICE="cpu", OUT=str(tmp_path), PYTHON=sys.executable
    )
    run = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    report = (tmp_path / "gpu.md").read_text()
    for name in STEPS:
        assert f"| {name} | ok |" in report, report
    assert "| IDGI(IG) |" in (tmp_path / "overhead.md").read_text()
    assert "| IDGI(IG) |" in (tmp_path / "speed.md").read_text()
    assert "| IDGI(IG) |" in (tmp_path / "autocast.md").read_text()
    assert "rank 0: cpu (gloo)" in report
    assert " passed" in report and " failed" not in report
