"""Model families (open_clip, Hugging Face CLIP vision, timm ViT): the registry and one module per family, torch-free
until a model is built (each family imports its library inside its functions)."""

from . import hf_clip, openclip_vit, timm_vit  # noqa: F401  (each registers its family)
from .registry import FAMILIES, Family, detect, get, register

__all__ = ["FAMILIES", "Family", "detect", "get", "register"]
