"""Checks across sections, once every section and step is read: references between steps,
artifact names given once, endpoint names (params, inputs, outputs) that mean one thing, and
no step output inside what a Docker `build:` builds from.

Each check reads the parsed spec objects (no YAML) and returns the errors it finds, located
at the spec objects' positions.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional

from .. import lazyre, spec
from ..errors import PipefileError, SourceLoc, did_you_mean
from ..spec import BIND_ARTIFACT, BIND_STEP_OUTPUT, Asset, Param, Step
from .paths import normalize_path
from .phrases import a, value_hint


def check_step_references(
    steps: Mapping[str, Step], declared_outputs: Mapping[str, Optional[set[str]]]
) -> list[PipefileError]:
    """Each ${{steps.S.outputs.X}} names a step and an output that exist, of a type that fits.

    `declared_outputs`: step name -> the outputs it declares (None: not read, the step had
    errors first), for every step written, valid or not: a reference to one with errors of
    its own is not reported a second time."""
    errors = []
    for st in steps.values():
        for iname, b in st.inputs.items():
            if b.kind != BIND_STEP_OUTPUT:
                continue
            loc = b.loc
            base = task_base(b.ref)
            if base != b.ref:
                problem = _task_ref_problem(b.ref, steps.get(base))
                if problem:
                    errors.append(PipefileError(f"input '{iname}' of step '{st.name}' uses {problem}", loc, _TASK_HINT))
                    continue
            other = steps.get(base)
            declared = declared_outputs.get(base, set())
            if other is None and base in declared_outputs:
                continue  # that step has errors of its own, reported already
            if other is None:
                errors.append(
                    PipefileError(
                        f"input '{iname}' of step '{st.name}' uses step '{b.ref}', which is not defined",
                        loc,
                        did_you_mean(b.ref, [s for s in steps if s != st.name], "step"),
                    )
                )
                continue
            out = other.outputs.get(b.output)
            if out is None and (declared is None or b.output in declared):
                continue  # that output has errors of its own, reported already
            if out is None:
                errors.append(
                    PipefileError(
                        f"input '{iname}' of step '{st.name}' uses output '{b.output}' of step '{b.ref}', "
                        f"which has no such output",
                        loc,
                        did_you_mean(b.output, other.outputs, "output"),
                    )
                )
                continue
            dtype = b.type
            e = st.expand
            if e is not None and e.kind == spec.EXPAND_FOREACH and e.over == iname and out.type != spec.URI_FILE:
                continue  # (a map's input is one entry of the folder: its type is the entry's, a file's too)
            if dtype is not None and (dtype not in spec.PATH_TYPES or not spec.type_fits(out.type, dtype)):
                errors.append(
                    PipefileError(
                        f"input '{iname}' of step '{st.name}' expects {a(dtype)}, but output '{b.output}' of step "
                        f"'{b.ref}' is {a(out.type or 'path')}",
                        loc,
                        value_hint(dtype)
                        if dtype in spec.VALUE_TYPES
                        else f"bind {a(dtype)}, or change the type of the output or the input",
                    )
                )
    return errors


_TASK_HINT = (
    "write ${{steps.STEP.outputs.NAME}} (every task's, gathered), ${{steps.STEP[LABEL].outputs.NAME}} "
    "(one task's) or ${{steps.STEP.best.outputs.NAME}} (a sweep's best trial)"
)


def task_base(ref: str) -> str:
    """The step a reference names: `train` for train, train[lr=0.1] and train.best."""
    if ref.endswith(".best"):
        return ref[: -len(".best")]
    return ref.split("[", 1)[0]


def _task_ref_problem(ref: str, base: Optional[Step]) -> str:
    """What is wrong with a reference to one task or to a sweep's best trial ('' if nothing
    the loader can tell: which labels exist is known when the graph is built)."""
    if base is None or base.expand is None:
        name = task_base(ref)
        return f"'{ref}', but step '{name}' has no tasks (it has no matrix:, sweep: or foreach:)" if base else ""
    if ref.endswith(".best"):
        if base.expand.kind != spec.EXPAND_SWEEP or not base.expand.objective_metric:
            return f"'{ref}', but step '{base.name}' is not a sweep with an objective"
    return ""


def check_artifact_names(steps: Mapping[str, Step], assets: Mapping[str, Asset]) -> list[PipefileError]:
    """One producer per artifact name; a run cannot read the latest version of what it makes."""
    errors = []
    # artifact name -> [(what makes it, where, (step, output) or None for an asset)]
    producers: dict[str, list[tuple[str, SourceLoc, Optional[tuple[str, str]]]]] = {}
    for asset in assets.values():
        if asset.artifact:
            producers.setdefault(asset.artifact, []).append((f"asset '{asset.name}'", asset.loc, None))
    for st in steps.values():
        for o in st.outputs.values():
            if o.artifact:
                producers.setdefault(o.artifact, []).append(
                    (f"output '{o.name}' of step '{st.name}'", o.loc, (st.name, o.name))
                )
    for name, made in producers.items():
        for what, loc, _ in made[1:]:
            errors.append(
                PipefileError(
                    f"artifact name '{name}' is given twice: to {made[0][0]} ({made[0][1]}) and to {what}",
                    loc,
                    "each artifact has one producer: give one of them another name",
                )
            )
    for st in steps.values():
        for iname, b in st.inputs.items():
            if b.kind != BIND_ARTIFACT or b.version:
                continue
            made_here = [m[2] for m in producers.get(b.ref, []) if m[2] is not None]
            if made_here:
                step, out = made_here[0]
                errors.append(
                    PipefileError(
                        f"input '{iname}' of step '{st.name}' reads the latest '{b.ref}', which step '{step}' of "
                        f"this Pipefile makes",
                        b.loc,
                        f"to use what this run makes, bind ${{{{steps.{step}.outputs.{out}}}}}; to use a stored "
                        f"version, pin it: ${{{{artifacts.{b.ref}:N}}}}",
                    )
                )
    return errors


def check_endpoint_names(
    steps: Mapping[str, Step], assets: Mapping[str, Asset], params: Mapping[str, Param]
) -> list[PipefileError]:
    """Endpoint inputs (params and `input: true` assets) and outputs (`output: true`)
    are addressed by name in requests: each name must mean one thing."""
    errors = []
    seen: dict[str, Step] = {}
    for asset in assets.values():
        if asset.input and asset.name in params:
            errors.append(
                PipefileError(
                    f"asset '{asset.name}' is an endpoint input, and so is param '{asset.name}': an invocation could "
                    f"not tell them apart",
                    asset.loc,
                    "rename the asset or the param",
                )
            )
    for st in steps.values():
        for o in st.outputs.values():
            if not o.output:
                continue
            if o.name in seen:
                other = seen[o.name]
                errors.append(
                    PipefileError(
                        f"output '{o.name}' of step '{st.name}' is an endpoint output, and so is output '{o.name}' "
                        f"of step '{other.name}' ({other.loc}): endpoint outputs need distinct names",
                        o.loc,
                        "rename one of the two outputs",
                    )
                )
                continue
            seen[o.name] = st
    return errors


def quoted_placeholders(pf: spec.Pipefile) -> list:
    """(SourceLoc, message, hint), one per shell command that has a `${{ }}` written inside
    quotes: it is escaped for those quotes, not shell-quoted (for `pipe validate` to explain)."""
    from .. import shellquote, template

    out, seen = [], set()
    owners = [(f"component '{c.name}'", c.command, c.command_loc) for c in pf.components.values()]
    owners += [(f"step '{s.name}'", s.command, s.command_loc) for s in pf.steps.values()]
    for what, command, loc in owners:
        if not isinstance(command, str) or (command, loc) in seen:
            continue  # an argv list has no quoting; a step shares its component's command
        seen.add((command, loc))
        try:
            parts = template.parse_cached(command)
        except template.TemplateError:
            continue  # reported as an error
        inside: dict = {shellquote.DOUBLE: [], shellquote.SINGLE: []}
        for (ref, _), place in zip(template.refs(parts), template.quote_contexts(parts)):
            if place in inside and str(ref) not in inside[place]:
                inside[place].append(str(ref))
        said = [
            f"{' and '.join(names)} {'is' if len(names) == 1 else 'are'} inside {place} quotes"
            for place, names in inside.items()
            if names
        ]
        if said:
            out.append(
                (
                    loc,
                    f"in the command of {what}, {' and '.join(said)}: each value is escaped for its quotes, "
                    "so the command gets exactly the value",
                    'outside quotes a value is shell-quoted; inside "..." a \\, ", $ or ` gets a backslash; '
                    "inside '...' a ' is written '\"'\"'",
                )
            )
    return out


def check_build_contexts(
    steps: Mapping[str, Step], environments: Mapping[str, spec.EnvSpec], root: str
) -> list[PipefileError]:
    """No step writes into the build context of a Docker `build:` environment that a step
    uses: the image would be built from a step's output, with no edge in the graph (a step
    could run in an image made from a stale output, and every run would change the image).
    An output that the folder's .dockerignore leaves out is not in the context.

    Only the declared paths are matched against the .dockerignore patterns: no walk of the
    workspace (this runs at every load, and again on a spec from the spec cache)."""
    from .dockerignore import left_out, read_patterns

    used = {st.environment for st in steps.values()}
    builds = [e for n, e in environments.items() if n in used and e.type == spec.ENV_DOCKER and e.build]
    errors: list[PipefileError] = []
    for env in builds:
        folder = env.build
        patterns = read_patterns(os.path.join(root, folder, ".dockerignore"))
        always = {env.dockerfile or "Dockerfile", ".dockerignore"}  # sent whatever the patterns say
        where = f"environment '{env.name}' builds from '{folder}' ({env.build_loc or env.loc})"
        for st in steps.values():
            for o in st.outputs.values():
                path = o.path
                what = f"output '{o.name}' of step '{st.name}' ('{path}')"
                if folder != "." and (folder == path or folder.startswith(path + "/")):
                    errors.append(
                        PipefileError(
                            f"{what} holds the build folder of a Docker environment: {where}, so the image "
                            f"would be built from what a step writes",
                            o.loc,
                            f"move the output out of '{path}', or the Dockerfile to a folder of its own",
                        )
                    )
                    continue
                rel = path if folder == "." else path[len(folder) + 1 :] if path.startswith(folder + "/") else None
                if rel is None or rel.split("/", 1)[0] == ".pipe":
                    continue
                if rel not in always and left_out(patterns, rel):
                    continue
                errors.append(
                    PipefileError(
                        f"{what} lies inside the build context of a Docker environment: {where}, and its "
                        f".dockerignore does not leave it out, so the image would be built from a step's output",
                        o.loc,
                        f"add '{rel}' to {os.path.normpath(os.path.join(folder, '.dockerignore'))}, or move the "
                        "Dockerfile to a folder of its own",
                    )
                )
    return errors


# A command word that runs the next word as a script, and the suffixes of scripts.
_RUNNERS = r"(?:python[0-9.]*|Rscript|bash|sh|zsh|node|julia|perl|ruby)"
_RUNNER = lazyre.Pattern(_RUNNERS)
_SCRIPT_SUFFIXES = (".py", ".R", ".r", ".sh", ".js", ".jl", ".pl", ".rb")
# A command that may run such a script, looked for before the shell-word split (~17 us a
# command, 17 ms of a 1,000-step Pipefile's cold load), which most commands never need.
_MAY_RUN_A_SCRIPT = lazyre.Pattern(_RUNNERS + r"""\s+['"]?([^\s;&|'"]*\.(?:py|R|r|sh|js|jl|pl|rb))\b""")


