#!/usr/bin/env bash
# The GPU check of issue 8 in one command (<= 5 min on one H100): install the carried wheels, time ValAcc of
# ViT-B/32 on 26,000 synthetic 224 px images, time the demo ViT against the naive loop, and run the demo on the GPU.
#
# On the device machine (carry .whl, built here by benchmarks/device/build_wheels.sh):
#   bash benchmarks/device/run.sh
# On this CPU, to test the script itself (tiny sizes, the venv's Python):
#   PYTHON=.venv/bin/python bash benchmarks/device/run.sh --device cpu --n 64
# Everything it measures lands in $OUT (default /tmp/manifoldmix-device): bench_vitb32.json, bench_demo.json,
# demo_results.json and the log; the last lines it prints are the figures for the README's Speed section.
set -euo pipefail
cd "$(dirname "$0")/../.."
device=cuda n=26000 demo_n=2000
while [ $# -gt 0 ]; do
    case "$1" in
        --device) device="$2"; shift 2 ;;
        --n) n="$2"; demo_n="$2"; shift 2 ;;
        *) echo "usage: run.sh [--device cuda|cpu] [--n IMAGES]" >&2; exit 2 ;;
    esac
done
python="${PYTHON:-python3}"
out="${OUT:-/tmp/manifoldmix-device}"
site="$(mktemp -d /tmp/manifoldmix-site.XXXXXX)"
mkdir -p "$out"
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MANIFOLDMIX_CACHE="$site/cache" OMP_WAIT_POLICY=PASSIVE

"$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
"$python" - <<'PY'
import nevergrad, open_clip, torch
print(f"torch {torch.__version__}  open_clip {open_clip.__version__}  nevergrad {nevergrad.__version__}  "
      f"cuda {torch.cuda.is_available()} {torch.cuda.get_device_name() if torch.cuda.is_available() else ''}")
PY
[ "$device" = cpu ] || nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv | tee "$out/gpu.txt"

{
    echo "== ViT-B/32 ValAcc, $n images, engine vs bare forward"
    "$python" benchmarks/bench_valacc.py --arch ViT-B-32 --device "$device" --n "$n" --repeats 5 --no-naive --json "$out/bench_vitb32.json"
    echo "== demo ViT, $demo_n images, engine vs bare forward vs naive loop"
    "$python" benchmarks/bench_valacc.py --device "$device" --n "$demo_n" --repeats 5 --json "$out/bench_demo.json"
    echo "== the demo run on $device"
    rm -rf "$site/run" && "$python" - "$site/run" "$device" <<'PY'
import json, sys, time
from pathlib import Path
from manifoldmix_core.config import parse_config
from manifoldmix_core.demo.run_config import demo_config
from manifoldmix_core.lifecycle import run
config = parse_config({**demo_config(), "device": sys.argv[2]})
start = time.perf_counter()
results = run(config, Path(sys.argv[1]), show_progress=False)
print(f"demo run: {time.perf_counter() - start:.1f} s on {results['device']}, {results['evaluations']} ValAcc evaluations")
for name, entry in results["methods"].items():
    print(f"  {name:<16} ValAcc {entry['valacc']:.4f}  " + "  ".join(f"{k} {v:.4f}" for k, v in entry["accuracy"].items()))
PY
    cp "$site/run/results.json" "$out/demo_results.json"
} 2>&1 | tee "$out/log.txt"
rm -rf "$site"
