"""Procedural image generator for the demo world.

Ten shape classes are rendered as 32x32 RGB images in an in-distribution style (``id``) and in five
styles that mimic the ImageNet distribution shifts (ImageNet-V2, -Sketch, -Rendition, ObjectNet,
ImageNet-A). The class is carried by the shape's outline only, so every style keeps it recognisable
while changing the appearance the way its namesake shift does.

The ID photos (and their V2 reproduction) all come from one camera whose sensor adds a fixed pattern
to every picture (``CAMERA_NOISE`` levels); the ``web`` style, used only for pretraining, renders the
same kind of scene as V2 from many cameras, so without that pattern. This mirrors CLIP and ImageNet:
the pretrained model knows the objects and scenes well, but not the curated set's capture quirks,
which finetuning learns cheaply.
"""

from __future__ import annotations

import colorsys
import math

import numpy as np
from PIL import Image, ImageDraw

CLASS_NAMES: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "star",
    "cross",
    "ring",
    "diamond",
    "hexagon",
    "arrow",
    "crescent",
)
STYLES: tuple[str, ...] = ("id", "v2", "sketch", "rendition", "objectnet", "a")
OOD_STYLES: tuple[str, ...] = STYLES[1:]
PRETRAIN_STYLES: tuple[str, ...] = ("web", "sketch", "rendition", "objectnet", "a")
ALL_STYLES: tuple[str, ...] = (*STYLES, "web")  # the order fixes each style's random stream: append only
CAMERA_STYLES: tuple[str, ...] = ("id", "v2")
IMAGE_SIZE = 32
CAMERA_NOISE = 40.0  # amplitude (0..255 levels) of the ID camera's fixed pattern

_NUM_CLASSES = len(CLASS_NAMES)
_SS = 4  # supersampling factor for anti-aliased drawing
_CANVAS = IMAGE_SIZE * _SS
_LABEL_TAG = 7919  # separates the label stream from the per-image streams (keyed by style index < 7)
_CAMERA_TAG = 4049  # seeds the ID camera's fixed pattern

# (points [k, 2], is_hole, indices of sharp corners)
Polygon = tuple[np.ndarray, bool, np.ndarray]


def _ngon(k: int, radius: float, phase: float = -np.pi / 2) -> np.ndarray:
    """Vertices of a regular k-gon of the given radius around the origin."""
    t = phase + 2 * np.pi * np.arange(k) / k
    return np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)


def _star() -> np.ndarray:
    """Five-pointed star: alternating outer and inner vertices."""
    radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
    return _ngon(10, 1.0) * radii[:, None]


def _crescent() -> np.ndarray:
    """A disc minus an offset disc, as one polygon (outer arc, then inner arc back), centred on its bounding box."""
    outer, inner, offset = 0.95, 0.82, 0.42
    x = (outer**2 - inner**2 + offset**2) / (2 * offset)
    y = np.sqrt(outer**2 - x**2)
    phi, psi = np.arctan2(y, x), np.arctan2(y, x - offset)
    t_out = np.linspace(phi, 2 * np.pi - phi, 26)
    # The inner arc's ends coincide with the outer arc's ends: drop them.
    t_in = np.linspace(2 * np.pi - psi, psi, 20)[1:-1]
    pts = np.concatenate(
        [
            np.stack([outer * np.cos(t_out), outer * np.sin(t_out)], axis=1),
            np.stack([offset + inner * np.cos(t_in), inner * np.sin(t_in)], axis=1),
        ]
    )
    pts[:, 0] -= (pts[:, 0].min() + pts[:, 0].max()) / 2
    return pts


def _cross(half_width: float = 0.3, reach: float = 0.95) -> np.ndarray:
    """Plus sign with equal arms."""
    w, r = half_width, reach
    quarter = np.array([(-w, -r), (w, -r), (w, -w)])  # one arm plus the inner corner after it
    turn = np.array([[0.0, -1.0], [1.0, 0.0]])  # 90 degrees
    return np.concatenate([quarter @ np.linalg.matrix_power(turn, k).T for k in range(4)])


