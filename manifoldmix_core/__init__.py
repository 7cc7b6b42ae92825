"""ManifoldMix Studio core library: manifold mixing model soups (Fassold 2023).

The package wires in its plug-ins: the embedded demo world registers its dataset source "demo"
(sources.py), so a config that names it validates wherever the library is used, and families/
registers the model families (open_clip, Hugging Face CLIP, timm ViT) every model is built by.
"""

from . import demo, families  # noqa: F401  (register the dataset source "demo" and the model families; torch-free)
