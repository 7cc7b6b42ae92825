"""The paper's published accuracies as typed data: the 72 finetunes, their hyperparameters, the uniform and greedy soups.

The files ship with the package (reference/data/, found with importlib.resources); every loader also
takes another folder of the same layout, and names the file and line of anything malformed.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from statistics import fmean
from typing import Any

from ..methods import GREEDY_SOUP, UNIFORM_SOUP

VAL_DATASET = "ImageNet2p"
ID_TEST = "ImageNet"
OOD_DATASETS = ("ImageNetV2", "ImageNetSketch", "ImageNetR", "ObjectNet", "ImageNetA")
DATASETS = (VAL_DATASET, ID_TEST, *OOD_DATASETS)
TAU = 0.998
ROOT = resources.files("manifoldmix_core.reference") / "data"
MODELS_FILE, UNIFORM_FILE, GREEDY_FILE, HPARAMS_FILE = (
    "individual_model_results.jsonl", "uniform_soup_results.jsonl", "greedy_soup_results.jsonl", "hparam_info.json")


def require(path: Path, what: str) -> Path:
    """The path if it is a file, else FileNotFoundError naming it and what it should contain."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found; it should contain {what}")
    return path


def load_json(path: Path) -> Any:
    """A JSON file's content; a syntax error names the file and line."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg})") from exc


def accuracies(record: dict[str, Any], where: str) -> dict[str, float]:
    """One model's accuracies (fractions), checked to cover every dataset."""
    missing = [d for d in DATASETS if not isinstance(record.get(d), (int, float))]
    if missing:
        raise ValueError(f"{where}: missing or non-numeric accuracy for {missing}")
    return {d: float(record[d]) for d in DATASETS}


def _results_jsonl(path: Path) -> dict[str, dict[str, float]]:
    """A results .jsonl (one {"model_name", <dataset>: accuracy} object per line) as name -> accuracies."""
    results: dict[str, dict[str, float]] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: malformed JSON ({exc.msg})") from exc
        name = record.get("model_name") if isinstance(record, dict) else None
        if not isinstance(name, str):
            raise ValueError(f"{where}: expected an object with a string 'model_name'")
        if name in results:
            raise ValueError(f"{where}: duplicate model_name {name!r}")
        results[name] = accuracies(record, where)
    return results


def load_models(root: Path | None = None) -> dict[str, dict[str, float]]:
    """Accuracies (fractions) of the 72 CLIP ViT-B/32 finetunes: model name -> {dataset: accuracy}."""
    return _results_jsonl(require((root or ROOT) / MODELS_FILE, "one JSON line per finetuned model with its accuracy per dataset"))


def load_soups(root: Path | None = None) -> dict[str, dict[str, float]]:
    """Accuracies of the two model-soup baselines, by the names the release and our registry share (the C8 model's are in its log)."""
    soups = {}
    for name, filename in ((UNIFORM_SOUP.name, UNIFORM_FILE), (GREEDY_SOUP.name, GREEDY_FILE)):
        path = require((root or ROOT) / filename, f"a JSON line with the {name} accuracies per dataset")
        results = _results_jsonl(path)
        if name not in results:
            raise ValueError(f"{path}: no record with model_name {name!r}")
        soups[name] = results[name]
    return soups


def load_hparams(root: Path | None = None) -> dict[str, dict]:
    """Hyperparameters of each finetune (lr, wd, epochs, aug, mix, smoothing); model_0 is the LP init."""
    path = require((root or ROOT) / HPARAMS_FILE, "a JSON object model name -> hyperparameters")
    data = load_json(path)
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"{path}: expected a JSON object mapping model names to objects")
    return data


def avg_ood(acc: dict[str, float]) -> float:
    """Mean accuracy over the five OOD sets, the paper's headline robustness number."""
    missing = [d for d in OOD_DATASETS if d not in acc]
    if missing:
        raise KeyError(f"accuracies lack the OOD datasets {missing}")
    return fmean(acc[d] for d in OOD_DATASETS)
