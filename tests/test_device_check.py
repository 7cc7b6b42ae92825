"""The GPU check (benchmarks/device/) runs, every step of it, on the CPU at tiny sizes, so it cannot rot before a GPU sees it.

The wheels are built by build_wheels.sh into a temporary folder (through the indexes pip is configured with, as the
project's own install), and run.sh installs them exactly as on the device machine; open_clip and nevergrad must then
load from them. Any step that fails, a missing module of ours included, fails the script and so these tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from helpers import REPO

from manifoldmix_core import methods

DEVICE = REPO / "benchmarks" / "device"
STEPS = ("== the carried wheels", "== ViT-B/32 ValAcc", "== demo ViT", "== the demo run on cpu", "== summary")


@pytest.fixture(scope="module")
def carried_wheels(tmp_path_factory):
    """build_wheels.sh's wheels (wheels.txt) in a temporary folder, not the repo's .whl."""
    wheels = tmp_path_factory.mktemp("wheels")
    subprocess.run(["bash", str(DEVICE / "build_wheels.sh")], env={**os.environ, "PYTHON": sys.executable, "WHEELS": str(wheels)},
                   check=True, capture_output=True, text=True, timeout=300)
    return wheels


def run_check(wheels, out, *args: str) -> subprocess.CompletedProcess:
    """run.sh on the CPU with this Python, the given wheels, its figures and log in out."""
    env = {**os.environ, "PYTHON": sys.executable, "WHEELS": str(wheels), "OUT": str(out)}
    # ~7 min of wall time on the 2-core machine under a load of 8; the limit stays under pytest's 900 s so a hang shows its output
    return subprocess.run(["bash", str(DEVICE / "run.sh"), "--device", "cpu", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=850)


def pinned() -> dict[str, str]:
    """wheels.txt's pins: distribution name -> version."""
    lines = [line.split("==") for line in (DEVICE / "wheels.txt").read_text().splitlines() if line and not line.startswith("#")]
    return {name: version for name, version in lines}


@pytest.mark.slow
def test_device_check_runs_every_step_on_the_cpu_and_leaves_its_figures_in_one_file(carried_wheels, tmp_path):
    out = tmp_path / "out"
    proc = run_check(carried_wheels, out, "--n", "8", "--repeats", "1", "--tiny-demo")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert sorted(p.name for p in out.iterdir()) == ["device_check.json", "log.txt"]
    log = (out / "log.txt").read_text()
    assert [step for step in STEPS if step in log] == list(STEPS)

    figures = json.loads((out / "device_check.json").read_text())
    assert set(figures) == {"packages", "bench_vitb32", "bench_demo", "demo"}  # nvidia_smi only on a GPU
    packages = figures["packages"]
    pins = pinned()
    assert packages["open_clip"]["version"] == pins["open_clip_torch"] and packages["nevergrad"]["version"] == pins["nevergrad"]
    assert packages["device_name"] == "CPU" and packages["cuda"] is False and packages["torch"]["version"]

    for section, arch, timed in (("bench_vitb32", "ViT-B-32", {"a", "b"}), ("bench_demo", "demo", {"a", "b", "c"})):
        bench = figures[section]
        assert (bench["arch"], bench["n"], set(bench["median_s"])) == (arch, 8, timed)
        assert bench["check_rel_diff"] < 1e-5 and all(t > 0 for t in bench["median_s"].values())

    demo = figures["demo"]
    assert demo["device"] == "cpu" and demo["seconds"] > 0 and demo["evaluations"] >= 3  # two ingredients, then the soups
    assert list(demo["methods"]) == methods.defaults()  # each method's module imported and run, as on the GPU
    for entry in demo["methods"].values():
        assert set(entry["accuracy"]) == {"val", "test"} and 0.5 < entry["valacc"] <= 1


@pytest.mark.slow
def test_a_wheel_missing_from_the_carried_ones_fails_the_check_and_leaves_no_figures(carried_wheels, tmp_path):
    """Here nevergrad would still import from this venv; on the device machine it would not: the check must stop."""
    wheels, out = tmp_path / "wheels", tmp_path / "out"
    wheels.mkdir()
    for wheel in carried_wheels.glob("*.whl"):
        if not wheel.name.startswith("nevergrad-"):
            shutil.copy(wheel, wheels)
    out.mkdir()
    (out / "device_check.json").write_text("{}")  # an earlier run's figures
    proc = run_check(wheels, out, "--n", "8", "--repeats", "1", "--tiny-demo")
    assert proc.returncode != 0
    log = (out / "log.txt").read_text()
    assert "nevergrad did not load from the carried wheels" in log and "device check FAILED at:" in log
    assert "== ViT-B/32 ValAcc" not in log and not (out / "device_check.json").exists()
