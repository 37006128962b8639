"""StepKey: the digest of everything that can change a step's outputs, and nothing else.

    StepKey = xxh3-128(canonical JSON of the key manifest)

The manifest holds KEY_VERSION, the rendered command (with workspace-relative
paths, so moving the repo keeps every key), the environment identity (content:
see `envs`; "local" for the calling shell), the
params the step uses, the content digest of every input path and `code:` path,
literal input values, and the output names, types and paths; for a std component,
its version and the digest of its code (`library`). It is kept beside each
record so that a later key can be compared with it field by field: that
comparison is how `pipe status` explains why a step must run.

Bump KEY_VERSION when the manifest's meaning changes; old cache entries then
simply stop matching.
"""

from __future__ import annotations

from typing import Mapping, Optional

from .bindings import IN_NONE, IN_PATH
from .digest import PathDigest, hash_json
from .graph import Node, render_command  # noqa: F401 - render_command: used from here
from .lazyclass import dataclass
from .spec import KEY_GPU_MODEL

KEY_VERSION = 1
LOCAL_ENV_IDENTITY = "local"


@dataclass(frozen=True)
class StepKey:
    digest: str
    manifest: dict

    def short(self) -> str:
        return self.digest[:12]


def _template_text(cmd):
    return cmd if isinstance(cmd, str) else list(cmd)


def key_manifest(
    node: Node,
    inputs: Mapping[str, PathDigest],
    env_identity: str = LOCAL_ENV_IDENTITY,
    gpu_model: Optional[str] = None,
) -> dict:
    """`inputs` maps every path the step reads (inputs and code) to its content.

    `gpu_model` enters the manifest only for a step with `key_includes: [gpu_model]`,
    so the keys of every other step stay as they were."""
    ins: dict[str, dict] = {}
    for name, inp in node.inputs.items():
        if inp.kind == IN_PATH:
            d = inputs[inp.path]
            ins[name] = {"path": inp.path, "kind": d.kind, "digest": d.digest}
            if d.executable:
                ins[name]["exec"] = True
        elif inp.kind == IN_NONE:
            ins[name] = {"none": True}
        elif inp.param:
            ins[name] = {"value": inp.value, "param": inp.param}
        else:
            ins[name] = {"value": inp.value}
    code: dict[str, dict] = {}
    for c in node.step.code:
        d = inputs[c.path]
        code[c.path] = {"kind": d.kind, "digest": d.digest}
        if d.executable:
            code[c.path]["exec"] = True
    m = {
        "v": KEY_VERSION,
        "template": _template_text(node.step.command),
        "command": list(node.command) if isinstance(node.command, list) else node.command,
        "env": env_identity,
        "params": dict(node.params),
        "inputs": ins,
        "code": code,
        # Paths too: two make-style steps that differ only in where they write must not
        # share cache entries. Workspace-relative, so moving the repo keeps the key.
        "outputs": {n: {"type": o.type or "any", "path": o.path} for n, o in node.outputs.items()},
    }
    lib = node.step.library
    if lib is not None:
        # A std component's code is outside the workspace: its version and the digest of its
        # folder and of the library's shared code stand for it (only in these steps' keys).
        m["library"] = {"component": lib.name, "version": lib.version, "digest": lib.digest}
    if KEY_GPU_MODEL in node.step.key_includes:
        m[KEY_GPU_MODEL] = gpu_model or "none"
    return m


def step_key(
    node: Node,
    inputs: Mapping[str, PathDigest],
    env_identity: str = LOCAL_ENV_IDENTITY,
    gpu_model: Optional[str] = None,
) -> StepKey:
    m = key_manifest(node, inputs, env_identity, gpu_model)
    return StepKey(hash_json(m), m)
