"""Find, read and validate ingredient checkpoints, never executing pickled code.

An ingredient is a single checkpoint file, or a model folder as Hugging Face writes one (`config.json` and
`model.safetensors`, or shards listed by `model.safetensors.index.json`), whose shards read as one state dict.

Ingredients are handled lazily: a pool only keeps file paths and signatures (names, shapes,
dtypes); tensors are read when an algorithm needs that model, so memory does not grow with
the number of ingredients.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as load_safetensors
from safetensors.torch import load_file

from . import jsonfile
from .anatomy import (
    FOLDER_CONFIG,
    FOLDER_INDEX,
    FOLDER_WEIGHTS,
    HPARAMS_FILE,
    SUFFIXES,
    ParamInfo,
    Signature,
    is_model_folder,
)
from .checkpoint_files import SHARED_HEAD, check_headless, head_file_prefix, read_folder_config, weight_files
from .errors import DamagedFile, IngredientError
from .families.registry import FAMILIES, detect
from .fingerprint import cached_file_digest, file_digest, files_digest

_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")


@dataclass(frozen=True)
class Ingredient:
    """One finetuned checkpoint: a name, a file and, when known, its hyperparameters."""

    name: str
    path: Path
    hparams: Mapping | None = field(default=None, compare=False)
    head: Path | None = None  # one head file shared by all ingredients, for headless finetunes (config `model.head`)


def find_ingredients(folder: str | Path) -> list[Ingredient]:
    """All checkpoint files and model folders of a folder, sorted by name; hyperparameters from hparams.json if present.

    An entry named like a checkpoint that is not a readable file (a folder, a dangling or looping
    symbolic link) is reported rather than skipped: the user meant it to be an ingredient.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise IngredientError(folder, "is not a folder; point at a folder of .safetensors/.pt/.pth files or model folders")
    files = sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES or is_model_folder(p))
    for path in files:
        if not is_model_folder(path):
            _check_checkpoint_entry(path)
    if not files:
        raise IngredientError(folder, f"holds no checkpoint files (looked for {', '.join(SUFFIXES)}) nor model folders "
                              f"({FOLDER_CONFIG} with one of {', '.join((*FOLDER_WEIGHTS, *FOLDER_INDEX))})")
    hparams = read_hparams(folder / HPARAMS_FILE)
    return [Ingredient(_name(p), p, hparams.get(_name(p))) for p in files]


def _name(path: Path) -> str:
    return path.name if path.is_dir() else path.stem


def _check_checkpoint_entry(path: Path) -> None:
    try:
        if path.is_file():
            return
        is_dir = path.is_dir()
    except OSError as exc:  # ELOOP: a symbolic link that points back at itself
        raise IngredientError(path, f"is a symbolic link that cannot be followed ({exc.strerror}); fix or remove it") from exc
    if is_dir:
        raise IngredientError(path, "is a folder, not a checkpoint file; move it out of the ingredient folder or rename it")
    if path.is_symlink():
        raise IngredientError(path, f"is a symbolic link to {path.readlink()}, which does not exist (or loops); fix or remove it")
    raise IngredientError(path, "is not a regular file; move it out of the ingredient folder")


