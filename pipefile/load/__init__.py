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
  steps         StepParser: steps, their outputs and command
  input_bindings InputBindingReader: a step input's binding (mixed into StepParser)
  checks        cross-checks once everything is read (step references, artifact and endpoint names,
                no step output in a Docker build context)
  dockerignore  .dockerignore patterns matched as Docker matches them (for that last check)
  params        `-p name=value` values, every param's final value, sizes
  numbers       which text is a number (YAML 1.2), for the Pipefile and for `-p`
  fields, paths, phrases   the keys each mapping takes; workspace paths; how messages name types

This module is the public face: import from `pipefile.load`, not from its modules
(except for the key tables in `load.fields`).
"""

from __future__ import annotations

# Each name is imported from its module when first asked for (PEP 562): a run whose spec comes
# from the spec cache needs find_pipefile and read_bytes, not the parsers behind `load`.
_WHERE = {
    "check_build_contexts": "checks",
    "quoted_placeholders": "checks",
    "DEFAULT_NAMES": "document",
    "find_pipefile": "document",
    "load": "document",
    "load_lenient": "document",
    "loads": "document",
    "read_bytes": "document",
    "read_text": "document",
    "convert_param_text": "params",
    "enum_hint": "params",
    "held_enum": "params",
    "held_bounds": "bounds",
    "out_of_bounds": "bounds",
    "bounds_hint": "bounds",
    "overridden_params": "params",
    "parse_param_overrides": "params",
    "parse_size": "params",
    "resolve_params": "params",
    "type_example": "params",
    "STATE_DIR": "paths",
    "normalize_path": "paths",
    "path_hint": "paths",
    "with_article": "phrases",
    "valid_artifact_name": "reader",
    "ARTIFACT_NAME_HINT": "reader",
}
_ORIGINAL_NAME = {"with_article": "a"}


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # (written out, not import_module: the import checks see each of these edges)
    if module == "bounds":
        from . import bounds

        return _keep(name, bounds)
    if module == "checks":
        from . import checks

        return _keep(name, checks)
    if module == "document":
        from . import document

        return _keep(name, document)
    if module == "params":
        from . import params

        return _keep(name, params)
    if module == "paths":
        from . import paths

        return _keep(name, paths)
    if module == "phrases":
        from . import phrases

        return _keep(name, phrases)
    from . import reader

    return _keep(name, reader)


def _keep(name: str, module):
    value = getattr(module, _ORIGINAL_NAME.get(name, name))
    globals()[name] = value  # (found directly from now on)
    return value


__all__ = [
    "ARTIFACT_NAME_HINT",
    "DEFAULT_NAMES",
    "STATE_DIR",
    "bounds_hint",
    "check_build_contexts",
    "convert_param_text",
    "enum_hint",
    "find_pipefile",
    "held_bounds",
    "held_enum",
    "load",
    "load_lenient",
    "loads",
    "normalize_path",
    "out_of_bounds",
    "overridden_params",
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
