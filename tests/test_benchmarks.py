"""The benchmarks still run (tiny sizes, CPU): their figures, not their speed, are checked here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

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


def _granularity_rows(medium_test: list[float]) -> list[dict]:
    import table1_demo
    rows = []
    for level, test in (("whole", [0.900, 0.902, 0.904]), ("medium", medium_test)):
        rows.append({"granularity": level, "optimizer": "OnePlusOne", "runs": len(test), "test": (sum(test) / len(test), 0.0),
                     "avg_ood": (0.66, 0.0), "test_ci": table1_demo.seed_interval(test), "avg_ood_ci": 0.0})
    rows.append({"granularity": "medium", "optimizer": "Cobyla", "runs": 1, "test": (0.99, 0.0), "avg_ood": (0.1, 0.0),
                 "test_ci": 0.0, "avg_ood_ci": 0.0})  # a single deterministic run says nothing about intervals
    return rows


def test_granularity_verdict_follows_the_intervals_over_seeds():
    import table1_demo
    assert table1_demo.seed_interval([0.900, 0.902, 0.904]) == pytest.approx(4.30 * 0.002 / 3 ** 0.5)
    assert table1_demo.seed_interval([0.9]) == 0.0
    same = table1_demo.granularity_verdict(_granularity_rows([0.899, 0.903, 0.905]))
    apart = table1_demo.granularity_verdict(_granularity_rows([0.920, 0.921, 0.922]))
    assert same.startswith("no: every granularity") and "3 seeds of OnePlusOne" in same
    assert apart.startswith("yes") and "ID test: medium +1.9 pp" in apart and "avg OOD: no granularity apart" in apart
