"""The Run page's method settings, read from each method's settings model (methods.py names it; the model lives in the
method's own module): which control each field gets, its label, help, choices and current value, and the section a page
saves. A method registered with a settings model gets its controls here with no other file touched. No Streamlit, no torch.
"""

from __future__ import annotations

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
    kind: str  # bool / int / float / text; "count" (an int or empty: None); "file" (a path the page checks);
    #            "pick" (closed: a Literal); "open" (a registry's names, or any typed)
    options: tuple
    value: Any  # the draft's value, else the model's default; None for a required field not given yet

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
        given = model.shown(_section(draft, section), components, live)
        for name, field in model.model_fields.items():
            marks = extra(model, name)
            kind, options = _kind(field.annotation, marks)
            if marks.get("app") or kind is None:
                continue
            default = None if field.is_required() else field.get_default(call_default_factory=True)
            value = given.get(name, default)
            if value is not None and not fits(value, field.annotation):  # a damaged draft: its control starts from the default
                value = default
            if kind == "open" and value is not None and value not in options:
                options = (*options, value)  # a valid value the list lacks is shown as it is, never replaced
            found.append(Control(section, name, field.title or name, field.description or "", kind, options, value))
    return found


def _section(draft: Mapping, section: str) -> dict:
    """A section of the draft as a dict; anything else (a damaged workspace) counts as not given."""
    value = draft.get(section)
    return dict(value) if isinstance(value, Mapping) else {}


def _kind(hint, marks: Mapping) -> tuple[str | None, tuple]:
    if typing.get_origin(hint) is typing.Literal:
        return "pick", typing.get_args(hint)
    if marks.get("choices"):
        return "open", tuple(load_ref(marks["choices"]))
    if marks.get("file"):
        return "file", ()
    if hint == int | None:
        return "count", ()  # a number or nothing (the setting's default meaning: every image, the run's seed)
    return KINDS.get(hint), ()


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
