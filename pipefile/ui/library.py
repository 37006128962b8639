"""The designer's library (`GET /api/library`): the std components (as `pipe components
list --json` has them), the Pipefile's own components, its assets, and the artifacts of
the workspace with their versions. A Pipefile that does not load still gives its valid
part (as `pipe components` does)."""

from __future__ import annotations

from typing import Optional

from .. import catalog
from ..errors import PipefileError


def _port(p: dict) -> dict:
    return {
        "name": p["name"],
        "type": p.get("type"),
        "optional": bool(p.get("optional")),
        "default": p.get("default"),
        "description": p.get("description") or None,
        "required": bool(p.get("required")),
        "enum": p.get("enum") or None,  # (the properties panel offers them as a menu)
        "min": p.get("min"),  # a number input's inclusive bounds (None: none)
        "max": p.get("max"),
    }


def _component(info: dict) -> dict:
    """catalog.describe()'s dict, with the designer's fields (`name` is what a step's
    `component:` names: std/NAME@MAJOR for the std library)."""
    std = info["source"] == catalog.SOURCE_STD
    major = str(info.get("version") or "").split(".", 1)[0]
    return dict(
        info,
        name=f"std/{info['name']}@{major}" if std and major else info["name"],
        short=info["name"],
        inputs=[_port(p) for p in info["inputs"]],
        params=[_port(p) for p in info["params"]],
        outputs=[
            {"name": o["name"], "type": o.get("type"), "description": o.get("description") or None}
            for o in info["outputs"]
        ],
        versions=None,
    )


def library(pipefile: str, jobs=None) -> dict:
    """`jobs`: the workspace's JobStore (artifact versions), or None when there is none yet."""
    from .. import load as loader

    pf = None
    try:
        pf, _errors = loader.load_lenient(pipefile)
    except PipefileError:  # no usable Pipefile: the std library alone
        pf = None
    items = [_component(c) for c in catalog.catalog(pf)]
    if pf is not None:
        for a in pf.assets.values():
            items.append(
                {
                    "source": "asset",
                    "name": a.name,
                    "version": None,
                    "description": a.description or None,
                    "path": a.path,
                    "type": a.type,
                    "artifact": a.artifact or None,
                    "inputs": [],
                    "outputs": [{"name": a.name, "type": a.type, "description": None}],
                    "params": [],
                    "versions": None,
                    "line": a.loc.line or None,
                }
            )
    items += artifacts(jobs)
    return {"items": items}


def artifacts(jobs) -> list:
    if jobs is None:
        return []
    by_name: dict = {}
    for v in jobs.artifacts():
        by_name.setdefault(v.name, []).append(v)
    out = []
    for name, versions in sorted(by_name.items()):
        versions.sort(key=lambda v: v.version)
        last = versions[-1]
        kind = "uri_folder" if last.kind == "tree" else "uri_file"
        out.append(
            {
                "source": "artifact",
                "name": name,
                "version": str(last.version),
                "description": None,
                "inputs": [],
                "outputs": [{"name": name, "type": kind, "description": None}],
                "params": [],
                "versions": [v.to_json() for v in versions],
            }
        )
    return out


def find_item(items: list, source: str, name: str) -> Optional[dict]:
    return next((i for i in items if i["source"] == source and i["name"] == name), None)
