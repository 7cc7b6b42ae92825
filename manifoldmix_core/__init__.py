"""ManifoldMix Studio core library: manifold mixing model soups (Fassold 2023)."""
