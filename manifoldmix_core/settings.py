"""The schema kit for run-config sections: pydantic models read from JSON with errors that name the key and the allowed values.

Each method declares its settings model (a `Settings` subclass) in its own module under soups/ and names it in its record
(methods.py); config.py builds the run config's schema from those records. The JSON types are checked first (`jsontypes`,
exact: "10" is no int, true is no number), then the model's own validators run; every failure is a ConfigError such as
"manifoldmix.tau must be in (0, 1], got 2". A field's `json_schema_extra` says how the app treats it: `file` (a path,
resolved against the config's folder, whose content alone counts for resume), `choices` (a registry whose names the
app offers: a mapping of records is a closed list shown by their labels, a list of names an open one), `omitted` (left
out of the canonical config.json while None: a setting added later, so runs started before it keep their settings digest
and resume), `app` ("hidden": not a widget; "replaced": not a widget, and dropped when the page saves, since a shown
control means the same thing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError
from .jsontypes import fits, type_name


class Settings(BaseModel):
    """A run-config section: frozen, no unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def describe(cls, values: Mapping, components: int | None, live: int | None) -> str:
        """What these settings (as given, maybe invalid) mean for a run of a partition with `components` components,
        `live` of them holding classifier parameters (None: not known yet), in a sentence the Run page shows; '' for none."""
        return ""

    @classmethod
    def shown(cls, values: Mapping, components: int | None, live: int | None) -> dict:
        """The values the Run page's controls start from: a value of a field marked app="replaced" turned into the shown
        fields it stands for (a total budget into its share per component), so what the page shows is what runs."""
        return dict(values)


def setting(default: Any = ..., label: str = "", help: str = "", *, file: bool = False, choices: str | None = None,
            app: str | None = None, omitted: bool = False, **kwargs) -> Any:
    """A field of a settings model with what the app and the README show: its label, help, and how the app treats it;
    `omitted`: left out of the canonical config while None (a setting added later, so older runs keep their digest)."""
    extra = {k: v for k, v in {"file": file or None, "choices": choices, "app": app, "omitted": omitted or None}.items()
             if v is not None}
    return Field(default, title=label or None, description=help or None, json_schema_extra=extra or None, **kwargs)


def extra(model: type[BaseModel], name: str) -> dict:
    """A field's app/file markers (see the module docstring)."""
    value = model.model_fields[name].json_schema_extra
    return dict(value) if isinstance(value, dict) else {}


def build(model: type[BaseModel], data: Any, where: str, nested: Mapping[str, Any] | None = None):
    """An instance of `model` from JSON data, or a ConfigError naming `where`'s key: unknown and missing keys, wrong JSON
    types, then the model's validators. `nested` maps a key to a function building that key's value (a section)."""
    if isinstance(data, model):
        return data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a JSON object, got {type(data).__name__}")
    fields = model.model_fields
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in {where}; valid keys: {sorted(fields)}")
    missing = [name for name, f in fields.items() if f.is_required() and name not in data]
    if missing:
        raise ConfigError(f"{where} is missing required key(s) {missing}")
    values = {}
    for key, value in data.items():
        if nested and key in nested and value is not None:
            value = nested[key](value)
        elif not fits(value, fields[key].annotation):
            raise ConfigError(f"{where}.{key} must be {type_name(fields[key].annotation)}, got {value!r}")
        values[key] = value
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_said(exc, where, values)) from None


def _said(exc: ValidationError, where: str, values: Mapping) -> str:
    """A pydantic error in the words of a config error: the key, what it must be (the validator's text), the value."""
    error = exc.errors(include_url=False)[0]
    loc = [str(part) for part in error["loc"]]
    cause = error.get("ctx", {}).get("error")
    text = str(cause) if isinstance(cause, ValueError) else error["msg"]
    if not loc:
        return f"{where}: {text}"
    key = loc[0]
    return f"{where}.{'.'.join(loc)} {text}, got {values.get(key)!r}" if key in values else f"{where}.{'.'.join(loc)} {text}"
