"""What a ViT checkpoint is made of, read from its parameter names alone: shared by the engine and the app, so no torch.

Checkpoint files and their signatures (names, shapes, dtypes); the key layout, i.e. where the image
tower and the linear head sit in a checkpoint's names and which model family's anatomy they follow
(open_clip's `visual.*` + `head.*`, a full open_clip / OpenAI-CLIP state dict with a head, model-soups'
`model.visual.*` + `classification_head.*`; the other families in families/ describe theirs with the
same records); and the part of the ViT each parameter belongs to. Parameters outside the tower and the
head (text-tower leftovers) are carried along but do not affect the classifier: inert.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import IngredientError

SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
HPARAMS_FILE = "hparams.json"
FOLDER_CONFIG = "config.json"
# A model folder's weights as transformers writes them, preferred in this order (as from_pretrained prefers them): one file,
# or the index of its shards; the older pytorch_model.bin is read with weights_only=True like every torch checkpoint.
FOLDER_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
FOLDER_INDEX = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
FLOAT_DTYPES = ("float32", "float16", "bfloat16", "float64")
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)  # the image normalisation CLIP's towers were trained with
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
VISUAL_PREFIXES = ("model.visual.", "visual.")
HEAD_PREFIXES = ("classification_head.", "model.classification_head.", "head.")
ATTENTION_HALF = ("ln_1", "attn", "ls_1")  # a block's attention half: its first norm, the attention and its layer scale
FINAL = ("ln_post", "proj")


@dataclass(frozen=True)
class Anatomy:
    """How a family names the parts of its image tower (names relative to the tower): which names are block i (a
    regex with groups `idx` and `rest`), which of a block's names are its attention half, which are the final norm +
    projection; everything else in the tower is embeddings. `inner_prefix` is stripped first where present."""

    block: str
    attention_half: tuple[str, ...]
    final: tuple[str, ...]
    inner_prefix: str = ""


OPEN_CLIP_ANATOMY = Anatomy(r"(?:^|\.)transformer\.resblocks\.(?P<idx>\d+)\.(?P<rest>.*)$", ATTENTION_HALF, FINAL)


def is_model_folder(path: Path) -> bool:
    """A model folder as Hugging Face writes one: config.json and the weights (`model.safetensors` or `pytorch_model.bin`,
    or the index of their shards)."""
    path = Path(path)
    return path.is_dir() and (path / FOLDER_CONFIG).is_file() and any((path / f).is_file() for f in (*FOLDER_WEIGHTS, *FOLDER_INDEX))


@dataclass(frozen=True)
class ParamInfo:
    """Shape and dtype of one parameter, enough to check that ingredients agree."""

    shape: tuple[int, ...]
    dtype: str


Signature = dict[str, ParamInfo]


def float_names(signature: Mapping[str, ParamInfo]) -> list[str]:
    """The floating-point parameters: the ones a partition covers and mixing touches."""
    return [name for name, info in signature.items() if info.dtype in FLOAT_DTYPES]


@dataclass(frozen=True)
class KeyLayout:
    """A checkpoint's key layout: where the image tower and the linear head sit in its parameter names."""

    visual_prefix: str
    head_prefix: str
    family: str = "open_clip"  # the model family (families/) whose library builds the tower
    anatomy: Anatomy = OPEN_CLIP_ANATOMY
    tower_roots: tuple[str, ...] = ()  # when set, only names (after visual_prefix) starting with one of these are the tower

    def is_head(self, name: str) -> bool:
        return name in (self.head_prefix + "weight", self.head_prefix + "bias")

    def tower_name(self, name: str) -> str | None:
        """A checkpoint name's name in the built tower, or None when it is not part of the tower."""
        if self.is_head(name) or not name.startswith(self.visual_prefix):
            return None
        rest = name[len(self.visual_prefix):]
        if self.tower_roots and not rest.startswith(self.tower_roots):
            return None
        return rest

    def classifier_name(self, name: str) -> str | None:
        """The classifier's own parameter name for a checkpoint name, or None if it is inert."""
        if self.is_head(name):
            return "head." + name[len(self.head_prefix):]
        tower = self.tower_name(name)
        return None if tower is None else "visual." + tower


def head_prefix(names: set[str]) -> str:
    """Where the linear head sits (the same names in every family), or an error saying which names were looked for."""
    head = next((p for p in HEAD_PREFIXES if p + "weight" in names and p + "bias" in names), None)
    if head is None:
        raise IngredientError("<checkpoint>", "no linear head found: expected 'head.weight'/'head.bias' or "
                              "'classification_head.weight'/'classification_head.bias'; for headless finetunes, "
                              "name one head file shared by all of them as model.head")
    return head


def detect_key_layout(names: Iterable[str]) -> KeyLayout:
    """Recognise open_clip's three key layouts from parameter names alone (families.detect tries every family)."""
    names = set(names)
    visual = next((p for p in VISUAL_PREFIXES if p + "conv1.weight" in names), None)
    if visual is None:
        raise IngredientError("<checkpoint>", "no ViT image tower found: expected 'visual.conv1.weight' "
                              "(open_clip / OpenAI CLIP) or 'model.visual.conv1.weight' (model-soups)")
    return KeyLayout(visual, head_prefix(names))


@dataclass(frozen=True)
class Part:
    """Where one parameter sits in the ViT, from the input side up."""

    kind: Literal["embeddings", "block", "final", "head", "inert"]
    block: int | None = None
    attention: bool = False  # for a block: in its attention half (else its MLP half)


def part_of(name: str, layout: KeyLayout) -> Part:
    """The part of the ViT a parameter belongs to: embeddings, block i (attention or MLP half), final norm + projection, head, inert."""
    if layout.is_head(name):
        return Part("head")
    rest = layout.tower_name(name)
    if rest is None:
        return Part("inert")
    anatomy = layout.anatomy
    rest = rest.removeprefix(anatomy.inner_prefix)
    match = re.search(anatomy.block, rest)
    if match:
        return Part("block", int(match["idx"]), match["rest"].startswith(anatomy.attention_half))
    return Part("final") if rest.startswith(anatomy.final) else Part("embeddings")


def vit_depth(names: Iterable[str], layout: KeyLayout) -> int:
    """Number of transformer blocks in the image tower (the text tower's are not counted)."""
    blocks = [part.block for part in (part_of(n, layout) for n in names) if part.kind == "block"]
    return max(blocks) + 1 if blocks else 0
