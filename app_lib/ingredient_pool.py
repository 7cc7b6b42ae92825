"""Ingredients from the app's point of view: uploads streamed to disk, server files within roots, validation.

Validation reads only headers (safetensors) or weights_only tensors, one file at a time, and a bad file
is reported without dropping the others.
"""

from __future__ import annotations

import filecmp
import math
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from manifoldmix_core import safepaths
from manifoldmix_core.anatomy import HPARAMS_FILE
from manifoldmix_core.errors import PathError
from manifoldmix_core.families.registry import FAMILIES, detect

from .paths import REPO
from .vocabulary import size_text, unique_name

UPLOADS_ENV = "MANIFOLDMIX_UPLOADS"
CHUNK = 8 << 20
NAME_CHARS = 100  # of an upload's file name stem: a label has at most 128 characters, suffixes included


class UploadTooLarge(ValueError):
    """An upload exceeded the configured size limit; nothing is kept of it."""


def uploads_dir() -> Path:
    """Where uploaded checkpoints are written: $MANIFOLDMIX_UPLOADS, else data/uploads/ (inside the default root)."""
    return Path(os.environ.get(UPLOADS_ENV) or REPO / "data" / "uploads").resolve()


def plain_name(text: str, limit: int = NAME_CHARS) -> str:
    """text as a plain name (safepaths' label alphabet): accents dropped ('é' -> 'e'), other characters '_', no leading
    '.', '_' or '-', no '..', at most `limit` characters; '' when nothing is left. Uploads, server files and renames all
    pass through it, so a name the app accepts is one every run accepts."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    name = re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_text))
    return name.lstrip("._-")[:limit].rstrip("._-")


def safe_name(filename: str) -> str:
    """A plain file name (safepaths' label) for an upload: no directory parts or odd characters, not hidden, and short
    enough for a -2, -3 suffix (uploads name their own files)."""
    name = Path(Path(filename).name)
    stem, suffix = plain_name(name.stem), re.sub(r"[^A-Za-z0-9.]+", "", name.suffix)[:16]
    if not stem and not suffix:
        return "checkpoint.safetensors"
    return safepaths.check_label((stem or "checkpoint") + suffix, "upload name")


def ingredient_name(stem: str, taken: set[str]) -> str:
    """An ingredient's name from its file's stem (or a name the user typed): plain, short, not yet in the pool."""
    return unique_name(plain_name(stem) or "ingredient", taken)


def rename(pool: list[dict], old: str, typed: str) -> str:
    """Rename ingredient `old` to `typed` made plain (plain_name); returns the name it got. ValueError, naming the
    problem, when nothing plain is left of `typed` or another ingredient has that name."""
    new = plain_name(typed)
    if not new:
        raise ValueError(f"{typed!r} cannot name an ingredient: use letters, digits, '.', '_' or '-' (at most {NAME_CHARS})")
    if new != old and any(i["name"] == new for i in pool):
        raise ValueError(f"another ingredient is already named {new!r}; names must be unique")
    for ingredient in pool:
        if ingredient["name"] == old:
            ingredient["name"] = new
    return new


def save_upload(source: BinaryIO, filename: str, max_bytes: int, folder: Path | None = None) -> Path:
    """Copy an uploaded file to disk in chunks, refusing (and deleting) it past max_bytes; returns its path.

    The same bytes uploaded again return the file already there (so the pool can say it has it); different
    bytes under a taken name get a new name instead of overwriting a file an ingredient may point at.
    """
    folder = folder or uploads_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = safepaths.entry(folder, safe_name(filename), "upload name")
    partial = target.with_name(f".{target.name}.part")
    written = 0
    try:
        with partial.open("wb") as out:
            while chunk := source.read(CHUNK):
                written += len(chunk)
                if written > max_bytes:
                    raise UploadTooLarge(f"{filename}: larger than the limit of {size_text(max_bytes)}; "
                                         "copy it into a server folder and pick it from there")
                out.write(chunk)
        if target.is_file() and filecmp.cmp(partial, target, shallow=False):
            return target
        taken = {p.stem for p in folder.iterdir() if p.suffix == target.suffix}
        target = target.with_name(unique_name(target.stem, taken) + target.suffix)  # never overwrite a file in use
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


@dataclass(frozen=True)
class Checked:
    """One candidate file after validation: the signature summary, or the error to show."""

    name: str
    path: Path
    size: int
    n_params: int = 0
    n_tensors: int = 0
    error: str | None = None
    family: str = ""  # the model family's label (families/), detected from the parameter names


def check_file(path: Path, name: str | None = None, reference: Path | None = None, head: str | None = None) -> Checked:
    """Read a checkpoint's signature (never unpickling code) and compare it with the reference ingredient's; with the
    draft's shared head (`head`, config model.head) a headless finetune reads as one with that head."""
    from manifoldmix_core.errors import ManifoldMixError
    from manifoldmix_core.ingredients import Ingredient, check_compatible, ingredient_signature, read_folder_config

    name = name or Path(path).stem
    size = _size(path)
    shared = Path(head) if head else None
    try:
        signature = ingredient_signature(Ingredient(name, Path(path), head=shared))
        family = FAMILIES[detect(signature, path, read_folder_config(path)).family].label
        if reference is not None and Path(reference) != Path(path):
            check_compatible(path, signature, ingredient_signature(Ingredient("reference", Path(reference), head=shared)), reference)
    except ManifoldMixError as exc:
        return Checked(name, path, size, error=str(exc))
    n_params = sum(math.prod(info.shape) for info in signature.values())
    return Checked(name, path, size, n_params, len(signature), family=family)


def check_head(path: Path) -> str | None:
    """Why a file cannot be the shared head of headless finetunes (it must hold exactly a linear head's weight and
    bias), or None."""
    from manifoldmix_core.errors import ManifoldMixError
    from manifoldmix_core.ingredients import read_head

    try:
        read_head(path)
    except ManifoldMixError as exc:
        return str(exc)
    return None


def _size(path: Path) -> int:
    """Bytes of a checkpoint file, or of a model folder's weights (0 when they cannot be listed: the check says why)."""
    from manifoldmix_core.errors import ManifoldMixError
    from manifoldmix_core.ingredients import weight_files

    try:
        return sum(f.stat().st_size for f in weight_files(path) if f.is_file()) if path.exists() else 0
    except ManifoldMixError:
        return 0


def hparams_beside(path: Path) -> dict | None:
    """Hyperparameters of a checkpoint from the hparams.json of its folder, when there is one."""
    from manifoldmix_core.errors import IngredientError
    from manifoldmix_core.ingredients import read_hparams

    try:
        return read_hparams(Path(path).parent / HPARAMS_FILE).get(Path(path).stem)
    except IngredientError:
        return None


def hparams_text(hparams: dict | None) -> str:
    """Hyperparameters as one short line: floats with 4 significant digits (no 0.30000000000000004)."""
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in (hparams or {}).items())


def remove_upload(path: Path) -> None:
    """Delete an uploaded file (only files inside the uploads folder)."""
    try:
        path = safepaths.inside(uploads_dir(), path, "upload")
    except PathError:
        return
    if path.is_file():
        path.unlink()

