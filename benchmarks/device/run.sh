#!/usr/bin/env bash
# The GPU check of issue 8 in one command (<= 5 min on one H100): install the carried wheels, time ValAcc of
# ViT-B/32 on 26,000 synthetic 224 px images, time the demo ViT against the naive loop, and run the demo on the GPU.
#
# On the device machine (carry .whl, built here by benchmarks/device/build_wheels.sh):
#   bash benchmarks/device/run.sh
# On this CPU, to try the script itself (tests/test_device_check.py runs it so in CI, with a shrunk demo run):
#   PYTHON=.venv/bin/python bash benchmarks/device/run.sh --device cpu --n 64
# Options: --n IMAGES (both benchmarks)  --repeats R (timed repeats of each)  --tiny-demo (the demo run shrunk to two
# ingredients and one test set, see check.py's tiny_demo; the default is the app's whole demo run).
# Environment: PYTHON (default python3), WHEELS (the carried wheels, default .whl), OUT (default /tmp/manifoldmix-device).
# It leaves two files in $OUT: device_check.json, every step's figures (package versions and the device, both
# benchmarks' JSON, the demo run's seconds, evaluations and accuracies), and log.txt; the last lines it prints are
# the figures for the README's Speed section. Any failing step fails the script, and then no device_check.json is left.
set -euo pipefail
cd "$(dirname "$0")/../.."
device=cuda n=26000 demo_n=2000 repeats=5 tiny_demo=""
while [ $# -gt 0 ]; do
    case "$1" in
        --device) device="$2"; shift 2 ;;
        --n) n="$2"; demo_n="$2"; shift 2 ;;
        --repeats) repeats="$2"; shift 2 ;;
        --tiny-demo) tiny_demo=--tiny; shift ;;
        *) echo "usage: run.sh [--device cuda|cpu] [--n IMAGES] [--repeats R] [--tiny-demo]" >&2; exit 2 ;;
    esac
done
python="${PYTHON:-python3}"
wheels="${WHEELS:-.whl}"
out="${OUT:-/tmp/manifoldmix-device}"
work="$(mktemp -d /tmp/manifoldmix-device.XXXXXX)"  # the installed wheels, the demo's data and run, each step's JSON
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
rm -f "$out/device_check.json"  # figures from an earlier run must not pass for this one's
export PYTHONPATH="$work/site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MANIFOLDMIX_CACHE="$work/cache" OMP_WAIT_POLICY=PASSIVE
check=("$python" benchmarks/device/check.py)

# The group runs in a subshell of the pipeline with errexit inherited: a failing step ends it there, and pipefail
# hands its status through tee to this shell, which then exits with it.
{
    trap 'echo "device check FAILED at: $BASH_COMMAND" >&2' ERR
    echo "== the carried wheels ($wheels), installed into a temporary folder"
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$work/site" "$wheels"/*.whl
    "${check[@]}" packages "$work/site" --json "$work/packages.json"
    if [ "$device" != cpu ]; then
        nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv | tee "$work/nvidia_smi.csv"
    fi
    echo "== ViT-B/32 ValAcc, $n images, engine vs bare forward"
    "$python" benchmarks/bench_valacc.py --arch ViT-B-32 --device "$device" --n "$n" --repeats "$repeats" --no-naive \
        --json "$work/bench_vitb32.json"
    echo "== demo ViT, $demo_n images, engine vs bare forward vs naive loop"
    "$python" benchmarks/bench_valacc.py --device "$device" --n "$demo_n" --repeats "$repeats" --json "$work/bench_demo.json"
    echo "== the demo run on $device"
    "${check[@]}" demo "$work/run" --device "$device" $tiny_demo --json "$work/demo.json"
    echo "== summary"
    "${check[@]}" summary "$work" --json "$out/device_check.json"
} 2>&1 | tee "$out/log.txt"
