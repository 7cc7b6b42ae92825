"""The Run page's method settings, read from each method's settings model (methods.py names it; the model lives in the
method's own module): which control each field gets, its label, help, choices and current value, and the section a page
saves. A method registered with a settings model gets its controls here with no other file touched. No Streamlit, no torch.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from manifoldmix_core import methods
from manifoldmix_core.jsontypes import fits
from manifoldmix_core.lazy import load_ref
from manifoldmix_core.settings import extra

KINDS = {bool: "bool", int: "int", float: "float", str: "text"}


@dataclass(frozen=True)
class Control:
    """One settings field as the Run page shows it."""

    section: str
    name: str
    label: str
    help: str
    kind: str  # bool / int / float / text; "count" (an int or empty: None); "file" (a path the page checks); "pick"
    # (closed: a Literal); "open" (a registry's names, or any typed); "choice" (closed, each option shown by its label: a
    # registry of records, an optional bool); "json" (a JSON object typed as text); "name" (a name, or a JSON object typed
    # as text); "numbers" (a tuple typed as numbers separated by commas)
    options: tuple
    value: Any  # the draft's value, else the model's default; None for a required field not given yet
    labels: tuple = ()  # "choice": what each option is called (None: "auto")
    optional: bool = False  # blank means unset (None), not missing

    @property
    def key(self) -> str:
        """The widget's key: the config key it sets."""
        return f"run_{self.section}.{self.name}"


def models(selected: list[str]) -> dict[str, type[BaseModel]]:
    """The settings models of the selected methods, by config section, in registry order."""
    return {m.settings.section: load_ref(m.settings.model) for m in methods.METHODS.values() if m.name in selected and m.settings}


def controls(selected: list[str], draft: Mapping, components: int | None = None, live: int | None = None) -> list[Control]:
    """The controls of the selected methods' settings, their values taken from the draft as the model shows them (for a
    partition of `components` components, `live` of them optimised by default); fields marked app="hidden" or
    "replaced", and fields of a type no control shows (lists), are left to config.json."""
    found = []
    for section, model in models(selected).items():
        found += section_controls(section, model, model.shown(_section(draft, section), components, live))
    return found


def section_controls(section: str, model: type[BaseModel], given: Mapping) -> list[Control]:
    """The controls of one settings model's fields, their values from `given` (else the defaults): a method's section on
    the Run page, the run's `model` on Ingredients. Fields marked app="hidden"/"replaced" and of types no control shows
    (lists, floats that may be unset) are left to config.json."""
    found = []
    for name, field in model.model_fields.items():
        marks = extra(model, name)
        kind, options, labels, optional = _kind(field.annotation, marks)
        if marks.get("app") or kind is None:
            continue
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        value = given.get(name, default)
        if value is not None and not fits(value, field.annotation):  # a damaged draft: its control starts from the default
            value = default
        if kind == "open" and value is not None and value not in options:
            options = (*options, value)  # a valid value the list lacks is shown as it is, never replaced
        found.append(Control(section, name, field.title or name, field.description or "", kind, options, value, labels, optional))
    return found


def _section(draft: Mapping, section: str) -> dict:
    """A section of the draft as a dict; anything else (a damaged workspace) counts as not given."""
    value = draft.get(section)
    return dict(value) if isinstance(value, Mapping) else {}


def _kind(hint, marks: Mapping) -> tuple[str | None, tuple, tuple, bool]:
    """(kind, options, their labels, optional) of a field: a registry given as a mapping of records is closed (its names
    are all there is), one given as a list is open (the usual names; any other is typed in)."""
    args = typing.get_args(hint)
    optional = type(None) in args or hint is Any
    inner = next(a for a in args if a is not type(None)) if typing.get_origin(hint) in (typing.Union, types.UnionType) else hint
    if typing.get_origin(inner) is typing.Literal:
        return "pick", typing.get_args(inner), (), optional
    if marks.get("choices"):
        registry = load_ref(marks["choices"])
        if isinstance(registry, Mapping):
            names = ((None,) if optional else ()) + tuple(registry)
            return "choice", names, tuple("auto" if n is None else getattr(registry[n], "label", n) for n in names), optional
        return "open", tuple(registry), (), optional
    if marks.get("file"):
        return "file", (), (), optional
    if inner is bool and optional:
        return "choice", (None, True, False), ("auto", "on", "off"), True
    if inner is dict:
        return "json", (), (), optional
    if inner is tuple:
        return "numbers", (), (), optional
    if hint is Any:
        return "name", (), (), True
    if inner is int and optional:
        return "count", (), (), True  # a number or nothing (the setting's default meaning: every image, the run's seed)
    if optional and inner is not str:
        return None, (), (), optional  # an unset number has no control
    return KINDS.get(inner), (), (), optional


def shown_text(control: Control) -> str:
    """A text control's starting text: "json" and "name" controls show an object as JSON, "numbers" its numbers separated
    by commas, an unset value as blank."""
    if control.value is None or (control.kind == "json" and not control.value):
        return ""
    if control.kind == "numbers":
        return ", ".join(repr(v) for v in control.value)  # every digit: the default read back is the default
    return json.dumps(control.value) if isinstance(control.value, (dict, list)) else str(control.value)


def typed(control: Control, text: str) -> tuple[Any, str | None]:
    """The value of what was typed into a "json", "name" or "numbers" control, or (None, the problem naming the key) when
    it is not one: "json" takes a JSON object (blank: {}); "name" a JSON object when the text starts with "{", else the
    name; "numbers" numbers separated by commas."""
    text = text.strip()
    where = f"{control.section}.{control.name}"
    if control.kind == "numbers":
        try:
            return tuple(float(part) for part in text.split(",")), None
        except ValueError:
            return None, f"{where} must be numbers separated by commas, such as 0.5, 0.5, 0.5; got {text[:80]!r}"
    if control.kind == "name" and not text.startswith("{"):
        return text or None, None
    if control.kind == "json" and not text:
        return {}, None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"{where} is not valid JSON ({exc.msg} at column {exc.colno}): {text[:80]!r}"
    if not isinstance(value, dict):
        return None, (f"{where} must be a JSON object such as {{\"depth\": 12}}, got a {type(value).__name__}: "
                      f"{text[:80]!r}")
    return value, None


def saved(draft: Mapping, selected: list[str], values: Mapping[tuple[str, str], Any]) -> dict[str, dict]:
    """Each selected method's section with the page's values ((section, name) -> value) over the draft's: keys the page
    does not show are kept, except those marked app="replaced" (a total budget would override the per-component one the
    page shows and the user edits); a required field left empty stays out, so validation names it."""
    sections = {}
    for section, model in models(selected).items():
        kept = {k: v for k, v in _section(draft, section).items()
                if not (k in model.model_fields and extra(model, k).get("app") == "replaced")}
        shown = {name: value for (where, name), value in values.items() if where == section and value is not None}
        sections[section] = {**kept, **shown}
    return sections


def summaries(selected: list[str], sections: Mapping[str, Mapping], components: int | None, live: int | None) -> list[str]:
    """Each selected section's own words on what its values mean for a run (the search budget per candidate, say)."""
    said = [model.describe(_section(sections, section), components, live) for section, model in models(selected).items()]
    return [text for text in said if text]
