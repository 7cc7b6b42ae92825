"""Tests for the demo world's image generator: the generate() contract and that each OOD style shifts the way it claims."""

from functools import cache

import numpy as np
import pytest

from manifoldmix_core.demo.world import (
    ALL_STYLES,
    CAMERA_NOISE,
    CAMERA_STYLES,
    CLASS_NAMES,
    IMAGE_SIZE,
    OOD_STYLES,
    PRETRAIN_STYLES,
    STYLES,
    camera_pattern,
    generate,
    render,
)

N_STATS = 300  # images per style for the appearance statistics


@cache
def _rendered(style: str) -> tuple[np.ndarray, np.ndarray]:
    """N_STATS images (float RGB, NHWC) and their visible-object masks for one style (seed 0), as generated."""
    rendered = [render(style, 0, i) for i in range(N_STATS)]
    return np.stack([r[0] for r in rendered]).astype(np.float64), np.stack([r[2] for r in rendered])


@cache
def _sample(style: str) -> tuple[np.ndarray, np.ndarray]:
    """The scenes of `_rendered(style)`: the ID camera's fixed pattern taken off again (up to clipping)."""
    images, masks = _rendered(style)
    return (images - camera_pattern() if style in CAMERA_STYLES else images), masks


def _luma(images: np.ndarray) -> np.ndarray:
    """Perceived brightness (ITU-R 601) of NHWC images."""
    return images @ np.array([0.299, 0.587, 0.114])


def _saturation(images: np.ndarray) -> np.ndarray:
    """HSV saturation per pixel of NHWC images."""
    return (images.max(-1) - images.min(-1)) / np.maximum(images.max(-1), 1.0)


