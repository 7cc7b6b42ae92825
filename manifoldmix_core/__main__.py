"""`python -m manifoldmix_core ...`: see cli.py."""

import os
import sys

# Idle OpenMP threads sleep instead of spinning: on a shared CPU (the app's server beside a worker,
# CI, several runs) spinning threads slowed a 2,000-image evaluation tenfold. Set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .cli import main  # noqa: E402

sys.exit(main())