def undeclared_scripts(steps: Mapping[str, Step], assets: Mapping[str, Asset], root: Optional[str] = None) -> list:
    """Warnings (loc, message, hint) for a step whose command runs a script of the workspace
    (`python src/train.py`) that is neither in its code: nor an input: its content is not in
    the step's key, so an edit to it would leave the output stale without a word.
    With `root`, only a script that is a file of the workspace is named: a command that moves
    first (`cd src && python train.py`) runs one pipe cannot place, and `code: [train.py]` would
    be refused; a script another step writes is an input to bind, not code."""
    found = []
    written = {o.path for st in steps.values() for o in st.outputs.values()}
    for step in steps.values():
        if step.library is not None or step.render:
            continue  # a std component (its code is in its key); an Azure ML node (runs in its code folder)
        text = step.command if isinstance(step.command, str) else " ".join(step.command)
        seen = [m.group(1) for m in _MAY_RUN_A_SCRIPT.finditer(text)]
        if not seen:
            continue
        declared = [c.path for c in step.code] + [o.path for o in step.outputs.values()]
        for b in step.inputs.values():
            if b.kind == spec.BIND_PATH:
                declared.append(b.ref)
            elif b.kind == spec.BIND_ASSET and b.ref in assets:
                declared.append(assets[b.ref].path)
        if all(_covered(step.workdir, word, declared) for word in seen):
            continue  # (the usual case, `code:` written: no shell-word split, ~15 us a command)
        if isinstance(step.command, str):
            import shlex  # (only here: a cold load of commands that run no script pays nothing)

            try:
                words = shlex.split(step.command)
            except ValueError:
                continue
        else:
            words = list(step.command)
        for before, word in zip(words, words[1:]):
            if not _RUNNER.fullmatch(os.path.basename(before)) or "${{" in word or word.startswith("-"):
                continue
            path, problem = _script_path(step.workdir, word)
            if problem or not path or not path.endswith(_SCRIPT_SUFFIXES):
                continue
            if _under(path, declared) or _under(path, written):
                continue
            if root is not None and not os.path.isfile(os.path.join(root, path)):
                continue
            found.append(
                (
                    step.command_loc if step.command_loc.file else step.loc,
                    f"step '{step.name}' runs '{path}', which is not in its code: an edit to it will not "
                    "rerun the step",
                    f"add it to the step: code: [{path}]",
                )
            )
    return found


def _covered(workdir: str, word: str, declared: list) -> bool:
    """Whether the script `word` (as the command gives it) is one of, or under, `declared`."""
    if "${{" in word:
        return True
    path, problem = _script_path(workdir, word)
    return bool(problem) or not path or _under(path, declared)


def _script_path(workdir: str, word: str) -> tuple:
    """(the workspace path of a script a command names, the problem with it): a nested
    Pipefile's command runs in its folder, `workdir`."""
    return normalize_path(os.path.join(workdir, word) if workdir else word)


def _under(path: str, places) -> bool:
    """Whether `path` is one of `places` or inside one of them."""
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in places)