def _polygon(points: np.ndarray | list[tuple[float, float]], hole: bool = False) -> Polygon:
    """Polygon record with the indices of its sharp corners (turn > 20 degrees), which need round caps when stroked."""
    pts = np.asarray(points, dtype=np.float64)
    incoming = pts - np.roll(pts, 1, axis=0)
    outgoing = np.roll(pts, -1, axis=0) - pts
    cos_turn = (incoming * outgoing).sum(1) / (np.linalg.norm(incoming, axis=1) * np.linalg.norm(outgoing, axis=1))
    return pts, hole, np.flatnonzero(cos_turn < np.cos(np.deg2rad(20)))


# Unit-size outlines (bounding radius ~1), in CLASS_NAMES order; holes are drawn after their outer polygon.
_SHAPES: tuple[tuple[Polygon, ...], ...] = (
    (_polygon(_ngon(32, 0.9)),),
    (_polygon([(-0.72, -0.72), (0.72, -0.72), (0.72, 0.72), (-0.72, 0.72)]),),
    (_polygon(_ngon(3, 1.0) + np.array([0.0, 0.2])),),
    (_polygon(_star()),),
    (_polygon(_cross()),),
    (_polygon(_ngon(32, 0.95)), _polygon(_ngon(24, 0.55), hole=True)),
    (_polygon([(0.0, -1.0), (0.55, 0.0), (0.0, 1.0), (-0.55, 0.0)]),),
    (_polygon(_ngon(6, 0.95, 0.0)),),
    (_polygon([(-1, -0.22), (0.15, -0.22), (0.15, -0.62), (1, 0), (0.15, 0.62), (0.15, 0.22), (-1, 0.22)]),),
    (_polygon(_crescent()),),
)


def _upsample_matrix(cells: int) -> np.ndarray:
    """Bilinear interpolation weights [IMAGE_SIZE, cells] mapping a coarse grid onto image pixels."""
    u = np.clip((np.arange(IMAGE_SIZE) + 0.5) / IMAGE_SIZE * cells - 0.5, 0, cells - 1)
    lo = np.floor(u).astype(int)
    hi = np.minimum(lo + 1, cells - 1)
    m = np.zeros((IMAGE_SIZE, cells))
    m[np.arange(IMAGE_SIZE), lo] += 1 - (u - lo)
    m[np.arange(IMAGE_SIZE), hi] += u - lo
    return m


_UPSAMPLE = {cells: _upsample_matrix(cells) for cells in (3, 4, 6, 8)}
_BLOB_MIX = 0.5 * np.eye(3) + 0.3  # correlates blob channels: brightness blobs with a milder colour cast
_YY, _XX = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float64) + 0.5  # pixel centres
_RAMP_X = (_XX - IMAGE_SIZE / 2) / (IMAGE_SIZE / 2 * np.sqrt(2))  # centred, corners at +-1
_RAMP_Y = (_YY - IMAGE_SIZE / 2) / (IMAGE_SIZE / 2 * np.sqrt(2))
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])
# The ID camera's fixed-pattern noise [3, 32, 32]: the same offset at each pixel of every picture it takes.
_CAMERA = np.random.default_rng(_CAMERA_TAG).uniform(-1.0, 1.0, size=(3, IMAGE_SIZE, IMAGE_SIZE)) * CAMERA_NOISE


def _block_labels(seed: int, block: int) -> np.ndarray:
    """Labels of indices 10*block .. 10*block+9: a seeded permutation of the ten classes (keeps classes balanced)."""
    return np.random.default_rng([seed, _LABEL_TAG, block]).permutation(_NUM_CLASSES)


