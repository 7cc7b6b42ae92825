"""Evaluation sets in the draft: the held-out set, ID test sets and OOD sets, checked and previewed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from manifoldmix_core import jsonfile, sources
from manifoldmix_core.errors import DamagedFile

from .paths import inside_roots

ROLES = ("held-out", "ID test", "OOD")


def demo_datasets() -> dict:
    """The demo world's sets as draft fields: held-out 'val', ID test 'test', the five shifted styles as OOD."""
    from manifoldmix_core.demo.splits import dataset_sections  # the engine's split names (numpy, no torch)
    return dataset_sections()


def parse_subset(text: str) -> list[int] | None:
    """'1, 5, 9' -> [1, 5, 9]: the model classes this set's classes correspond to, in order."""
    text = text.strip()
    if not text:
        return None
    try:
        return [int(x) for x in text.replace(",", " ").split()]
    except ValueError as exc:
        raise ValueError(f"class subset must be model class numbers separated by commas, got {text!r}") from exc


def parse_map(text: str) -> dict | None:
    """'{"3": 0, "7": 0}' -> model class -> dataset class (several model classes may map to one)."""
    text = text.strip()
    if not text:
        return None
    try:
        data = jsonfile.parse(text, "class map")
        return {str(int(k)): int(v) for k, v in data.items()}
    except (DamagedFile, AttributeError, TypeError, ValueError) as exc:
        raise ValueError('class map must be a JSON object {"model class": dataset class, ...}') from exc


def make_dataset(name: str, source: str, path: str, subset: str = "", class_map: str = "",
                 roots: list[Path] | None = None) -> dict:
    """A dataset entry for the run config, its folder or file checked inside the allowed roots and by its source
    (a tensor file's header, a folder's classes): ValueError, PathError or DatasetError say what is wrong."""
    name = name.strip()
    if not name:
        raise ValueError("give the set a name")
    subset_list, map_dict = parse_subset(subset), parse_map(class_map)
    if subset_list and map_dict:
        raise ValueError("give either a class subset or a class map, not both")
    if source not in offered_sources():
        raise ValueError(f"source must be one of {', '.join(offered_sources())}, got {source!r}")
    resolved = inside_roots(path, roots)
    sources.check(source, str(resolved))  # the source's own check (DatasetError): what the app accepts, a run can read
    return {"name": name, "source": source, "path": str(resolved), "class_subset": subset_list, "class_map": map_dict}


def sets_of(draft: dict) -> list[tuple[str, dict]]:
    """(role, dataset) for every set of the draft, held-out first."""
    rows = [("held-out", draft["val"])] if draft.get("val") else []
    ood = set(draft.get("ood", []))
    rows += [("OOD" if d["name"] in ood else "ID test", d) for d in draft.get("test", [])]
    return rows


def add_set(draft: dict, dataset: dict, role: str) -> None:
    """Put a set into the draft in its role, replacing a set of the same name."""
    remove_set(draft, dataset["name"])
    if role == "held-out":
        if draft.get("val"):
            remove_set(draft, draft["val"]["name"])
        draft["val"] = dataset
        return
    draft.setdefault("test", []).append(dataset)
    if role == "OOD":
        draft.setdefault("ood", []).append(dataset["name"])


def remove_set(draft: dict, name: str) -> None:
    if draft.get("val") and draft["val"]["name"] == name:
        draft["val"] = None
    draft["test"] = [d for d in draft.get("test", []) if d["name"] != name]
    draft["ood"] = [n for n in draft.get("ood", []) if n != name]


def offered_sources() -> dict[str, str]:
    """The sources a set may be added from by hand, with what their path is (the engine's source registry)."""
    return {s.name: s.help for s in sources.SOURCES.values() if s.offered}


def preview(dataset: dict, count: int = 12) -> tuple[list[np.ndarray], list[str]]:
    """The first images of a set (HWC uint8) with their captions, for a picture grid: its source's own preview."""
    return sources.preview(dataset["source"], dataset["path"], count)
