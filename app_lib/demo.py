"""The embedded demo world, guarded: the app works (and says why) before the demo zoo is built.

$MANIFOLDMIX_DEMO_CONFIG may name a run-config JSON to use as "the demo" instead (tests use the toy world).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

DEMO_CONFIG_ENV = "MANIFOLDMIX_DEMO_CONFIG"
NOT_BUILT = ("The demo is not built yet: the demo zoo (manifoldmix_core.demo.zoo, data/demo/) is missing. "
             "Build it with `python -m manifoldmix_core demo build`, or use your own ingredients.")


def demo_status() -> tuple[bool, str]:
    """(ready, reason): whether a demo run can start now, and if not, what to do."""
    override = os.environ.get(DEMO_CONFIG_ENV)
    if override:
        return (True, "") if Path(override).is_file() else (False, f"{DEMO_CONFIG_ENV}={override}: file not found")
    from manifoldmix_core.demo.paths import demo_ready
    return (True, "") if demo_ready() else (False, NOT_BUILT)


def demo_config() -> dict:
    """The default demo run's config (absolute paths), ready to launch."""
    override = os.environ.get(DEMO_CONFIG_ENV)
    if override:
        path = Path(override)
        config = json.loads(path.read_text())
        from manifoldmix_core.config import parse_config
        return parse_config(config, path.parent.resolve()).to_dict()
    from manifoldmix_core.demo.run_config import demo_config as zoo_config
    return zoo_config()
