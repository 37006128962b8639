"""The load layer: a Pipefile's YAML -> `spec.Pipefile`, with file:line:column on every error.

The loader checks everything that can be checked from the file alone: its shape (no
unknown keys), names and references (did-you-mean), types of what is connected to what,
and command templates. It collects every error it finds and raises them together.
Questions about the file system and the graph as a whole (paths that exist, one producer
per path, cycles) belong to `graph`.

Modules, in the order a load goes through them:
  yamlsafe      bounded YAML reading (every YAML read in pipe goes through it)
  document      find and read the file, parse it, read the top level; the entry points
  reader        NodeReader: typed access to YAML nodes that collects located errors
  sections      params, assets, components (and what components share with steps)
  environments  environments, and references to them
  steps         StepParser: steps and their input bindings
  checks        cross-checks once everything is read (step references, artifact and endpoint names)
  params        `-p name=value` values, every param's final value, sizes
  numbers       which text is a number (YAML 1.2), for the Pipefile and for `-p`
  fields, paths, phrases   the keys each mapping takes; workspace paths; how messages name types

This module is the public face: import from `pipefile.load`, not from its modules
(except for the key tables in `load.fields`).
"""

from __future__ import annotations

from .checks import quoted_placeholders
from .document import DEFAULT_NAMES, find_pipefile, load, load_lenient, loads, read_bytes, read_text
from .params import convert_param_text, enum_hint, parse_param_overrides, parse_size, resolve_params, type_example
from .paths import STATE_DIR, normalize_path, path_hint
from .phrases import a as with_article
from .reader import valid_artifact_name

__all__ = [
    "DEFAULT_NAMES",
    "STATE_DIR",
    "convert_param_text",
    "enum_hint",
    "find_pipefile",
    "load",
    "load_lenient",
    "loads",
    "normalize_path",
    "parse_param_overrides",
    "parse_size",
    "path_hint",
    "quoted_placeholders",
    "read_bytes",
    "read_text",
    "resolve_params",
    "type_example",
    "valid_artifact_name",
    "with_article",
]
