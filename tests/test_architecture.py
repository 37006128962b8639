"""The layering of ARCHITECTURE.md, checked: imports only point down, and only the
outer layer touches click and rich."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "pipefile"

LAYERS = {
    "errors": 0,
    "spec": 0,
    "outcomes": 0,
    "lazyclass": 0,
    "lazyre": 0,
    "workers": 0,  # the scheduler's threads: standard library only
    "turns": 0,  # who takes the scheduler's turn: standard library only
    "noop_record": 0,  # the no-op record: standard library only (entry.py reads it before anything else)
    "noop_trace": 0,
    "noop_touch": 0,  # a touch answered by the no-op record: standard library, and xxhash when needed
    "filehash": 0,
    "filenames": 0,  # task names as file names, bounded: standard library only (tracking.py uses it)
    "names": 0,  # names that are not UTF-8: standard library (and errors)
    "printable": 0,
    "wholefile": 0,  # a user's file written whole or not at all: standard library only
    "pids": 0,  # whether a process id is alive (a leftover's owner): standard library only
    "shellquote": 0,
    "tracking": 0,
    "stopping": 0,
    "template": 1,
    "load": 1,
    "graph": 1,
    "source_checks": 1,
    "expand": 1,
    "expand_map": 1,
    "outpaths": 1,
    "landing": 1,
    "bindings": 1,
    "digest": 1,
    "speccache": 1,
    "dsl": 2,  # the Python DSL: builds what the loader reads (above load, below session)
    "edit": 1,
    "keys": 2,
    "metrics_files": 2,  # a step's metrics files, read as flat numbers (load.yamlsafe for YAML)
    "clone_text": 2,  # a cloned job's Pipefile text: params as defaults, bindings pinned (load.yamlsafe)
    "cache": 2,
    "workspace": 2,
    "remote": 2,
    "jobdb": 2,
    "envs": 2,
    "artifacts": 2,
    "rebuilder": 3,
    "planner": 3,
    "proposals": 3,
    "executors": 4,
    "staging": 4,
    "scheduler": 4,
    "leases": 4,
    "state_records": 4,
    "bringing": 4,
    "read_ahead": 4,
    "step_events": 4,
    "overwrites": 4,
    "mapruns": 4,
    "report": 5,
    "inventory": 5,
    "publish": 5,
    "snapshot_files": 5,  # what a deployment's snapshot holds besides steps' inputs and code
    "deploy": 5,
    "sync": 5,
    "version_numbers": 5,
    "jobs": 5,
    "lineage": 5,
    "clone": 5,
    "mlflow_log": 5,
    "scaffold": 5,
    "docpages": 5,
    "catalog": 5,
    "sweeps": 5,
    "maps": 5,
    "gathering": 5,
    "map_rounds": 5,
    "finishing": 5,
    "noop_policy": 5,
    "job_executor": 5,
    # load -> lock -> gather -> plan -> run -> record: above what it drives, below the face
    "session": 5,
    "cli": 6,
    "entry": 6,
    "__main__": 6,
    "serve": 6,
    "ui": 6,
    "__init__": 0,
    # the serving commands, still outside the cli package (cli/serve.py adapts them) until they move there
}
OUTER_ONLY = {"click": {"cli"}, "rich": {"report"}}
# names imported from the package itself that are not modules: `from pipefile import __version__`
PACKAGE_ATTRIBUTES = {"__version__", "VERSION_MESSAGE"}


def _package_modules():
    """The package's modules; the scripts of `pipe init`'s templates are data, not modules."""
    return [p for p in PKG.rglob("*.py") if p.relative_to(PKG).parts[0] != "templates"]


def _module_of(path: Path) -> str:
    """The top-level module or package a file belongs to: pipefile/cli/jobs.py is part of "cli"."""
    return path.relative_to(PKG).with_suffix("").parts[0]


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = path.relative_to(PKG).parent.parts
                up = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = list(up) + (node.module.split(".") if node.module else [])
                if not target:  # "from . import x, y"
                    for alias in node.names:
                        yield "pipefile", alias.name
                else:
                    yield "pipefile", target[0]
            elif node.module:
                yield node.module.split(".")[0], node.module.split(".")[1] if "." in node.module else ""
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                yield parts[0], parts[1] if len(parts) > 1 else ""


def test_every_module_has_a_layer():
    for path in _package_modules():
        assert _module_of(path) in LAYERS, f"{path} has no layer in ARCHITECTURE.md: add it there and here"


def test_every_import_of_the_package_names_a_module_with_a_layer():
    # an import of a module missing from LAYERS would slip past the checks below unseen
    bad = []
    for path in _package_modules():
        for top, sub in _imports(path):
            if top == "pipefile" and sub and sub not in LAYERS and sub not in PACKAGE_ATTRIBUTES:
                bad.append(f"{path.relative_to(PKG)} imports pipefile.{sub}, which has no layer")
    assert not bad, "\n".join(bad)


def test_imports_point_down():
    bad = []
    for path in _package_modules():
        me = _module_of(path)
        for top, sub in _imports(path):
            if top == "pipefile" and sub in LAYERS and sub != me and LAYERS[sub] > LAYERS[me]:
                bad.append(f"{path.relative_to(PKG)} (layer {LAYERS[me]}) imports {sub} (layer {LAYERS[sub]})")
    assert not bad, "\n".join(bad)


def test_only_the_outer_layer_imports_click_and_rich():
    bad = []
    for path in _package_modules():
        me = _module_of(path)
        for top, _ in _imports(path):
            if top in OUTER_ONLY and me not in OUTER_ONLY[top]:
                bad.append(f"{path.relative_to(PKG)} imports {top}")
    assert not bad, "\n".join(bad)


def test_the_face_imports_no_private_name_from_another_module():
    # a helper two renderers or commands need is public in the module that owns it (report/text.py,
    # cli/options.py), not borrowed from a sibling's private parts
    bad = []
    for package in ("cli", "report"):
        for path in (PKG / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("pipefile")):
                    bad += [
                        f"{path.relative_to(PKG)} imports {a.name} from {'.' * node.level}{node.module or ''}"
                        for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__")
                    ]
    assert not bad, "\n".join(bad)
