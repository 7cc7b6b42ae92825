"""Speed of one ValAcc evaluation: the engine's hot path vs a bare forward pass vs the naive peer loop.

Times, in one run and on the same cached held-out images:

  (a) engine  - `mixing.mix` of two flat ingredients with a fresh random λ per component into the work
                buffer the classifier is bound to, then `Evaluator.accuracy` over uint8 tensors on the device;
  (b) floor   - a bare forward pass of a normally built, fixed `Classifier` (load_state_dict) over the same
                tensors, same batch size, inference_mode, argmax + accuracy;
  (c) naive   - what the paper's reference code does per evaluation: `Classifier(spec)` from scratch,
                a dict-comprehension mix λ·A[k] + (1−λ)·C[k] (`getFusedModelStateDictFromLambda`),
                load_state_dict, then a torch DataLoader (num_workers=0) over PNG files decoded with PIL
                and converted with torchvision ToTensor + Normalize.

All three compute in the engine's dtype (evaluate.compute_dtype: bfloat16 on a GPU, float32 on the CPU), so the ratios
measure pipelines; (a) is checked against a float32 CPU model of the same λ first. On a GPU, (c) can be left out
(--no-naive: its PNG round trip takes minutes at 26,000 images) and the time of (a) is set against the FLOP floor.

Run:  .venv/bin/python benchmarks/bench_valacc.py [--arch demo|ViT-B-32] [--n N] [--repeats R] [--device cpu|cuda|auto] [--json F]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from manifoldmix_core import anatomy, mixing, models  # noqa: E402
from manifoldmix_core.data import EvalSet  # noqa: E402
from manifoldmix_core.demo.train import demo_spec  # noqa: E402
from manifoldmix_core.evaluate import Evaluator, bound_classifier, compute_dtype, pick_device  # noqa: E402
from manifoldmix_core.partition import resolve  # noqa: E402

TARGET_FLOOR = 1.05  # (a)/(b) <= this
TARGET_NAIVE = 10.0  # (c)/(a) >= this
TARGET_GPU_26K_S = 0.5  # (a) on 26,000 ViT-B/32 images on one H100 (the author's GPU took 26 s)


def make_spec(arch: str) -> models.ModelSpec:
    if arch == "demo":
        return demo_spec()
    cfg = models._named_config(arch)
    return models.ModelSpec(arch, embed_dim=cfg["embed_dim"], num_classes=1000, quick_gelu=bool(cfg.get("quick_gelu", False)))


def random_state(spec: models.ModelSpec, seed: int) -> dict[str, torch.Tensor]:
    """A randomly initialised classifier's state dict (CPU, float32), reproducible from the seed."""
    torch.manual_seed(seed)
    return {k: v.detach().clone() for k, v in models.Classifier(spec).state_dict().items()}


# -- (a) the engine ----------------------------------------------------------------------------------
class Engine:
    """The engine's set-up as in `runner.prepare`, minus files: bound classifier, flat layout, work buffer."""

    def __init__(self, spec, state_a, state_c, evalset: EvalSet, device, batch_size, partition_spec):
        names = list(state_a)
        layout = anatomy.detect_key_layout(names)
        partition = resolve(partition_spec, names, layout)
        self.flat = mixing.FlatLayout.build(partition, {n: tuple(state_a[n].shape) for n in names},
                                            is_live=lambda n: layout.classifier_name(n) is not None)
        self.model, weights = bound_classifier(spec, self.flat, layout, device)
        self.work = weights.work
        self.psi = self.flat.flatten(state_a, device, "A")
        self.theta = self.flat.flatten(state_c, device, "C")
        self.evaluator = Evaluator(self.model, device, batch_size, weights)
        self.evalset = evalset
        self.partition = partition

    @property
    def n_components(self) -> int:
        return len(self.flat.component_spans)

    def valacc(self, lam) -> float:
        mixing.mix(self.work, self.psi, self.theta, lam, self.flat.live_spans)
        return self.evaluator.accuracy(self.evalset)


def build_loaded(spec: models.ModelSpec, state: dict[str, torch.Tensor]) -> models.Classifier:
    """A classifier built the ordinary way: constructed (random init), then `load_state_dict`."""
    model = models.Classifier(spec)
    model.load_state_dict(state)
    return model


def to_compute(model: models.Classifier, device, dtype) -> models.Classifier:
    """On the device, weights in the engine's compute dtype (see evaluate.py); mean/std stay float32 as in the engine."""
    model.visual.to(device, dtype)
    model.head.to(device, dtype)
    return model.to(device).eval()


# -- (b) the floor -----------------------------------------------------------------------------------
class Floor:
    """A normally built classifier with fixed weights; batched forward, argmax, accuracy."""

    def __init__(self, spec, state, evalset: EvalSet, device, batch_size, dtype):
        self.model = to_compute(build_loaded(spec, state), device, dtype)
        self.images, self.labels, self.batch_size = evalset.images, evalset.labels, batch_size

    @torch.inference_mode()
    def valacc(self) -> float:
        correct = torch.zeros((), dtype=torch.int64, device=self.labels.device)
        for start in range(0, len(self.labels), self.batch_size):
            logits = self.model(self.images[start:start + self.batch_size])
            correct += (logits.argmax(dim=1) == self.labels[start:start + self.batch_size]).sum()
        return correct.item() / len(self.labels)


