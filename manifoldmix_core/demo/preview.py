"""Labelled picture grid of the demo world's styles, for eyeballing the generator.

Run ``python -m manifoldmix_core.demo.preview [out.png]`` (default ``docs/demo_styles.png``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from manifoldmix_core.demo.world import ALL_STYLES, CLASS_NAMES, IMAGE_SIZE, generate

_SCALE = 3
_GAP = 2
_ROW_LABEL_WIDTH = 72
_HEADER_HEIGHT = 14


def style_grid(per_class: int = 1, seed: int = 0) -> Image.Image:
    """Grid with a row per style (the eval styles, then pretraining-only web) and ``per_class`` columns per class, upscaled 3x."""
    tile = IMAGE_SIZE * _SCALE
    n_cols = len(CLASS_NAMES) * per_class
    width = _ROW_LABEL_WIDTH + n_cols * (tile + _GAP)
    height = _HEADER_HEIGHT + len(ALL_STYLES) * (tile + _GAP)
    grid = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    for c, name in enumerate(CLASS_NAMES):
        draw.text((_ROW_LABEL_WIDTH + c * per_class * (tile + _GAP) + 2, 1), name, fill=(0, 0, 0), font=font)
    for r, style in enumerate(ALL_STYLES):
        # The first 10 * per_class labels hold every class exactly per_class times.
        images, labels = generate(style, len(CLASS_NAMES) * per_class, seed)
        top = _HEADER_HEIGHT + r * (tile + _GAP)
        draw.text((4, top + tile // 2 - 6), style, fill=(0, 0, 0), font=font)
        seen = [0] * len(CLASS_NAMES)
        for image, label in zip(images, labels, strict=True):
            col = int(label) * per_class + seen[label]
            seen[label] += 1
            big = Image.fromarray(image).resize((tile, tile), Image.Resampling.NEAREST)
            grid.paste(big, (_ROW_LABEL_WIDTH + col * (tile + _GAP), top))
    return grid


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/demo_styles.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    style_grid(per_class=2).save(out)
    print(f"wrote {out}")
