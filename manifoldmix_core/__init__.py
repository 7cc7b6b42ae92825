"""ManifoldMix Studio core library: manifold mixing model soups (Fassold 2023).

The package wires in its plug-ins: the embedded demo world registers its dataset source "demo"
(sources.py), so a config that names it validates wherever the library is used.
"""

from . import demo  # noqa: F401  (registers the dataset source "demo"; torch-free)