# -- (c) the naive peer loop -------------------------------------------------------------------------
class PngFolder(Dataset):
    """Held-out images as PNG files, decoded with PIL and converted with torchvision on every access."""

    def __init__(self, files, labels, transform):
        self.files, self.labels, self.transform = files, labels, transform

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        with Image.open(self.files[i]) as img:
            return self.transform(img.convert("RGB")), self.labels[i]


def write_pngs(images: torch.Tensor, root: Path) -> list[Path]:
    files = []
    for i, image in enumerate(images.permute(0, 2, 3, 1).numpy()):
        path = root / f"{i:06d}.png"
        Image.fromarray(image).save(path)
        files.append(path)
    return files


class Naive:
    """Per evaluation: build the model, mix state dicts in Python, reload, DataLoader over PNGs."""

    def __init__(self, spec, state_a, state_c, partition, files, labels, device, batch_size, dtype):
        self.spec, self.device, self.dtype = spec, device, dtype
        self.A = {k: v.to(device) for k, v in state_a.items()}
        self.C = {k: v.to(device) for k, v in state_c.items()}
        of = partition.component_of()
        self.group = {k: of[k] for k in self.A}  # parameter -> component, as the author's key grouping
        transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(spec.image_mean, spec.image_std)])
        self.loader = DataLoader(PngFolder(files, labels, transform), batch_size=batch_size, shuffle=False, num_workers=0)

    def fused_state_dict(self, lam) -> dict[str, torch.Tensor]:
        return {k: lam[self.group[k]] * self.A[k] + (1 - lam[self.group[k]]) * self.C[k] for k in self.A}

    def build(self, lam) -> models.Classifier:
        return to_compute(build_loaded(self.spec, self.fused_state_dict(lam)), self.device, self.dtype)

    def forward(self, model, x):
        features = model.visual(x.to(self.dtype))  # the images are already normalised by the transforms
        if model.normalize_features:
            features = torch.nn.functional.normalize(features, dim=-1)
        return model.head(features)

    @torch.no_grad()
    def valacc(self, lam) -> float:
        model = self.build(lam)
        correct, total = 0, 0
        for x, y in self.loader:
            x, y = x.to(self.device), y.to(self.device)
            correct += (self.forward(model, x).argmax(dim=1) == y).sum().item()
            total += len(y)
        return correct / total


# -- driver ------------------------------------------------------------------------------------------
def reference_logits(spec, state_a, state_c, partition, lam, images: torch.Tensor) -> torch.Tensor:
    """Logits of λ·A + (1−λ)·C per component, built the ordinary way and run in float32 on the CPU: what (a) must match."""
    of = partition.component_of()
    state = {k: lam[of[k]] * state_a[k] + (1 - lam[of[k]]) * state_c[k] for k in state_a}
    with torch.inference_mode():
        return build_loaded(spec, state).eval()(images.cpu()).float()


def check_agreement(engine: Engine, reference: torch.Tensor, lam) -> float:
    """(a) and the float32 reference on the same images: ‖Δ‖ / ‖ref‖ (float32 ~1e-6, bf16 ~1e-2)."""
    mixing.mix(engine.work, engine.psi, engine.theta, lam, engine.flat.live_spans)
    ours = engine.evaluator.logits(EvalSet("check", engine.evalset.images[:len(reference)], engine.evalset.labels[:len(reference)]))
    return float((ours.cpu() - reference).norm() / reference.norm().clamp_min(1e-12))


