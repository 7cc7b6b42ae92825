"""The benchmarks still run (tiny sizes, CPU): their figures, not their speed, are checked here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_valacc  # noqa: E402


def test_bench_valacc_runs_and_checks_the_engine_against_a_float32_model(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench_valacc.main(["--n", "24", "--repeats", "1", "--device", "cpu", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["check_rel_diff"] < 1e-5
    assert set(figures["median_s"]) == {"a", "b", "c"} and figures["flop_floor_s"] > 0
    assert "(c)/(a)" in capsys.readouterr().out


def test_bench_valacc_without_the_naive_loop(tmp_path):
    out = tmp_path / "bench.json"
    assert bench_valacc.main(["--n", "8", "--repeats", "1", "--device", "cpu", "--no-naive", "--json", str(out)]) == 0
    assert set(json.loads(out.read_text())["median_s"]) == {"a", "b"}
