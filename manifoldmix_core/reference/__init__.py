"""The paper's reference (Fassold 2023, CLIP ViT-B/32), shipped as package data in reference/data/ (see its README).

published.py reads the published accuracies, runlog.py parses the author's ManifoldMixMS-C8 run log, and
replay.py turns that run into our engine's events, so the app charts it like a user's run.
"""