def read_hparams(path: Path) -> dict:
    """The optional {ingredient name: hyperparameters} sidecar file of an ingredient folder."""
    if not path.is_file():
        return {}
    try:
        data = jsonfile.load(path)
    except (OSError, DamagedFile) as exc:
        raise IngredientError(path, f"cannot be read as JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise IngredientError(path, "must hold a JSON object {ingredient name: {hyperparameter: value}}")
    return data


def read_state_dict(path: str | Path, content: bytes | None = None) -> dict[str, torch.Tensor]:
    """Read a checkpoint's tensors on the CPU: safetensors, or torch.load with weights_only=True (from `content`, the
    file's bytes, when the caller has read them already)."""
    path = Path(path)
    if path.is_dir():
        state = {}
        for shard in weight_files(path):
            state.update(read_state_dict(shard))
        return state
    if content is None and not path.is_file():
        raise IngredientError(path, "file not found")
    _check_not_empty(path, len(content) if content is not None else path.stat().st_size)
    if path.suffix == ".safetensors":
        try:
            state = load_file(path) if content is None else load_safetensors(content)
        except (SafetensorError, OSError, ValueError) as exc:
            raise IngredientError(path, f"is not a valid safetensors file ({exc})") from exc
    else:
        state = _torch_load(path, content)
    return _unwrap(path, state)


def read_fingerprinted(path: str | Path, cache_dir: Path | None) -> tuple[str, dict[str, torch.Tensor] | None]:
    """A checkpoint's content hash and, when that had to be computed (no cached hash for this file version), its
    tensors from the same single read of the file: a new ingredient is read once to be hashed, validated and used."""
    path = Path(path)
    if path.is_dir():  # a model folder: its config and weights, hashed file by file (cached per file version)
        files = [path / FOLDER_CONFIG, *weight_files(path)]
        return files_digest([(f.name, f) for f in files], cache_dir), None
    known = cached_file_digest(path, cache_dir)
    if known is not None:
        return known, None
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise IngredientError(path, f"cannot be read ({exc.strerror or exc})") from exc
    return file_digest(path, cache_dir, content), read_state_dict(path, content)


def _check_not_empty(path: Path, size: int) -> None:
    """A zero-byte file is named as such: a copy or an upload cut short, rather than a corrupt checkpoint."""
    if size == 0:
        raise IngredientError(path, "is an empty file (0 bytes); was its copy or upload cut short? Copy the checkpoint again")


def _torch_load(path: Path, content: bytes | None = None):
    """torch.load that refuses pickled code and turns every failure into an IngredientError."""
    try:
        return torch.load(path if content is None else io.BytesIO(content), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not _holds_pickled_objects(path):
            raise IngredientError(path, "is not a readable PyTorch checkpoint (corrupt or not a checkpoint)") from exc
        raise IngredientError(
            path,
            "holds pickled Python objects, not just tensors; refusing to unpickle them. "
            "Re-save it with torch.save(model.state_dict(), ...) or as .safetensors",
        ) from exc
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as exc:
        raise IngredientError(path, f"is not a readable PyTorch checkpoint ({exc})") from exc


_OBJECT_OPCODES = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX", "BUILD"}


def _holds_pickled_objects(path: Path) -> bool:
    """Whether the file (torch's zip format or a bare pickle stream) pickles Python objects, read without unpickling."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                data = b"".join(archive.read(n) for n in archive.namelist() if n.endswith(".pkl"))
        else:
            data = path.read_bytes()
    except (OSError, zipfile.BadZipFile):
        return False
    stream = io.BytesIO(data)
    try:
        while stream.tell() < len(data):  # torch's legacy format is several pickles in a row
            if any(op.name in _OBJECT_OPCODES for op, _, _ in pickletools.genops(stream)):
                return True
    except ValueError:  # not (or no longer) a pickle stream (UnicodeDecodeError is a ValueError too)
        return False
    return False


def _unwrap(path: Path, state) -> dict[str, torch.Tensor]:
    """Accept a bare state dict or one wrapped as {'state_dict': ...}; strip DataParallel's 'module.'."""
    if not isinstance(state, dict):
        raise IngredientError(path, f"holds a {type(state).__name__}, expected a state dict of tensors")
    for key in _WRAPPER_KEYS:
        if key in state and isinstance(state[key], dict) and all(isinstance(v, torch.Tensor) for v in state[key].values()):
            state = state[key]
            break
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    if not state:
        raise IngredientError(path, "holds no tensors")
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise IngredientError(path, f"is a {type(value).__name__}, not a tensor", param=name)
    return state


def read_head(path: str | Path) -> dict[str, torch.Tensor]:
    """A shared head file's weight and bias (stored as `weight`/`bias` or under a head prefix), named `head.*`."""
    state = read_state_dict(path)
    prefix = head_file_prefix(path, state)
    return {SHARED_HEAD + k: state[prefix + k] for k in ("weight", "bias")}


def ingredient_signature(ing: Ingredient) -> Signature:
    """An ingredient's names, shapes and dtypes: its checkpoint's, and the shared head's when there is one."""
    signature = read_signature(ing.path)
    if ing.head is None:
        return signature
    check_headless(ing.path, ing.head, signature)
    return {**signature, **signature_of(read_head(ing.head))}


def ingredient_state(ing: Ingredient) -> dict[str, torch.Tensor]:
    """An ingredient's tensors: its checkpoint's, and the shared head's when there is one."""
    state = read_state_dict(ing.path)
    if ing.head is None:
        return state
    check_headless(ing.path, ing.head, state)
    return {**state, **read_head(ing.head)}


def ingredient_fingerprinted(ing: Ingredient, cache_dir: Path | None) -> tuple[str, dict[str, torch.Tensor] | None]:
    """read_fingerprinted for an ingredient: with a shared head, the hash covers the head's content too."""
    digest, state = read_fingerprinted(ing.path, cache_dir)
    if ing.head is None:
        return digest, state
    if state is not None:
        check_headless(ing.path, ing.head, state)
        state = {**state, **read_head(ing.head)}
    return files_digest([("checkpoint " + digest, ing.head)], cache_dir), state


def read_signature(path: str | Path) -> Signature:
    """Names, shapes and dtypes of a checkpoint (all shards of a model folder); for safetensors only the header is read."""
    path = Path(path)
    if path.is_dir():
        return {name: info for shard in weight_files(path) for name, info in read_signature(shard).items()}
    if path.suffix == ".safetensors" and path.is_file():
        _check_not_empty(path, path.stat().st_size)
        try:
            with safe_open(path, framework="pt") as f:
                return {name: _info(f.get_slice(name)) for name in f.keys()}
        except (SafetensorError, OSError, ValueError) as exc:
            raise IngredientError(path, f"is not a valid safetensors file ({exc})") from exc
    return signature_of(read_state_dict(path))


def _info(tensor_slice) -> ParamInfo:
    dtype = tensor_slice.get_dtype()
    return ParamInfo(tuple(tensor_slice.get_shape()), _DTYPE_NAMES.get(dtype, dtype))


_DTYPE_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64", "I64": "int64", "I32": "int32",
                "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}


def signature_of(state: Mapping[str, torch.Tensor]) -> Signature:
    """The signature of tensors already in memory."""
    return {name: ParamInfo(tuple(t.shape), str(t.dtype).removeprefix("torch.")) for name, t in state.items()}


def check_compatible(path: str | Path, signature: Signature, reference: Signature, reference_path: str | Path) -> None:
    """Fail on the first parameter whose presence, shape or dtype differs from the reference ingredient."""
    for name, info in reference.items():
        if name not in signature:
            raise IngredientError(path, f"is missing; {reference_path} has it", param=name)
        other = signature[name]
        if other.shape != info.shape:
            raise IngredientError(path, f"has shape {list(other.shape)} but {reference_path} has {list(info.shape)}", param=name)
        if other.dtype != info.dtype:
            raise IngredientError(path, f"has dtype {other.dtype} but {reference_path} has {info.dtype}", param=name)
    extra = [name for name in signature if name not in reference]
    if extra:
        raise IngredientError(path, f"is not in {reference_path} (different architecture?)", param=extra[0])


def validate_pool(ingredients: list[Ingredient]) -> Signature:
    """Check that all ingredients share names, shapes and dtypes; return the common signature."""
    if not ingredients:
        raise IngredientError("<ingredients>", "no ingredients given; a soup needs at least one checkpoint")
    names = [ing.name for ing in ingredients]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise IngredientError(duplicate, "two ingredients share this name; names must be unique")
    first = ingredients[0]
    reference = ingredient_signature(first)
    family = detect(reference, first.path, read_folder_config(first.path)).family
    for ing in ingredients[1:]:
        signature = ingredient_signature(ing)
        other = detect(signature, ing.path, read_folder_config(ing.path)).family
        if other != family:
            raise IngredientError(ing.path, f"is a {FAMILIES[other].label} checkpoint but {first.path} is a "
                                  f"{FAMILIES[family].label} one; a pool holds checkpoints of one model family")
        check_compatible(ing.path, signature, reference, first.path)
    return reference


def check_finite(path: str | Path, state: Mapping[str, torch.Tensor]) -> None:
    """Reject NaN or infinite weights, which would poison every soup they enter."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise IngredientError(path, "contains NaN or infinite values", param=name)
