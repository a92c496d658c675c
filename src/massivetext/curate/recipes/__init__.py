"""Recipes: a YAML file (or dict) naming the steps of a pipeline and their parameters.

``steps: [{type: GopherQualityFilter, sources: ["prose/*"], min_words: 50}, {type: ExactDeduplicator}, ...]``.
A ``type`` is a name registered in ``STEP_TYPES`` or ``"package.module:Class"`` for a step of your own. Built-in
recipes are the YAML files of this package (``massivetext``: the paper's; ``gopher-filters``), read with
``importlib.resources`` so they are found in any installation (a wheel, a zip, an editable checkout).
"""

from __future__ import annotations

import importlib
import os
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

from massivetext.errors import ConfigError

# step type name -> "module:Class"; imported on first use, so a recipe naming a step whose module is missing fails
# with one clear line only when that step is built. Add a step type with one line here.
STEP_TYPES: dict[str, str] = {
    "LanguageFilter": "massivetext.curate.language:LanguageFilter",
    "GopherQualityFilter": "massivetext.curate.quality:GopherQualityFilter",
    "GopherRepetitionFilter": "massivetext.curate.repetition:GopherRepetitionFilter",
    "PIIRedactor": "massivetext.curate.pii:PIIRedactor",
    "ExactDeduplicator": "massivetext.curate.dedup.exact:ExactDeduplicator",
    "MinHashDeduplicator": "massivetext.curate.dedup.minhash:MinHashDeduplicator",
    "Decontaminator": "massivetext.curate.dedup.decontaminate:Decontaminator",
}


def step_class(type_name: str) -> type:
    """The class a recipe's ``type`` names: a registered name, or ``"package.module:Class"`` for your own step."""
    target = STEP_TYPES.get(type_name) or (type_name if ":" in type_name else None)
    if target is None:
        raise ConfigError(f"unknown step type {type_name!r}; known: {', '.join(sorted(STEP_TYPES))}")
    module, _, cls = target.partition(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ModuleNotFoundError, AttributeError) as e:
        raise ConfigError(f"step type {type_name!r} is not available ({e})") from e


def build_step(spec: dict[str, Any]) -> Any:
    if not isinstance(spec, dict) or "type" not in spec:
        raise ConfigError(f"a recipe step needs a 'type': {spec!r}")
    params = {k: v for k, v in spec.items() if k != "type"}
    cls = step_class(spec["type"])
    try:
        return cls(**params)
    except TypeError as e:
        raise ConfigError(f"bad parameters for {spec['type']}: {e}") from e


def builtin_recipes() -> list[str]:
    """Names of the recipes that ship with MassiveText."""
    here = resources.files(__name__)
    return sorted(e.name.removesuffix(".yaml") for e in here.iterdir() if e.name.endswith(".yaml"))


def recipe_path(name_or_path: str) -> str | Traversable:
    """A YAML file, or the resource of a built-in recipe (``massivetext``); ``.read_text()`` works on both kinds
    through ``load_recipe``."""
    if os.path.exists(name_or_path):
        return name_or_path
    builtin = resources.files(__name__).joinpath(f"{name_or_path}.yaml")
    if builtin.is_file():
        return builtin
    raise ConfigError(
        f"no recipe {name_or_path!r} (neither a file nor a built-in recipe: {', '.join(builtin_recipes())})"
    )


def load_recipe(recipe: str | dict[str, Any]) -> list[Any]:
    """Steps of a recipe: a dict ``{"steps": [{"type": ..., params...}]}``, a YAML file or a built-in name."""
    if isinstance(recipe, str):
        import yaml

        path = recipe_path(recipe)
        try:
            text = _read(path) if isinstance(path, str) else path.read_text(encoding="utf-8")
            recipe = yaml.safe_load(text)
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"cannot read recipe {path}: {e}") from e
    if not isinstance(recipe, dict) or not isinstance(recipe.get("steps"), list):
        raise ConfigError("a recipe is a mapping with a 'steps' list")
    return [build_step(s) for s in recipe["steps"]]


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()
