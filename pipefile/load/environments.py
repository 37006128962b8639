"""The `environments:` section (local, venv, conda, docker) and references to it from
components and steps.

An environment with any error is left out of the spec (its error reported), so that
nothing downstream builds or runs a half-understood environment.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any, Mapping, Optional

from .. import lazyre, spec
from ..errors import did_you_mean
from ..spec import EnvSpec, Mount
from .fields import DOCKER_NETWORKS, ENVIRONMENT_KEYS, ENVIRONMENT_TYPE_KEYS, RESERVED_ENV_VARS
from .paths import normalize_path
from .phrases import a
from .reader import NodeReader, is_mapping, is_scalar

if TYPE_CHECKING:
    from yaml import Node

_ENV_VAR_RE = lazyre.Pattern(r"[A-Za-z_][A-Za-z0-9_]*")


def load_environments(r: NodeReader, node: Node) -> dict[str, EnvSpec]:
    out = {}
    for key, knode, vnode in r.mapping(node, "environments"):
        if not r.name_ok(key, knode, "environment"):
            continue
        if key == spec.ENV_LOCAL:
            r.error(
                knode,
                "'local' is the built-in environment (the calling shell) and cannot be redefined",
                "choose another name, e.g. local-env: {type: local, env: {...}}",
            )
            continue
        env = load_environment(r, key, knode, vnode)
        if env is not None:
            out[key] = env
        else:
            r.broken.add(("environment", key))
    return out


def load_environment(r: NodeReader, name: str, knode: Node, vnode: Node) -> Optional[EnvSpec]:
    what = f"environment '{name}'"
    fields = {k: (kn, vn) for k, kn, vn in r.mapping(vnode, what, ENVIRONMENT_KEYS)}
    if not is_mapping(vnode):
        return None
    if "type" not in fields:
        guess = (
            "docker"
            if "image" in fields or "build" in fields
            else "venv"
            if "requirements" in fields or "packages" in fields
            else "conda"
            if "file" in fields
            else None
        )
        r.error(
            vnode,
            f"{what} has no type",
            f"add type: {guess}" if guess else f"add type: one of {', '.join(spec.ENV_TYPES)}",
        )
        return None
    typ = r.type_name(fields["type"][1], spec.ENV_TYPES, what)
    if typ is None:
        return None
    allowed = ENVIRONMENT_TYPE_KEYS[typ]
    before = len(r.errors)
    for k, (kn, _) in fields.items():
        if k not in ("type", "description") and k not in allowed:
            r.error(
                kn,
                f"'{k}' does not apply to {what}, which is {a(typ)} environment",
                f"{a(typ)} environment takes: {', '.join(allowed)}",
            )
    if len(r.errors) > before:
        return None
    f = {k: vn for k, (_, vn) in fields.items()}
    env_vars = load_env_vars(r, f["env"], what) if "env" in f else {}
    kw: dict[str, Any] = {}
    if typ == spec.ENV_VENV:
        _venv(r, f, what, kw)
    elif typ == spec.ENV_CONDA:
        if "file" not in f:
            r.error(vnode, f"{what} has no file", "add file: envs/NAME.yml (a conda environment file)")
            return None
        kw["file"] = r.path_value(f["file"], f"file of {what}") or ""
    elif typ == spec.ENV_DOCKER:
        if ("image" in f) == ("build" in f):
            r.error(
                vnode,
                f"{what} needs exactly one of image: or build:",
                "image: NAME[:TAG] runs an existing image; build: FOLDER builds one from a Dockerfile",
            )
            return None
        _docker(r, f, fields["dockerfile"][0] if "dockerfile" in fields else None, what, kw)
    if len(r.errors) > before:
        return None
    return EnvSpec(name, typ, env_vars, description=r.description(f), loc=r.loc(knode), **kw)


def _venv(r: NodeReader, f: dict[str, Node], what: str, kw: dict[str, Any]) -> None:
    if "python" in f:
        v = r.value(f["python"])
        if not isinstance(v, str) or not v.strip():
            r.error(
                f["python"],
                f"python of {what} must be a string, not {v!r}",
                'quote the version, e.g. python: "3.10" (unquoted, 3.10 is the number 3.1)',
            )
        else:
            kw["python"] = v.strip()
    if "requirements" in f:
        kw["requirements"] = r.path_value(f["requirements"], f"requirements of {what}") or ""
    if "packages" in f:
        kw["packages"] = r.string_list(
            f["packages"], f"packages of {what}", "a list of requirements, e.g. [pandas==1.5.3, six]"
        )


def _docker(r: NodeReader, f: dict[str, Node], dockerfile_key: Optional[Node], what: str, kw: dict[str, Any]) -> None:
    if "image" in f:
        image = r.string(f["image"], f"image of {what}")
        if image is not None and (not image.strip() or any(c.isspace() for c in image.strip())):
            r.error(f["image"], f"image of {what} is not an image name: {image!r}", "e.g. image: python:3.11-slim")
            image = None
        kw["image"] = (image or "").strip()
        if dockerfile_key is not None:
            r.error(
                dockerfile_key,
                f"dockerfile of {what} needs build:",
                "dockerfile: names the Dockerfile inside the build: folder",
            )
    else:
        raw = r.value(f["build"])
        if isinstance(raw, str) and raw.strip() and posixpath.normpath(raw.strip().replace("\\", "/")) == ".":
            kw["build"] = "."  # the workspace itself: a Dockerfile at its root (the most common layout)
        else:
            kw["build"] = r.path_value(f["build"], f"build of {what}") or ""
        kw["build_loc"] = r.loc(f["build"])
        if "dockerfile" in f:
            df = r.string(f["dockerfile"], f"dockerfile of {what}")
            p, problem = normalize_path(df) if df is not None else (None, None)
            if problem and df is not None and df.strip():
                # (normalize_path speaks of the workspace; this path is inside the build folder)
                where = f"the build folder '{kw['build'] or raw}'"
                if df.strip().startswith("/"):
                    problem = f"'{df}' is an absolute path; it is relative to {where}"
                elif posixpath.normpath(df.strip()).split("/")[0] == "..":
                    problem = f"'{df}' is outside {where}"
                r.error(
                    f["dockerfile"],
                    f"dockerfile of {what}: {problem}",
                    "a path inside the build folder, e.g. Dockerfile.gpu",
                )
            kw["dockerfile"] = p or ""
    if "network" in f:
        net = r.string(f["network"], f"network of {what}")
        if net is not None and net not in DOCKER_NETWORKS:
            r.error(f["network"], f"unknown network '{net}' for {what}", did_you_mean(net, DOCKER_NETWORKS, "network"))
        elif net is not None:
            kw["network"] = net
    if "mounts" in f:
        kw["mounts"] = load_mounts(r, f["mounts"], what)


def load_env_vars(r: NodeReader, node: Node, what: str) -> dict[str, str]:
    out = {}
    for k, kn, vn in r.mapping(node, f"env of {what}"):
        if not _ENV_VAR_RE.fullmatch(k):
            r.error(
                kn,
                f"'{k}' is not a valid environment variable name in {what}",
                "use letters, digits and '_', starting with a letter or '_'",
            )
            continue
        if k in RESERVED_ENV_VARS:
            r.error(
                kn,
                f"{what} sets {k}, which pipe sets for every step",
                "resources: {gpus: N} hands out GPUs (CUDA_VISIBLE_DEVICES); remove it"
                if k == "CUDA_VISIBLE_DEVICES"
                else "remove it",
            )
            continue
        v = r.value(vn) if is_scalar(vn) else None
        if v is None or not isinstance(v, (str, int, float, bool)):
            r.error(vn, f"{k} in env of {what} must be a string, a number or a boolean", 'e.g. OMP_NUM_THREADS: "4"')
            continue
        out[k] = ("true" if v else "false") if isinstance(v, bool) else r.text_before_numbers(vn) or str(v)
    return out


def load_mounts(r: NodeReader, node: Node, what: str) -> tuple[Mount, ...]:
    out: list[Mount] = []
    hint = "write SOURCE:TARGET[:ro|rw], e.g. data/big:/data (read-only unless :rw)"
    for item in r.string_list(node, f"mounts of {what}", hint):
        parts = item.split(":")
        mode = "ro"
        if len(parts) == 3 and parts[2] in ("ro", "rw"):
            mode = parts.pop()
        if len(parts) != 2 or not parts[0] or not parts[1]:
            r.error(node, f"mount '{item}' of {what} is not SOURCE:TARGET[:ro|rw]", hint)
            continue
        src, target = parts
        if not target.startswith("/"):
            r.error(
                node,
                f"mount '{item}' of {what}: the target '{target}' must be an absolute path inside the container",
                "e.g. data:/data",
            )
            continue
        if not src.startswith("/"):
            p, problem = normalize_path(src)
            if problem or p is None:
                r.error(
                    node,
                    f"mount '{item}' of {what}: {problem}",
                    "a workspace-relative folder, or an absolute path on this machine",
                )
                continue
            src = p
        target = posixpath.normpath(target)
        if target == "/" or any(m.target == target for m in out):
            # (Docker refuses the container then, only when a step starts: "Duplicate mount point")
            r.error(
                node,
                f"mount '{item}' of {what}: "
                + ("the target '/' is the container's own root" if target == "/" else f"'{target}' is mounted twice"),
                "give each mount a target folder of its own, e.g. data:/data",
            )
            continue
        out.append(Mount(src, target, mode == "ro"))
    return tuple(out)


def environment_ref(r: NodeReader, node: Node, what: str, environments: Mapping[str, EnvSpec]) -> Optional[str]:
    """The environment a step or component names, checked against `environments:`."""
    name = r.string(node, f"environment of {what}")
    if name is None:
        return None
    if name in (spec.ENV_LOCAL, spec.ENV_STD) or name in environments:
        return name  # (std, unless the Pipefile defines its own: the built-in one, see builtin_std)
    if ("environment", name) in r.broken:
        return None  # declared, with its own error
    known = list(environments) + [spec.ENV_LOCAL, spec.ENV_STD]
    r.error(
        node,
        f"{what} uses environment '{name}', which is not defined",
        did_you_mean(name, known, "environment")
        if environments
        else "define it under environments: at the top of the Pipefile",
    )
    return None


def builtin_std(steps: Mapping[str, spec.Step], environments: dict) -> None:
    """Adds the built-in `std` environment when a step runs in it and the Pipefile does not
    define one of that name (a Pipefile's own `std` wins: that is how a user overrides it)."""
    if spec.ENV_STD in environments or not any(s.environment == spec.ENV_STD for s in steps.values()):
        return
    environments[spec.ENV_STD] = EnvSpec(
        spec.ENV_STD,
        spec.ENV_STD,
        description="built in: the std components' requirements (pandas, pyarrow, scikit-learn, matplotlib)",
    )
