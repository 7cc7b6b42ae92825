#!/usr/bin/env bash
# Fill <repo>/.whl (git-ignored) with the wheels listed in wheels.txt, for the device machine's Python 3.12 on x86-64,
# from whatever index pip is configured with here (the local PyPI mirror). Run once before a device call that carries .whl.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
mkdir -p "$root/.whl"
grep -v '^#' "$(dirname "$0")/wheels.txt" | xargs "$python" -m pip download -q --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
    --platform any -d "$root/.whl"
ls -1 "$root/.whl"
