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

NESTED_DIR = ".pipe/nested"  # (load/flatten.py: where inner outputs without a path land)

KEY_VERSION = 1
LOCAL_ENV_IDENTITY = "local"
# The content given for an input a sweep's gathered task leaves out (a trial stopped early, or
# failed in a keep-going run): its key names the entry left out, with no digest to check or ship.
LEFT_OUT = PathDigest("left_out", "", 0)


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
            if d is LEFT_OUT:
                ins[name] = {"path": inp.path, "left_out": True}
                continue
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


def _roles(node: Node) -> tuple:
    """For an inner step of a pipeline used as a step: the paths its key names by their role
    rather than where they are (so the same pipeline used twice with the same inputs shares
    its inner steps' keys): every output (`@outputs.NAME`), and each input that reads another
    inner step's output (`@inputs.NAME`; its content stays in the key). ({}, {}) otherwise."""
    if not node.step.nest:
        return {}, {}
    roles: dict = {}
    for n, inp in node.inputs.items():
        if inp.kind == IN_PATH and (n in node.step.inner_reads or inp.path.startswith(NESTED_DIR + "/")):
            roles[n] = f"@inputs.{n}"
    return roles, {n: f"@outputs.{n}" for n in node.outputs}


def _keyed(node: Node, m: dict) -> dict:
    """What the digest is taken of: the manifest, with an inner step's paths named by their
    role. The manifest itself keeps the real paths (what readers of a record want)."""
    in_roles, out_roles = _roles(node)
    if not out_roles:
        return m
    cmd = render_command(node, out_roles, input_paths=in_roles)
    ins = {n: {**v, "path": in_roles[n]} if n in in_roles else v for n, v in m["inputs"].items()}
    outs = {n: {**v, "path": out_roles[n]} for n, v in m["outputs"].items()}
    return {**m, "command": list(cmd) if isinstance(cmd, list) else cmd, "inputs": ins, "outputs": outs}


def step_key(
    node: Node,
    inputs: Mapping[str, PathDigest],
    env_identity: str = LOCAL_ENV_IDENTITY,
    gpu_model: Optional[str] = None,
) -> StepKey:
    m = key_manifest(node, inputs, env_identity, gpu_model)
    return StepKey(hash_json(_keyed(node, m)), m)