def _dilate(masks: np.ndarray, steps: int) -> np.ndarray:
    """Repeated 3x3 maximum filter over [N, H, W] masks."""
    for _ in range(steps):
        p = np.pad(masks, ((0, 0), (1, 1), (1, 1)), mode="edge")
        masks = np.max([p[:, 1 + dy : 33 + dy, 1 + dx : 33 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)
    return masks


def _laplacian(y: np.ndarray) -> np.ndarray:
    """Absolute 4-neighbour Laplacian of [N, H, W] images: high-frequency energy."""
    p = np.pad(y, ((0, 0), (1, 1), (1, 1)), mode="edge")
    return np.abs(4 * y - p[:, :-2, 1:-1] - p[:, 2:, 1:-1] - p[:, 1:-1, :-2] - p[:, 1:-1, 2:])


def _gradient(y: np.ndarray) -> np.ndarray:
    """|dx| + |dy| forward differences of [N, H, W] images."""
    g = np.zeros_like(y)
    g[:, :, :-1] += np.abs(np.diff(y, axis=2))
    g[:, :-1, :] += np.abs(np.diff(y, axis=1))
    return g


def _object_contrast(style: str) -> float:
    """Median over images of |mean brightness of the object core - mean brightness of a 2-pixel ring around it|."""
    images, masks = _sample(style)
    y = _luma(images)
    core, ring = masks > 0.9, (_dilate(masks, 2) > 0.01) & (masks < 0.01)
    return float(np.median([abs(y[i][core[i]].mean() - y[i][ring[i]].mean()) for i in range(len(y)) if core[i].sum() > 3]))


def _far_from_object(style: str) -> np.ndarray:
    """Pixels at least 3 pixels away from the object."""
    return _dilate(_sample(style)[1], 3) < 0.01


def _edge_density_away_from_object(style: str) -> float:
    """Fraction of pixels >= 3 px from the object whose brightness gradient exceeds 40 (strong edges, not pixel noise)."""
    images, _ = _sample(style)
    return float((_gradient(_luma(images))[_far_from_object(style)] > 40).mean())


def _background_noise(style: str) -> float:
    """Mean |Laplacian| of brightness away from the object: background grain."""
    images, _ = _sample(style)
    return float(_laplacian(_luma(images))[_far_from_object(style)].mean())


def test_constants() -> None:
    assert len(CLASS_NAMES) == 10 and len(set(CLASS_NAMES)) == 10
    assert STYLES == ("id", "v2", "sketch", "rendition", "objectnet", "a")
    assert OOD_STYLES == STYLES[1:]
    assert PRETRAIN_STYLES == ("web", "sketch", "rendition", "objectnet", "a")
    assert ALL_STYLES[: len(STYLES)] == STYLES and set(ALL_STYLES) == set(STYLES) | set(PRETRAIN_STYLES)
    assert IMAGE_SIZE == 32


def test_id_camera_leaves_one_fixed_pattern_on_id_and_v2_only() -> None:
    pattern = camera_pattern()
    assert pattern.shape == (IMAGE_SIZE, IMAGE_SIZE, 3) and np.abs(pattern).max() <= CAMERA_NOISE
    assert pattern.std() > 0.5 * CAMERA_NOISE / np.sqrt(3)  # uniform in [-A, A] has sd A/sqrt(3)

    def pattern_correlation(style: str) -> float:
        """Correlation of the camera pattern with the style's mean high-pass image (scenes average out, the pattern does not)."""
        images = _rendered(style)[0]
        high = images - (np.roll(images, 1, 1) + np.roll(images, -1, 1) + np.roll(images, 1, 2) + np.roll(images, -1, 2)) / 4
        ref = pattern - (np.roll(pattern, 1, 0) + np.roll(pattern, -1, 0) + np.roll(pattern, 1, 1) + np.roll(pattern, -1, 1)) / 4
        return float(np.corrcoef(high.mean(0).ravel(), ref.ravel())[0, 1])

    # Measured on 300 images: 1.000 (id) and 0.999 (v2); between -0.043 and -0.013 for web and the four other styles.
    for style in ALL_STYLES:
        if style in CAMERA_STYLES:
            assert pattern_correlation(style) > 0.9, style
        else:
            assert abs(pattern_correlation(style)) < 0.2, style


def test_web_is_v2_like_scenes_without_the_camera() -> None:
    web_images, web_masks = _rendered("web")
    v2_images, v2_masks = _sample("v2")
    # Same scene renderer and ranges as v2, different random draws. Measured: brightness 99.7 vs 98.5, area ratio 0.98.
    assert abs(_luma(web_images).mean() - _luma(v2_images).mean()) < 8
    assert 0.85 < web_masks.mean() / v2_masks.mean() < 1.15
    assert not np.array_equal(generate("web", 5, 0)[0], generate("v2", 5, 0)[0])


@pytest.mark.parametrize("style", ALL_STYLES)
def test_shapes_dtypes_and_prefix(style: str) -> None:
    images, labels = generate(style, 23, seed=5)
    assert images.shape == (23, 32, 32, 3) and images.dtype == np.uint8
    assert labels.shape == (23,) and labels.dtype == np.int64
    assert labels.min() >= 0 and labels.max() < len(CLASS_NAMES)
    small_images, small_labels = generate(style, 9, seed=5)
    np.testing.assert_array_equal(small_images, images[:9])
    np.testing.assert_array_equal(small_labels, labels[:9])
    image, label, mask = render(style, 5, 17)
    np.testing.assert_array_equal(image, images[17])
    assert label == labels[17]
    assert mask.shape == (32, 32) and mask.dtype == np.float32 and 0 <= mask.min() and mask.max() <= 1


def test_deterministic_and_seed_dependent() -> None:
    a_images, a_labels = generate("objectnet", 30, seed=1)
    b_images, b_labels = generate("objectnet", 30, seed=1)
    np.testing.assert_array_equal(a_images, b_images)
    np.testing.assert_array_equal(a_labels, b_labels)
    c_images, c_labels = generate("objectnet", 30, seed=2)
    assert (a_images != c_images).any(axis=(1, 2, 3)).all()
    assert not np.array_equal(a_labels, c_labels)


def test_styles_render_differently() -> None:
    images = [generate(style, 10, seed=0)[0] for style in ALL_STYLES]
    for i in range(len(ALL_STYLES)):
        for j in range(i + 1, len(ALL_STYLES)):
            assert (images[i] != images[j]).any(axis=(1, 2, 3)).all()


@pytest.mark.parametrize("n", [2000, 1237])
def test_class_balance(n: int) -> None:
    _, labels = generate("sketch", n, seed=3)  # sketch is among the cheapest styles; labels do not depend on style
    counts = np.bincount(labels, minlength=len(CLASS_NAMES))
    assert counts.max() - counts.min() <= 1
    assert counts.sum() == n


def test_empty_and_invalid_arguments() -> None:
    images, labels = generate("id", 0, seed=0)
    assert images.shape == (0, 32, 32, 3) and labels.shape == (0,)
    with pytest.raises(ValueError, match="id, v2, sketch, rendition, objectnet, a, web"):
        generate("imagenet", 4, seed=0)
    with pytest.raises(ValueError, match="non-negative"):
        generate("id", -1, seed=0)


def test_v2_is_a_mild_shift_of_id() -> None:
    id_images, id_masks = _sample("id")
    v2_images, v2_masks = _sample("v2")
    # Measured: mean brightness 119.3 (id) vs 98.2 (v2); background grain 14.6 vs 22.8 (ratio 1.57).
    assert 8 < _luma(id_images).mean() - _luma(v2_images).mean() < 35
    assert _background_noise("v2") > 1.25 * _background_noise("id")
    # ...but the objects are still id-like. Measured: contrast 88.1 vs 84.6 (ratio 0.96); area 0.155 vs 0.134 (0.86).
    assert 0.85 < _object_contrast("v2") / _object_contrast("id") < 1.15
    assert 0.7 < v2_masks.mean() / id_masks.mean() < 1.0


def test_sketch_is_dark_outline_on_light_paper() -> None:
    id_images, _ = _sample("id")
    sketch_images, _ = _sample("sketch")
    # Measured: fraction of pixels with every channel >= 200 is 0.865 (sketch) vs 0.020 (id).
    assert (sketch_images.min(-1) >= 200).mean() > 0.6
    assert (id_images.min(-1) >= 200).mean() < 0.1
    # Measured: mean saturation 0.038 (sketch) vs 0.478 (id).
    assert _saturation(sketch_images).mean() < 0.12 < _saturation(id_images).mean()


def test_rendition_has_busy_saturated_fills() -> None:
    energies, saturations = {}, {}
    for style in ("id", "rendition"):
        images, masks = _sample(style)
        inside = 1 - _dilate(1 - masks, 1) > 0.99  # object pixels whose neighbours are object pixels too
        energies[style] = _laplacian(_luma(images))[inside].mean()
        saturations[style] = _saturation(images)[masks > 0.9].mean()
    # Measured: |Laplacian| inside objects 60.4 (rendition) vs 15.1 (id); object saturation 0.79 vs 0.54.
    assert energies["rendition"] > 2.5 * energies["id"]
    assert saturations["rendition"] > saturations["id"] + 0.15


def test_objectnet_is_cluttered_and_off_centre() -> None:
    # Measured: strong-edge density away from the object 0.078 (objectnet) vs 0.0014 (id).
    assert _edge_density_away_from_object("objectnet") > 0.04
    assert _edge_density_away_from_object("id") < 0.01
    # Measured: mean distance of the object's centroid from the image centre 4.57 px (objectnet) vs 3.17 px (id).
    offsets = {}
    for style in ("id", "objectnet"):
        masks = _sample(style)[1]
        grid = np.arange(IMAGE_SIZE) + 0.5
        total = masks.sum((1, 2))
        cx, cy = (masks.sum(1) @ grid) / total, (masks.sum(2) @ grid) / total
        offsets[style] = np.hypot(cx - IMAGE_SIZE / 2, cy - IMAGE_SIZE / 2).mean()
    assert offsets["objectnet"] > 1.2 * offsets["id"]


def test_a_has_small_faint_objects() -> None:
    # Measured: object-vs-surroundings contrast 35.2 (a) vs 88.1 (id); visible object area 0.046 vs 0.155 of the image.
    assert _object_contrast("a") < 0.6 * _object_contrast("id")
    assert _object_contrast("a") > 15  # faint, not invisible
    assert _sample("a")[1].mean() < 0.5 * _sample("id")[1].mean()