def forward_flops(spec: models.ModelSpec) -> int:
    """Floating-point operations of one image's forward pass (matrix products and convolutions), counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode
    model = models.Classifier(spec).eval()
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, spec.image_size, spec.image_size, dtype=torch.uint8))
    return counter.get_total_flops()


def timed(fn, args, sync) -> tuple[float, float]:
    """Seconds taken by fn(*args) (device work included), and its result."""
    sync()
    start = time.perf_counter()
    result = fn(*args)
    sync()
    return time.perf_counter() - start, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="demo", help="'demo' or an open_clip config name such as ViT-B-32")
    parser.add_argument("--n", type=int, default=None, help="held-out images (default: demo 2000; ViT 128 on CPU, 26000 on CUDA)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats after one warm-up (default: demo 7, ViT 2 on CPU, 7 on CUDA)")
    parser.add_argument("--device", default="auto", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--batch-size", type=int, default=None, help="default: the engine's (256 CPU, 2048 CUDA)")
    parser.add_argument("--blocks-per-component", type=int, default=1, help="structural partition: blocks per component")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's own choice)")
    parser.add_argument("--no-naive", action="store_true", help="leave out (c) (its PNG round trip takes minutes at 26k images)")
    parser.add_argument("--peak-tflops", type=float, default=790.0, help="the card's dense bf16 rate, for the FLOP floor (H100/H200: ~790)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)

    device = pick_device(args.device)
    on_cuda = device.type == "cuda"
    demo = args.arch == "demo"
    n = args.n or (2000 if demo else (26000 if on_cuda else 128))
    repeats = args.repeats or (7 if demo or on_cuda else 2)
    spec = make_spec(args.arch)
    size = spec.image_size

    state_a, state_c, state_b = (random_state(spec, args.seed + i) for i in (1, 2, 3))
    gen = torch.Generator().manual_seed(args.seed)
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, spec.num_classes, (n,), dtype=torch.int64, generator=gen)
    evalset = EvalSet("heldout", images, labels).to(device)

    engine = Engine(spec, state_a, state_c, evalset, device, args.batch_size,
                    {"preset": "structural", "blocks_per_component": args.blocks_per_component})
    batch_size, dtype = engine.evaluator.batch_size, compute_dtype(device)
    floor = Floor(spec, state_b, evalset, device, batch_size, dtype)  # same dtype for all three: the ratios measure pipelines
    sync = torch.cuda.synchronize if on_cuda else (lambda: None)

    params = sum(v.numel() for v in state_a.values())
    card = torch.cuda.get_device_name(device) if on_cuda else "CPU"
    print(f"arch {args.arch}  ({params / 1e6:.2f}M parameters, {size}px, {spec.num_classes} classes, "
          f"{engine.n_components} components: structural, {args.blocks_per_component} block(s) each)")
    print(f"device {device} ({card})  torch {torch.__version__}  threads {torch.get_num_threads()}  n {n}  batch {batch_size}  "
          f"repeats {repeats} (+1 warm-up)  compute dtype {dtype}")

    lam_gen = torch.Generator().manual_seed(args.seed + 100)
    lam = torch.rand(engine.n_components, generator=lam_gen).tolist()
    k = min(n, 16)
    check = check_agreement(engine, reference_logits(spec, state_a, state_c, engine.partition, lam, images[:k]), lam)
    print(f"check: (a) vs a float32 CPU model of the same λ on {k} images, relative difference ‖Δ‖/‖ref‖ = {check:.1e}")

    runs = [("a", engine.valacc, True), ("b", lambda _lam: floor.valacc(), False)]
    with tempfile.TemporaryDirectory(prefix="bench_valacc_") as tmp:
        if not args.no_naive:
            files = write_pngs(images, Path(tmp))
            naive = Naive(spec, state_a, state_c, engine.partition, files, labels.tolist(), device, batch_size, dtype)
            runs.append(("c", naive.valacc, True))
        times: dict[str, list[float]] = {key: [] for key, _, _ in runs}
        accs = {}
        for r in range(repeats + 1):  # interleaved, so drift hits all alike; r == 0 is the warm-up
            lam = torch.rand(engine.n_components, generator=lam_gen).tolist()
            for key, fn, _ in runs:
                t, accs[key] = timed(fn, (lam,), sync)
                if r > 0:
                    times[key].append(t)
            if r > 0 and "c" in accs and abs(accs["a"] - accs["c"]) > 2 / n:
                print(f"warning: repeat {r}: (a) ValAcc {accs['a']:.4f} but (c) {accs['c']:.4f} for the same λ")

    med = {k: statistics.median(v) for k, v in times.items()}
    labels_ = {"a": "(a) engine: mix + Evaluator.accuracy", "b": "(b) floor: bare forward, fixed model",
               "c": "(c) naive: build + dict mix + load + PNG DataLoader"}
    for key in times:
        spread = f"min {min(times[key]):.4f}  max {max(times[key]):.4f}"
        print(f"{labels_[key]:<52} median {med[key]:9.4f} s   ({spread})  acc {accs[key]:.4f}")
    figures = {"arch": args.arch, "device": card, "torch": torch.__version__, "n": n, "batch": batch_size, "dtype": str(dtype),
               "check_rel_diff": check, "median_s": med, "min_s": {k: min(v) for k, v in times.items()}}
    ratio_floor = med["a"] / med["b"]
    print(f"(a)/(b) = {ratio_floor:6.3f}   target <= {TARGET_FLOOR:g}   {'PASS' if ratio_floor <= TARGET_FLOOR else 'MISS'}")
    if "c" in med:
        ratio_naive = med["c"] / med["a"]
        print(f"(c)/(a) = {ratio_naive:6.2f}   target >= {TARGET_NAIVE:g}     {'PASS' if ratio_naive >= TARGET_NAIVE else 'MISS'}")
    flops = forward_flops(spec) * n
    figures["flop_floor_s"] = flops / (args.peak_tflops * 1e12)
    print(f"FLOP floor: {flops / 1e9:.1f} GFLOP per ValAcc (torch's count), {figures['flop_floor_s']:.4f} s at {args.peak_tflops:g} TFLOP/s")
    if on_cuda:
        per_26k = med["a"] * 26000 / n
        print(f"(a) per 26,000 images: {per_26k:.3f} s   target <= {TARGET_GPU_26K_S:g} s on one H100   "
              f"{'PASS' if per_26k <= TARGET_GPU_26K_S else 'MISS'}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
