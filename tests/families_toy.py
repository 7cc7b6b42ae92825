"""Tiny real models of each model family, made inside the tests (no downloads): a 2-block Hugging Face CLIPVisionModel
and a 2-block timm VisionTransformer of width 32 at 32 px, finetunes made by perturbing them, and a run config over them.
Labels come from the pretrained model's own library, so the soups have something true to find."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

CLASSES, SIZE = 4, 32
HF_CONFIG = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
             "image_size": SIZE, "patch_size": 8}
TIMM_NAME = "vit_tiny_patch16_224"
TIMM_OPTIONS = {"depth": 2, "embed_dim": 32, "num_heads": 2, "img_size": SIZE, "patch_size": 8}
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def hf_model(seed: int = 0, projection: bool = False):
    import transformers

    torch.manual_seed(seed)
    config = transformers.CLIPVisionConfig(**HF_CONFIG, projection_dim=16)
    cls = transformers.CLIPVisionModelWithProjection if projection else transformers.CLIPVisionModel
    return cls(config).eval()


def timm_model(seed: int = 0):
    import timm

    torch.manual_seed(seed)
    return timm.create_model(TIMM_NAME, pretrained=False, num_classes=CLASSES, **TIMM_OPTIONS).eval()


def normalised(images: torch.Tensor) -> torch.Tensor:
    """What the engine's classifier feeds its tower: 0..1, then the config's mean and std."""
    return (images.float() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


@torch.no_grad()
def hf_logits(tower, head: dict, images: torch.Tensor) -> torch.Tensor:
    """Logits with transformers' own forward pass and a linear head."""
    out = tower(pixel_values=normalised(images))
    features = out.image_embeds if hasattr(out, "image_embeds") else out.pooler_output
    return features @ head["weight"].T + head["bias"]


@torch.no_grad()
def timm_logits(model, images: torch.Tensor) -> torch.Tensor:
    return model(normalised(images))


def images(n: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, SIZE, SIZE), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def perturbed(state: dict, seed: int, scale: float) -> dict:
    """A "finetune": every float tensor moved by relative noise of `scale`."""
    generator = torch.Generator().manual_seed(seed)
    return {k: (v + scale * v.std().nan_to_num(1.0).clamp(min=1e-3) * torch.randn(v.shape, generator=generator)
                if v.is_floating_point() else v.clone()) for k, v in state.items()}


def centred_head(features: torch.Tensor) -> dict[str, torch.Tensor]:
    """A random linear head whose bias centres its logits on these features, so every class gets predicted."""
    weight = torch.randn(CLASSES, features.shape[1], generator=torch.Generator().manual_seed(5)) * 4
    return {"weight": weight, "bias": -(features @ weight.T).mean(0)}


def write_sets(root: Path, logits) -> None:
    """val/test tensor files labelled by `logits(images)` of the pretrained model."""
    for split, seed in (("val", 10), ("test", 11)):
        x = images(160, seed)
        save_file({"images": x, "labels": logits(x).argmax(1)}, root / f"{split}.safetensors")


def write_config(root: Path, names, model: dict, partition: dict | None = None, paths=None) -> Path:
    config = {
        "name": "family", "model": {"image_mean": list(MEAN), "image_std": list(STD), **model},
        "ingredients": [{"name": n, "path": p} for n, p in zip(names, paths or [f"zoo/{n}.safetensors" for n in names])],
        "val": {"name": "val", "source": "tensors", "path": "val.safetensors"},
        "test": [{"name": "test", "source": "tensors", "path": "test.safetensors"}], "ood": ["test"],
        "partition": partition or {"preset": "fine"},
        "methods": ["uniform_soup", "greedy_soup", "manifoldmixms"],
        "manifoldmix": {"budget_per_component": 2}, "device": "cpu",
    }
    path = root / "config.json"
    path.write_text(json.dumps(config, indent=1))
    return path


