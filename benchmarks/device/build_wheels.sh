#!/usr/bin/env bash
# Fill the folder WHEELS (default <repo>/.whl, git-ignored) with the wheels listed in wheels.txt, for the device
# machine's Python 3.12 on x86-64, through the indexes pip is configured with here: pinned versions, no dependencies
# resolved (wheels.txt names each one). Run once before a device call that carries .whl; run.sh installs them there.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
wheels="${WHEELS:-$root/.whl}"
mkdir -p "$wheels"
grep -v '^#' "$(dirname "$0")/wheels.txt" | xargs "$python" -m pip download -q --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
    --platform any -d "$wheels"
ls -1 "$wheels"
