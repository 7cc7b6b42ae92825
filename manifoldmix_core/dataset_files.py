"""What a dataset on disk must look like, checked without torch and without reading the images: an ImageFolder
tree's classes and files, a tensor file's header, an image's header (its size within MAX_PIXELS). The app checks a
set when it is added; the readers in images.py use the same checks, so a set the app accepted loads in a run.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from safetensors import SafetensorError, safe_open

from .errors import DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
TENSOR_KEYS = ("images", "labels")
_INTEGER_DTYPES = ("U8", "I8", "U16", "I16", "U32", "I32", "U64", "I64")
MAX_PIXELS = 89_478_485  # per image: PIL's own DecompressionBombWarning threshold


def open_image(path: Path) -> Image.Image:
    """An image file opened with only its header read, refused by name when it is unreadable or has more than MAX_PIXELS
    pixels (a header can claim 30000x30000, gigabytes once decoded)."""
    try:
        with warnings.catch_warnings():  # PIL warns between its two limits; the check below refuses the same images by name
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except Image.DecompressionBombError:
        raise DatasetError(f"{path}: more than {MAX_PIXELS:,} pixels; resize the image or leave it out") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(f"{path}: not a readable image ({exc})") from exc
    if img.width * img.height > MAX_PIXELS:
        img.close()
        raise DatasetError(f"{path}: {img.width}x{img.height} is more than {MAX_PIXELS:,} pixels; resize the image or leave it out")
    return img


def image_folder_files(root: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """Class names (sorted sub-folders) and (file, label) pairs of an ImageFolder-style tree."""
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DatasetError(f"{root}: no class sub-folders; expected <root>/<class name>/<image files>")
    files = []
    for label, name in enumerate(classes):
        found = sorted(p for p in (root / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise DatasetError(f"{root / name}: class folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
        files += [(p, label) for p in found]
    return classes, files


def check_image_folder(path: str | Path) -> int:
    """An ImageFolder set's classes and files (no image decoded); returns the number of images."""
    return len(image_folder_files(Path(path))[1])


def check_tensor_file(path: str | Path) -> int:
    """A tensor set's header: 'images' uint8 [N, 3, H, W] or [N, H, W, 3] and N integer 'labels'; returns N.

    Only the header is read, so a model checkpoint offered as a dataset is refused at once, in one short line.
    """
    path = Path(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            names = list(f.keys())
            found = {k: f.get_slice(k) for k in TENSOR_KEYS if k in names}
            shapes = {k: list(s.get_shape()) for k, s in found.items()}
            dtypes = {k: s.get_dtype() for k, s in found.items()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise DatasetError(f"{path}: not a readable safetensors file ({exc})") from exc
    if set(found) != set(TENSOR_KEYS):
        others = [n for n in names if n not in TENSOR_KEYS]
        sample = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise DatasetError(f"{path}: a tensor set needs tensors 'images' and 'labels'; this file has {len(names)} tensors"
                           + (f" ({sample})" if sample else "") + " — is it a model checkpoint?")
    images, labels = shapes["images"], shapes["labels"]
    if dtypes["images"] != "U8" or len(images) != 4 or 3 not in (images[1], images[3]):
        raise DatasetError(f"{path}: 'images' must be uint8 [N, 3, H, W] or [N, H, W, 3], got {dtypes['images']} {images}")
    if dtypes["labels"] not in _INTEGER_DTYPES or labels != images[:1]:
        raise DatasetError(f"{path}: 'labels' must be {images[0]} integers (one per image), got {dtypes['labels']} {labels}")
    return images[0]


def preview_image_folder(path: str | Path, count: int) -> tuple[list[np.ndarray], list[str]]:
    """`count` images spread over an ImageFolder set (HWC uint8, 96 px) with their class names; only those are opened."""
    classes, files = image_folder_files(Path(path))
    picked = files[:: max(1, len(files) // count)][:count]
    images = []
    for file, _ in picked:
        with open_image(file) as img:
            images.append(np.asarray(img.convert("RGB").resize((96, 96))))
    return images, [classes[label] for _, label in picked]


def preview_tensor_file(path: str | Path, count: int) -> tuple[list[np.ndarray], list[str]]:
    """A tensor set's first `count` images (HWC uint8) and labels, checked by its header first; only those rows are read."""
    n = min(count, check_tensor_file(path))
    with safe_open(str(path), framework="numpy") as f:
        images, labels = f.get_slice("images")[:n], f.get_slice("labels")[:n]
    if images.shape[1] == 3:
        images = images.transpose(0, 2, 3, 1)
    return list(images), [f"class {int(label)}" for label in labels]