def hf_world(root: Path, n: int = 3, folders: bool = True, shared_head: bool = False) -> Path:
    """n finetunes (in root/zoo) of a tiny CLIPVisionModel with a head, as model folders (config.json + model.safetensors, the head in
    it, or headless as save_pretrained writes them with one shared head file) or as single files of prefix-less names
    (then `options` give the head count); val/test sets; the config."""
    (root / "zoo").mkdir(parents=True, exist_ok=True)
    base = hf_model()
    with torch.no_grad():
        head = centred_head(base(pixel_values=normalised(images(160, 10))).pooler_output)
    write_sets(root, lambda x: hf_logits(base, head, x))
    names = [f"ft{i}" for i in range(n)]
    base_state = {**base.state_dict(), **{f"head.{k}": v for k, v in head.items()}}
    for i, name in enumerate(names):
        state = perturbed(base_state, i, 0.02 * (i + 1))
        if shared_head:
            state = {k: v for k, v in state.items() if not k.startswith("head.")}
        if folders:
            base.save_pretrained(root / "zoo" / name)
            save_file({k: v.contiguous() for k, v in state.items()}, root / "zoo" / name / "model.safetensors", metadata={"format": "pt"})
        else:
            bare = {k.removeprefix("vision_model."): v.contiguous() for k, v in state.items()}
            save_file(bare, root / "zoo" / f"{name}.safetensors")
    model = {} if folders else {"options": {"num_attention_heads": 2}}
    if shared_head:
        save_file(head, root / "head.safetensors")
        model["head"] = "head.safetensors"
    return write_config(root, names, model, paths=[f"zoo/{n}" for n in names] if folders else None)


def timm_world(root: Path, n: int = 3) -> Path:
    """n finetunes (in root/zoo) of a tiny timm ViT (its own head), val/test sets and the config."""
    (root / "zoo").mkdir(parents=True, exist_ok=True)
    base = timm_model()
    with torch.no_grad():
        head = centred_head(base.forward_head(base.forward_features(normalised(images(160, 10))), pre_logits=True))
        base.head.weight.copy_(head["weight"])
        base.head.bias.copy_(head["bias"])
    write_sets(root, lambda x: timm_logits(base, x))
    names = [f"ft{i}" for i in range(n)]
    for i, name in enumerate(names):
        save_file({k: v.contiguous() for k, v in perturbed(base.state_dict(), i, 0.02 * (i + 1)).items()},
                  root / "zoo" / f"{name}.safetensors")
    return write_config(root, names, {"architecture": TIMM_NAME, "options": TIMM_OPTIONS})


def shard(folder: Path, torch_files: bool = False) -> None:
    """Split a model folder's model.safetensors into two shards with their index, as transformers writes big models
    (`torch_files`: as older transformers wrote them, pytorch_model-0000N-of-00002.bin and pytorch_model.bin.index.json)."""
    state = load_file(folder / "model.safetensors")
    names = sorted(state)
    stem, suffix = ("pytorch_model", ".bin") if torch_files else ("model", ".safetensors")
    parts = {f"{stem}-00001-of-00002{suffix}": names[: len(names) // 2], f"{stem}-00002-of-00002{suffix}": names[len(names) // 2:]}
    for file, keys in parts.items():
        part = {k: state[k] for k in keys}
        torch.save(part, folder / file) if torch_files else save_file(part, folder / file)
    (folder / "model.safetensors").unlink()
    (folder / f"{stem}{suffix}.index.json").write_text(json.dumps({"metadata": {}, "weight_map": {k: f for f, ks in parts.items() for k in ks}}))


def as_torch_file(folder: Path) -> None:
    """A model folder as older transformers wrote it: pytorch_model.bin instead of model.safetensors."""
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()


def backbone_detect(names: set[str], folder_config=None):
    """The toy family's detector (tests/test_families.py): timm's anatomy under the prefix `backbone.`."""
    from manifoldmix_core.anatomy import KeyLayout, head_prefix
    from manifoldmix_core.families.timm_vit import ANATOMY

    if "backbone.patch_embed.proj.weight" not in names:
        return None
    return KeyLayout("backbone.", head_prefix(names), "backbone_vit", ANATOMY)