def _labels(n: int, seed: int) -> np.ndarray:
    """Labels of indices 0 .. n-1; class counts differ by at most one."""
    blocks = [_block_labels(seed, b) for b in range(-(-n // _NUM_CLASSES))]
    return np.concatenate(blocks)[:n].astype(np.int64) if blocks else np.zeros(0, dtype=np.int64)


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """RGB colour [3, 1, 1] in 0..255 from hue (wrapped), saturation and value in 0..1."""
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v)).reshape(3, 1, 1) * 255.0


def _luma(colour: np.ndarray) -> float:
    """Perceived brightness (ITU-R 601) of one colour [3, 1, 1]."""
    return float(_LUMA_WEIGHTS @ colour.ravel())


def _contrasting_colour(rng: np.random.Generator, against: np.ndarray, min_gap: float) -> np.ndarray:
    """A random colour whose brightness differs from ``against`` by at least ``min_gap`` (0..255 scale).

    Hue and saturation are random; the value is drawn uniformly from the brightness range that keeps the gap.
    """
    target = _luma(against)
    full = _hsv(rng.uniform(), rng.uniform(0.15, 0.9), 1.0)
    top = _luma(full)
    darker = (0.1 * top, min(top, target - min_gap))
    lighter = (max(0.1 * top, target + min_gap), top)
    lengths = [max(hi - lo, 0.0) for lo, hi in (darker, lighter)]
    if sum(lengths) == 0.0:
        return np.full((3, 1, 1), 20.0 if target > 128 else 235.0)
    u = rng.uniform(0.0, sum(lengths))
    brightness = darker[0] + u if u < lengths[0] else lighter[0] + u - lengths[0]
    return full * (brightness / top)


def _pixel_noise(rng: np.random.Generator, std: float, channels: int = 3) -> np.ndarray:
    """Per-pixel uniform noise [channels, 32, 32] with the given standard deviation (uniform: 3x cheaper than Gaussian)."""
    return (rng.random((channels, IMAGE_SIZE, IMAGE_SIZE)) - 0.5) * (std * np.sqrt(12.0))


def _smooth_noise(rng: np.random.Generator, cells: int, channels: int) -> np.ndarray:
    """Low-frequency Gaussian noise [channels, 32, 32]: a coarse random grid upsampled bilinearly."""
    m = _UPSAMPLE[cells]
    return m @ rng.normal(size=(channels, cells, cells)) @ m.T


def _gradient(rng: np.random.Generator) -> np.ndarray:
    """A linear ramp in [-1, 1] across the image in a random direction, shape [32, 32]."""
    theta = rng.uniform(0, 2 * np.pi)
    return np.cos(theta) * _RAMP_X + np.sin(theta) * _RAMP_Y


def _textured_background(rng: np.random.Generator, base: np.ndarray, gradient: float, blobs: float) -> np.ndarray:
    """Base colour plus a colour gradient and soft blobs (mostly brightness, partly colour), float [3, 32, 32] in 0..255 units."""
    bg = base + _gradient(rng) * (rng.normal(size=(3, 1, 1)) * gradient)
    blob_noise = _smooth_noise(rng, (3, 4, 6)[rng.integers(3)], 3)
    return bg + (_BLOB_MIX @ blob_noise.reshape(3, -1)).reshape(blob_noise.shape) * blobs


def _place(
    label: int,
    centre: np.ndarray,
    radius: float,
    rotation: float,
    shear: float = 0.0,
    aspect: float = 1.0,
    perspective: np.ndarray | None = None,
) -> list[Polygon]:
    """Class outline on the supersampled canvas: aspect squash, shear, rotation, optional projective tilt, scale, shift."""
    c, s = np.cos(rotation), np.sin(rotation)
    linear = np.array([[c, (c * shear - s) * aspect], [s, (s * shear + c) * aspect]])  # rotate @ shear @ squash
    placed = []
    for pts, hole, sharp in _SHAPES[label]:
        q = pts @ linear.T
        if perspective is not None:
            q = q / (1.0 + q @ perspective)[:, None]
        placed.append(((q * radius + centre) * _SS, hole, sharp))
    return placed


def _over(back: np.ndarray, front: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """Alpha-composite ``front`` over ``back`` (channel-first colours or images) with per-pixel coverage [32, 32] in 0..1."""
    return back + (front - back) * coverage


def _coverage(canvas: Image.Image) -> np.ndarray:
    """Downsample a supersampled 'L' canvas (box filter = anti-aliasing) to coverage [32, 32] in 0..1."""
    return np.frombuffer(canvas.reduce(_SS).tobytes(), dtype=np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE) / 255.0


def _fill_mask(polygons: list[Polygon]) -> np.ndarray:
    """Anti-aliased coverage [32, 32] in 0..1 of the filled polygons (holes cut out)."""
    canvas = Image.new("L", (_CANVAS, _CANVAS), 0)
    draw = ImageDraw.Draw(canvas)
    for pts, hole, _ in polygons:
        draw.polygon(pts.ravel().tolist(), fill=0 if hole else 255)
    return _coverage(canvas)


def _outline_mask(polygons: list[Polygon], width: int) -> np.ndarray:
    """Anti-aliased coverage [32, 32] in 0..1 of the polygon outlines stroked with ``width`` supersampled pixels.

    Round caps go only on sharp corners: Pillow's own curved joints cost a Python loop per vertex.
    Only rotation and uniform scaling may have been applied, since those keep the sharp corners sharp.
    """
    canvas = Image.new("L", (_CANVAS, _CANVAS), 0)
    draw = ImageDraw.Draw(canvas)
    half = width / 2
    for pts, _, sharp in polygons:
        flat = pts.ravel().tolist()
        draw.line(flat + flat[:2], fill=255, width=width)
        for x, y in pts[sharp].tolist():
            draw.ellipse((x - half, y - half, x + half, y + half), fill=255)
    return _coverage(canvas)


def _centre(rng: np.random.Generator, radius: float, spread: float) -> np.ndarray:
    """Object centre: image centre plus a random offset of up to ``spread`` times the free margin."""
    return IMAGE_SIZE / 2 + rng.uniform(-1, 1, size=2) * max(IMAGE_SIZE / 2 - radius, 0.0) * spread


def _stripes(angle: float, period: float, phase: float) -> np.ndarray:
    """Soft stripes in 0..1 with the given direction and period (pixels)."""
    u = np.cos(angle) * _XX + np.sin(angle) * _YY
    return np.clip(0.5 + 1.5 * np.sin(2 * np.pi * (u / period + phase)), 0.0, 1.0)


def _pattern(rng: np.random.Generator) -> np.ndarray:
    """Random high-frequency fill pattern in 0..1 [32, 32]: stripes, checkers or dots."""
    kind = rng.integers(3)
    angle, period, phase = rng.uniform(0, np.pi), rng.uniform(3.0, 6.0), rng.uniform()
    if kind == 0:
        return _stripes(angle, period, phase)
    if kind == 1:  # checkers: XOR of two perpendicular square waves
        a, b = _stripes(angle, 2 * period, phase), _stripes(angle + np.pi / 2, 2 * period, phase)
        return a + b - 2 * a * b
    u = np.cos(angle) * _XX + np.sin(angle) * _YY
    v = -np.sin(angle) * _XX + np.cos(angle) * _YY
    du = (u / period + phase) % 1.0 - 0.5
    dv = (v / period + phase) % 1.0 - 0.5
    return np.clip((0.32 - np.hypot(du, dv)) * 8.0, 0.0, 1.0)


def _draw_id(rng: np.random.Generator, label: int, shifted: bool) -> tuple[np.ndarray, np.ndarray]:
    """Filled shape on a textured background; ``shifted`` re-samples with the V2 ranges (smaller, darker, noisier)."""
    size = rng.uniform(0.34, 0.74) if shifted else rng.uniform(0.40, 0.80)
    radius = size * IMAGE_SIZE / 2
    rotation = np.deg2rad(rng.uniform(-40, 40) if shifted else rng.uniform(-30, 30))
    mask = _fill_mask(_place(label, _centre(rng, radius, 0.6), radius, rotation))
    value = rng.uniform(0.15, 0.8) if shifted else rng.uniform(0.25, 0.95)
    base = _hsv(rng.uniform(), rng.uniform(0.1, 0.7), value)
    bg = _textured_background(rng, base, gradient=40.0, blobs=25.0)
    fg = _contrasting_colour(rng, base, min_gap=60.0) + _gradient(rng) * 20.0
    noise = rng.uniform(6, 14) if shifted else rng.uniform(3, 10)
    img = _over(bg, fg, mask) + _pixel_noise(rng, noise)
    return img, mask


def _draw_sketch(rng: np.random.Generator, label: int) -> tuple[np.ndarray, np.ndarray]:
    """Dark pencil outline (one or two slightly offset strokes, optional hatching) on near-white paper."""
    radius = rng.uniform(0.40, 0.80) * IMAGE_SIZE / 2
    rotation = np.deg2rad(rng.uniform(-30, 30))
    centre = _centre(rng, radius, 0.6)
    polygons = _place(label, centre, radius, rotation)
    ink = _outline_mask(polygons, int(rng.integers(3, 8)))
    if rng.uniform() < 0.5:  # a second, slightly displaced stroke as in a quick hand sketch
        retrace = _place(label, centre + rng.normal(0, 0.4, 2), radius * rng.uniform(0.95, 1.05), rotation + rng.normal(0, 0.05))
        ink = np.maximum(ink, 0.8 * _outline_mask(retrace, 3))
    mask = _fill_mask(polygons)
    if rng.uniform() < 0.4:  # light hatching inside the silhouette
        ink = np.maximum(ink, 0.35 * mask * _stripes(rng.uniform(0, np.pi), rng.uniform(2.5, 4.0), rng.uniform()))
    paper_level = rng.uniform(228, 252)
    paper = np.array([paper_level, paper_level - rng.uniform(0, 6), paper_level - rng.uniform(0, 14)]).reshape(3, 1, 1)
    paper = paper + _smooth_noise(rng, 6, 1) * 4.0 + _pixel_noise(rng, 2.0, channels=1)
    pencil = np.array([0.0, 0.0, rng.uniform(0, 25)]).reshape(3, 1, 1) + rng.uniform(15, 90)
    return _over(paper, pencil, ink), mask


def _draw_rendition(rng: np.random.Generator, label: int) -> tuple[np.ndarray, np.ndarray]:
    """Shape filled with a saturated two-colour pattern, optional cartoon outline, on a flat/pastel/dark/striped backdrop."""
    radius = rng.uniform(0.40, 0.80) * IMAGE_SIZE / 2
    polygons = _place(label, _centre(rng, radius, 0.6), radius, np.deg2rad(rng.uniform(-30, 30)))
    mask = _fill_mask(polygons)
    hue = rng.uniform()
    colour_a = _hsv(hue, rng.uniform(0.75, 1.0), rng.uniform(0.8, 1.0))
    colour_b = _hsv(hue + rng.uniform(0.3, 0.7), rng.uniform(0.75, 1.0), rng.uniform(0.3, 1.0))
    fg = _over(colour_b, colour_a, _pattern(rng))
    backdrop = rng.integers(3)
    bg_hue = hue + rng.uniform(0.15, 0.85)
    if backdrop == 0:  # near-black
        bg = _hsv(bg_hue, rng.uniform(0.3, 1.0), rng.uniform(0.0, 0.15))
    elif backdrop == 1:  # pastel
        bg = _hsv(bg_hue, rng.uniform(0.15, 0.35), rng.uniform(0.9, 1.0))
    else:  # broad two-tone stripes of a third saturated hue
        wide = _stripes(rng.uniform(0, np.pi), rng.uniform(10, 16), rng.uniform())
        bg = _hsv(bg_hue, rng.uniform(0.6, 1.0), 0.85) * (1 - 0.3 * wide)
    img = _over(bg, fg, mask)
    if rng.uniform() < 0.6:
        img = img * (1 - _outline_mask(polygons, int(rng.integers(4, 9))))
    return img, mask


_CLUTTER_SS = 2
# Fragment corners: angular offsets (kept in order under the jitter) and relative radii of an irregular quadrilateral.
_FRAGMENT_CORNERS = ((0.0, 0.0, 1.0), (1.9, 0.5, 0.7), (3.6, -0.4, 1.2), (4.9, 0.6, 0.8))


def _add_clutter(rng: np.random.Generator, bg: np.ndarray, count: int) -> np.ndarray:
    """Paint ``count`` distractors (straight strokes, arcs, irregular fragments often cut by the border) onto ``bg``.

    They are drawn opaque on a transparent 2x-supersampled "RGBa" canvas (4x buys nothing for thin clutter), whose box
    downsampling averages the raw bands: colour premultiplied by coverage, plus coverage, so compositing is
    ``bg * (1 - alpha) + colour``. Geometry uses plain floats: for a handful of points that beats numpy's call overhead.
    """
    size = IMAGE_SIZE * _CLUTTER_SS
    canvas = Image.new("RGBa", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    for u in rng.uniform(size=(count, 9)).tolist():
        colour = (*(int(c) for c in colorsys.hsv_to_rgb(u[1], u[2], u[3] * 255)), 255)
        x, y, turn, spin, extent = u[4] * size, u[5] * size, u[6] * 2 * math.pi, u[7], u[8]
        kind = int(u[0] * 3)
        if kind == 2:  # irregular quadrilateral fragment
            reach = (0.06 + 0.1 * extent) * size
            corners = [(turn + offset + spin * jitter, reach * scale) for offset, jitter, scale in _FRAGMENT_CORNERS]
            draw.polygon([v for a, r in corners for v in (x + r * math.cos(a), y + r * math.sin(a))], fill=colour)
            continue
        if kind == 0:  # straight stroke from (x, y) in direction ``turn``
            length = (0.4 + 0.8 * extent) * size
            xy = [x, y, x + length * math.cos(turn), y + length * math.sin(turn)]
        else:  # arc of a large circle around (x, y), as a polyline
            radius, span = (0.2 + 0.4 * extent) * size, 0.7 + 1.4 * spin
            angles = [turn + span * k / 7 for k in range(8)]
            xy = [v for a in angles for v in (x + radius * math.cos(a), y + radius * math.sin(a))]
        draw.line(xy, fill=colour, width=2 + int(spin * 3))
    rgba = np.frombuffer(canvas.reduce(_CLUTTER_SS).tobytes(), dtype=np.uint8).reshape(IMAGE_SIZE * IMAGE_SIZE, 4).T
    return (bg.reshape(3, -1) * (1 - rgba[3] / 255.0) + rgba[:3]).reshape(bg.shape)


def _draw_objectnet(rng: np.random.Generator, label: int) -> tuple[np.ndarray, np.ndarray]:
    """Any rotation, shear and projective tilt, off-centre, in front of line/arc/fragment clutter on a textured backdrop."""
    radius = rng.uniform(0.45, 0.80) * IMAGE_SIZE / 2
    polygons = _place(
        label,
        _centre(rng, radius, 0.9),
        radius,
        rng.uniform(0, 2 * np.pi),
        shear=rng.uniform(-0.6, 0.6),
        aspect=rng.uniform(0.55, 1.0),
        perspective=rng.uniform(-0.35, 0.35, size=2),
    )
    mask = _fill_mask(polygons)
    base = _hsv(rng.uniform(), rng.uniform(0.1, 0.6), rng.uniform(0.25, 0.9))
    bg = _textured_background(rng, base, gradient=40.0, blobs=30.0)
    bg = _add_clutter(rng, bg, int(rng.integers(3, 8)))
    fg = _contrasting_colour(rng, base, min_gap=55.0) + _gradient(rng) * 25.0
    noise = _pixel_noise(rng, rng.uniform(3, 10))
    return _over(bg, fg, mask) + noise, mask


def _draw_a(rng: np.random.Generator, label: int) -> tuple[np.ndarray, np.ndarray]:
    """Small, low-contrast shape on a busy background, often partly hidden behind a bar (a branch or pole in front)."""
    radius = rng.uniform(0.26, 0.46) * IMAGE_SIZE / 2
    centre = _centre(rng, radius + 1, 1.0)
    mask = _fill_mask(_place(label, centre, radius, np.deg2rad(rng.uniform(-45, 45))))
    base = _hsv(rng.uniform(), rng.uniform(0.1, 0.6), rng.uniform(0.3, 0.8))
    bg = _textured_background(rng, base, gradient=30.0, blobs=25.0)
    # Brightness gap to the background right under the object, so the object is faint but never invisible.
    local = (bg.reshape(3, -1) @ mask.ravel()).reshape(3, 1, 1) / max(float(mask.sum()), 1e-6)
    gap = rng.uniform(30, 55) * (1.0 if _luma(local) < 128 else -1.0)
    fg = local + gap + rng.normal(0, 10, size=(3, 1, 1))
    if rng.uniform() < 0.85:
        phi = rng.uniform(0, 2 * np.pi)
        normal = np.array([np.cos(phi), np.sin(phi)])
        through = centre + normal * radius * rng.uniform(0.4, 0.9)
        along = np.array([-normal[1], normal[0]]) * 2 * IMAGE_SIZE  # long enough to cross the whole image
        canvas = Image.new("L", (_CANVAS, _CANVAS), 0)
        xy = (np.concatenate([through - along, through + along]) * _SS).tolist()
        ImageDraw.Draw(canvas).line(xy, fill=255, width=int(radius * rng.uniform(0.45, 0.8) * _SS))
        occluder = _coverage(canvas)
        bar = _hsv(rng.uniform(), rng.uniform(0.1, 0.5), rng.uniform(0.2, 0.8)) + _smooth_noise(rng, 8, 3) * 10
        mask = mask * (1 - occluder)
        bg = _over(bg, bar, occluder)
    return _over(bg, fg, mask) + _pixel_noise(rng, rng.uniform(6, 11)), mask


def _draw(style_index: int, seed: int, index: int, label: int) -> tuple[np.ndarray, np.ndarray]:
    """Image (uint8 HWC) and visible-object coverage of sample ``index``; its randomness depends only on (seed, style, index)."""
    rng = np.random.default_rng([seed, style_index, index])
    style = ALL_STYLES[style_index]
    if style in ("id", "v2", "web"):
        img, mask = _draw_id(rng, label, shifted=style != "id")
    elif style == "sketch":
        img, mask = _draw_sketch(rng, label)
    elif style == "rendition":
        img, mask = _draw_rendition(rng, label)
    elif style == "objectnet":
        img, mask = _draw_objectnet(rng, label)
    else:
        img, mask = _draw_a(rng, label)
    if style in CAMERA_STYLES:
        img = img + _CAMERA
    return np.clip(img + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0), mask.astype(np.float32)


def camera_pattern() -> np.ndarray:
    """The ID camera's fixed pattern as float [32, 32, 3] level offsets: what every id and v2 image carries."""
    return _CAMERA.transpose(1, 2, 0).copy()


def _check(style: str, n: int, seed: int) -> int:
    """Validate arguments and return the style's index."""
    if style not in ALL_STYLES:
        raise ValueError(f"unknown style {style!r}; valid styles are {', '.join(ALL_STYLES)}")
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    return ALL_STYLES.index(style)


def render(style: str, seed: int, index: int) -> tuple[np.ndarray, int, np.ndarray]:
    """Sample ``index`` of ``generate(style, n, seed)`` for any n > index, with its object mask.

    Returns (uint8 [32, 32, 3] image, label, float32 [32, 32] coverage of the visible object); the mask is
    what the style statistics (object size, contrast, clutter) are measured against.
    """
    if index < 0:
        raise ValueError(f"index must be non-negative, got {index}")
    style_index = _check(style, index + 1, seed)
    label = int(_block_labels(seed, index // _NUM_CLASSES)[index % _NUM_CLASSES])
    img, mask = _draw(style_index, seed, index, label)
    return img, label, mask


def generate(style: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (uint8 [n, 32, 32, 3]) and class-balanced labels (int64 [n]) of one style.

    Image i depends only on (style, seed, i), so prefixes agree and chunks can be generated in parallel.
    """
    style_index = _check(style, n, seed)
    labels = _labels(n, seed)
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    for i in range(n):
        images[i] = _draw(style_index, seed, i, int(labels[i]))[0]
    return images, labels
