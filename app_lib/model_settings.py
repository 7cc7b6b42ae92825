"""The Ingredients page's model settings, read from the run config's ModelConfig (its fields' labels, help, choices and
marks, as method settings are read from theirs): the controls, their values from the draft's `model`, the section the page
saves and the engine's own check of it. No Streamlit, no torch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from manifoldmix_core.config import ModelConfig
from manifoldmix_core.errors import ConfigError
from manifoldmix_core.settings import build

from .method_settings import Control, section_controls

SECTION = "model"


def given(draft: Mapping) -> dict:
    """The draft's `model` as a dict; anything else (a damaged workspace) counts as not given."""
    value = draft.get(SECTION)
    return dict(value) if isinstance(value, Mapping) else {}


def controls(draft: Mapping) -> list[Control]:
    """ModelConfig's controls valued from the draft's `model`: the family first, then what names the model (architecture,
    options: the typed ones), then the rest in the schema's order."""
    return sorted(section_controls(SECTION, ModelConfig, given(draft)), key=lambda c: (c.name != "family", c.kind not in ("name", "json")))


def saved(draft: Mapping, values: Mapping[str, Any]) -> dict:
    """The draft's `model` with the page's values (field name -> value) over it: keys without a control are kept, a value
    equal to its default is left out, so unset settings stay out of the draft as they stay out of config.json."""
    kept = {k: v for k, v in given(draft).items() if k not in values}
    defaults = {name: field.get_default(call_default_factory=True) for name, field in ModelConfig.model_fields.items()}
    return {**kept, **{k: v for k, v in values.items() if v != defaults[k]}}


def problem(section: Mapping) -> str | None:
    """What the engine's ModelConfig says is wrong with a `model` section (naming the key), or None."""
    try:
        build(ModelConfig, section, SECTION)
    except ConfigError as exc:
        return str(exc)
    return None
