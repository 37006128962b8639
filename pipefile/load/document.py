"""A Pipefile as a whole: finding it, reading its bytes, parsing its YAML, and reading
its top level section by section into a `spec.Pipefile`.

`load_lenient` is the entry point: it returns the valid part of the file and every
error found (sections, steps, cross-checks) so that later checks (the graph) can still
run and all problems are reported in one go. It raises only when nothing usable could
be read (no file, broken YAML, an empty file).
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
from typing import Iterator, Optional

from .. import names, spec
from ..errors import PipefileError, SourceLoc, raise_all
from . import pymodule, yamlsafe

# The parsers are imported by read_text: a run whose spec comes from the spec cache only finds
# and reads the file (find_pipefile, read_bytes), and pays for none of them at start-up.

DEFAULT_NAMES = ("Pipefile", "Pipefile.yaml", "Pipefile.yml")


def find_pipefile(start: str) -> str:
    """The Pipefile of the folder `start` or of the nearest folder above it, as git finds its
    repository. The search stops at the top of a git repository (a Pipefile above it belongs to
    another project) and where another file system is mounted."""
    here = os.path.abspath(start)
    try:
        device = os.stat(here).st_dev
    except OSError:
        device = None
    while True:
        found = _pipefile_in(here, odd_too=here == os.path.abspath(start))
        if found:
            return found
        parent = os.path.dirname(here)
        if parent == here or os.path.lexists(os.path.join(here, ".git")):
            break
        try:
            if device is not None and os.stat(parent).st_dev != device:
                break
        except OSError:
            break
        here = parent
    pipelines = _azureml_pipelines_in(os.path.abspath(start))
    hint = "create one with `pipe init` (or see `pipe help pipefile`), or point at it with -f FILE"
    if pipelines:  # (its jobs, metrics ... are found with the same -f that ran it)
        first = pipelines[0]
        hint = f"this folder holds an Azure ML pipeline job: pass it with -f {first} (as to `pipe run -f {first}`)"
        hint += f" (or -f {pipelines[1]} ...)" if len(pipelines) > 1 else ""
    raise PipefileError(f"no Pipefile in {os.path.abspath(start)} or any folder above it", hint=hint)


def _azureml_pipelines_in(folder: str, most: int = 50) -> list:
    """The Azure ML pipeline job YAMLs of `folder` (the first `most` YAMLs looked at, by name)."""
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith((".yml", ".yaml")))[:most]
    except OSError:
        return []
    found = []
    for name in names:
        try:
            with open(os.path.join(folder, name), "rb") as f:
                head = f.read(1 << 16).decode("utf-8", errors="replace")
        except OSError:
            continue
        if _is_azureml(head):  # pipelines first: a component file may read as a standalone job
            found.append(("\njobs:" not in "\n" + head, name))
    return [name for _, name in sorted(found)]


def _pipefile_in(folder: str, odd_too: bool) -> Optional[str]:
    """The Pipefile in `folder`; with `odd_too`, also something else by that name (a folder,
    a broken link ...), which the reader then names, rather than looking further up."""
    for name in DEFAULT_NAMES:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    if not odd_too:
        return None
    for name in DEFAULT_NAMES:
        path = os.path.join(folder, name)
        if os.path.lexists(path):  # a folder, a FIFO, a device or a broken link by that name: say so
            return path  # reading it says what it is
    return None


def load(path: str) -> spec.Pipefile:
    """Load and validate a Pipefile; raises PipefileError(s)."""
    pf, errors = load_lenient(path)
    raise_all(errors)
    return pf


def load_lenient(
    path: str, data: Optional[bytes] = None, composed: Optional[tuple] = None
) -> tuple[spec.Pipefile, list[PipefileError]]:
    """(the valid part of the Pipefile, every error found), so that later checks can
    still run on what is valid and all problems are reported together. Raises only
    when nothing usable could be read (no file, broken YAML).

    `data`: the file's bytes, read already by the caller (what it caches must be what
    was parsed, even if the file is saved again meanwhile). `composed`: (text, its node tree,
    from `yamlsafe.load_tree`), read already by the caller: used when it is this text."""
    from .reader import display_path

    if pymodule.is_module_ref(path):  # a pipefile.dsl or Azure ML SDK v2 pipeline (docs/dsl.md, docs/azureml.md)
        return load_module(path)
    path = os.path.abspath(path)
    if data is None:
        data = read_bytes(path)
    text = yamlsafe.decode(data, display_path(path))
    # An Azure ML job (type: at the top level, which no Pipefile has): read by its importer into
    # the same spec. (A Pipefile does not pay for importing the importer, 30 ms.)
    if (text.startswith("type:") or "\ntype:" in text) and _is_azureml(text):
        from . import azureml

        return azureml.load_lenient(path, text)
    # The YAML node tree of a large Pipefile is hundreds of thousands of objects; the
    # cyclic GC would walk them over and over while they are built (quadratic time).
    with gc_paused():
        return read_text(text, path, composed=composed)


_PAUSES = threading.Lock()
_paused = [0, False]  # [pauses under way, whether the GC was on when the first began]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic GC off while many objects that live on are made. Counted across threads:
    the GC is one switch for the process, and a pause that ends must not turn it on under
    another thread's (the designer loads, edits and plans on several at once)."""
    with _PAUSES:
        if _paused[0] == 0:
            _paused[1] = gc.isenabled()
            gc.disable()
        _paused[0] += 1
    try:
        yield
    finally:
        with _PAUSES:
            _paused[0] -= 1
            if _paused[0] == 0 and _paused[1]:
                gc.enable()


def load_module(path: str) -> tuple[spec.Pipefile, list[PipefileError]]:
    """(spec, errors) of the pipeline a Python module defines (`build.py[:NAME]`): what its
    object is decides who reads it (load/pymodule.py)."""
    obj, file, _ = pymodule.pipeline_object(path)
    file = os.path.abspath(file)
    if pymodule.is_dsl(obj):
        text, relocate = pymodule.dsl_text(obj, file)
        return read_text(text, file, relocate)
    from . import azureml
    from .azureml import sdk
    from .reader import display_path

    return azureml.load_lenient(file, sdk.yaml_of(obj, display_path(file)))


def _is_azureml(text: str) -> bool:
    from . import azureml  # (here: a Pipefile never pays for importing it)

    return azureml.looks_like(text)


def read_bytes(path: str) -> bytes:
    """The Pipefile's bytes: a regular file only, of bounded size (not /dev/zero, a FIFO)."""
    path = os.path.abspath(pymodule.split_ref(path)[0])  # (build.py:NAME: the module's file)
    if not path.isascii() and not names.is_utf8(path):  # (its root is in every key and record)
        raise names.not_utf8(path, "the Pipefile's path")
    try:
        data = yamlsafe.read_file(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise PipefileError(
                f"{path}: is a link to {os.readlink(path)}, which does not exist",
                hint="point the link at the Pipefile, or replace it with the file",
            ) from None
        raise PipefileError(f"{path}: no such file", hint="check the -f argument") from None
    except IsADirectoryError:
        raise PipefileError(f"{path}: is a directory, not a regular file", hint="give the Pipefile's path") from None
    except OSError as e:
        import errno  # (this error's path only)

        hint = "check the file's permissions"
        if e.errno == errno.ELOOP:  # (not a permission: `ln -s Pipefile Pipefile`, or links that lead round)
            hint = "a link on the way leads back to itself: point it at the Pipefile, or replace it with the file"
        raise PipefileError(f"{path}: cannot read: {e.strerror or e}", hint=hint) from None
    if _in_kernel_folder(os.path.dirname(path)):
        # (-f /dev/stdin < Pipefile: its folder, the workspace root, would be /dev)
        raise PipefileError(
            f"{path}: a Pipefile's folder is its workspace (outputs and .pipe/ go there), and "
            f"{os.path.dirname(path)} is the kernel's, not a workspace",
            hint="save it to a file in the workspace first (for example `cat > Pipefile`) and give that",
        )
    return data


def _in_kernel_folder(folder: str) -> bool:
    """/dev itself and its descriptor folders, /proc, /sys: not where a workspace can be (a
    workspace in /dev/shm, a tmpfs, is one as any other)."""
    return folder in ("/dev", "/dev/fd") or folder.startswith(("/proc/", "/sys/")) or folder in ("/proc", "/sys")


def loads(text: str, path: str) -> spec.Pipefile:
    """Load and validate a Pipefile's text, as if read from `path`; raises PipefileError(s)."""
    pf, errors = read_text(text, path)
    raise_all(errors)
    return pf


def read_text(
    text: str, path: str, relocate=None, stack: tuple = (), composed: Optional[tuple] = None
) -> tuple[spec.Pipefile, list[PipefileError]]:
    """(the valid part, every error) of a Pipefile's text; `path` places it (root, messages).
    `relocate`: line -> the SourceLoc that line stands for (a DSL pipeline's Python), or None.
    `stack`: the Pipefiles that use this one as a component, outermost first.
    `composed`: (a text, its node tree as `_compose` makes it), not composed again if it is this text."""
    from .checks import (
        check_artifact_names,
        check_build_contexts,
        check_endpoint_names,
        check_step_references,
        undeclared_scripts,
    )
    from .environments import builtin_std, load_environments
    from .execution import load_settings
    from .fields import TOP_KEYS
    from .flatten import flatten
    from .nested import Pipelines
    from .reader import NodeReader
    from .sections import load_assets, load_components, load_params
    from .steps import StepParser

    r = NodeReader(text, path)
    r.relocate = relocate
    root = composed[1] if composed is not None and composed[1] is not None and composed[0] == text else _compose(r)
    items = {k: (kn, vn) for k, kn, vn in r.mapping(root, "the Pipefile", TOP_KEYS)}
    if r.errors and not items:
        raise_all(r.errors)

    version = spec.PIPEFILE_VERSION
    if "version" in items:
        vn = items["version"][1]
        v = r.value(vn)
        if isinstance(v, bool) or v != spec.PIPEFILE_VERSION:
            r.error(vn, f"unsupported Pipefile version {v!r}", f"this pipe reads version: {spec.PIPEFILE_VERSION}")
    name = r.string(items["name"][1], "name") if "name" in items else ""
    description = r.string(items["description"][1], "description") if "description" in items else ""

    params = load_params(r, items["params"][1]) if "params" in items else {}
    assets = load_assets(r, items["assets"][1]) if "assets" in items else {}
    environments = load_environments(r, items["environments"][1]) if "environments" in items else {}
    cnode = items["components"][1] if "components" in items else None
    sources: dict = {}
    absent: set = set()
    read_file = _component_file(sources, absent)
    pipelines = Pipelines(r, cnode, (params, assets, environments), read_file, stack, DEFAULT_NAMES)
    components = load_components(r, cnode, params, environments, skip=pipelines.raw) if cnode is not None else {}
    pipelines.sections += (components,)
    if "steps" not in items:
        r.error(root, "the Pipefile has no 'steps'", "add a steps: mapping with at least one step")
        raw_steps = []
    else:
        raw_steps = r.mapping(items["steps"][1], "steps")
        if not raw_steps and not r.errors:
            r.error(items["steps"][1], "'steps' is empty", "add at least one step")
    parser = StepParser(r, params, assets, environments, components)
    steps = {}
    for key, knode, vnode in raw_steps:
        if r.name_ok(key, knode, "step"):
            st = pipelines.read_step(parser, key, knode, vnode)
            if st is not None:
                steps[key] = st
    pipelines.read_rest()
    steps, uses, errors = flatten(steps)
    r.errors += errors
    for use in uses.values():  # (a Pipefile used as a component brings its environments)
        environments.update(use.pipeline.environments)
    executor = load_settings(r, items["settings"][1]) if "settings" in items else None
    builtin_std(steps, environments)
    r.errors += check_step_references(steps, parser.declared_outputs)
    r.errors += check_artifact_names(steps, assets)
    r.errors += check_endpoint_names(steps, assets, params)
    r.errors += check_build_contexts(steps, environments, os.path.dirname(path))
    r.warnings += undeclared_scripts(steps, assets, os.path.dirname(path))
    return spec.Pipefile(
        path=path,
        root=os.path.dirname(path),
        version=version,
        name=name or "",
        description=description or "",
        params=params,
        assets=assets,
        components=components,
        steps=steps,
        environments=environments,
        executor=executor,
        warnings=tuple(r.warnings),
        keep_going=bool(r.flag(items["keep_going"][1], "keep_going")) if "keep_going" in items else False,
        sources=tuple(sorted(sources.items())),
        absent=tuple(sorted(absent)),
        pipelines=uses,
        pipeline_components={n: c for n in pipelines.raw if (c := pipelines.done.get(n)) is not None},
    ), r.errors


def _component_file(sources: dict, absent: set):
    """Reads another Pipefile used as a component (its bytes kept in `sources`, and the paths
    `passed` over to find it in `absent`, which the spec cache checks): (the
    PipelineComponent, its errors, located in that file). A file used by several steps is read
    once: each use read and parsed it again, and said its errors again."""
    done: dict = {}  # (path, stack) -> the PipelineComponent or None: its errors were said with it

    def read(path: str, stack: tuple, passed: tuple = (), named: str = "") -> tuple:
        from ..digest import hash_bytes
        from .flatten import from_pipefile
        from .reader import display_path

        if named and named != path:  # (read through a link: one made to point elsewhere reads it again)
            sources[named] = spec.REAL_PATH + os.path.realpath(named)
        absent.update(passed)
        if (path, stack) in done:
            return done[path, stack], []
        done[path, stack] = None
        try:
            data = read_bytes(path)
            pf, errors = read_text(yamlsafe.decode(data, display_path(path)), path, stack=stack)
        except PipefileError as e:
            return None, list(getattr(e, "errors", [e]))
        sources[path] = hash_bytes(data)
        sources.update(pf.sources)
        absent.update(pf.absent)
        # Its paths relative to the Pipefile that uses it (stack[-1]), which places them in
        # turn when it is itself a component: each level rebases once.
        comp, more = from_pipefile(pf, os.path.dirname(stack[-1]))
        done[path, stack] = comp
        return comp, errors + more

    return read


def _colon_in_value(text: str, line: int) -> bool:
    """Whether that line's value (after `key: `) holds a ':' of its own."""
    lines = text.splitlines()
    if line >= len(lines):
        return False
    _, sep, value = lines[line].partition(": ")
    return bool(sep) and ":" in value


# What libyaml (and PyYAML) say when a line is indented out of step with its neighbours.
_INDENT_PROBLEMS = (
    "did not find expected key",
    "did not find expected '-' indicator",
    "expected <block end>",
    "mapping values are not allowed",
)


# The fix for the other syntax errors libyaml names (each said only what was wrong).
_SYNTAX_HINTS = (
    ("undefined alias", "define the anchor (&NAME) on a value above, or quote text that starts with *"),
    ("duplicate anchor", "give each anchor (&NAME) a name of its own"),
    ("single document", "a Pipefile is one YAML document: remove the '---' line and what follows it"),
    ("end of stream", "close the quote or bracket that opens here"),
    ("cannot start any token", "quote the value: a plain one cannot start with @, ` or %"),
    ("escape", "in \"...\", \\ starts an escape (\\n, \\t, \\u00e9): write \\\\ for a backslash, or use '...'"),
    ("incompatible YAML document", "remove the %YAML line"),
)


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.splitlines()
    return lines[line][column : column + 1] if line < len(lines) else ""


def _compose(r):
    """The YAML node tree of the text (`r` a reader.NodeReader); raises a located PipefileError for
    broken YAML or an empty file."""
    try:
        return _compose_text(r)
    except PipefileError as e:
        if r.relocate is not None and e.loc is not None and e.loc.line:
            # Text a DSL pipeline wrote: its line in the module that made it (a line number of
            # the text, given with the module's name, pointed at a line of other code or none).
            e.loc = r.relocate(e.loc.line) or SourceLoc(e.loc.file)
        raise


def _compose_text(r):
    from . import reader

    yaml = reader.yaml
    try:
        root = yamlsafe.compose(r.text, r.display, forbid_nul=True, numbers=True)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        if e.context_mark is not None and "end of stream" in (e.problem or ""):
            mark = e.context_mark  # an unclosed quote or bracket: point where it opens
        loc = SourceLoc(r.display, mark.line + 1, mark.column + 1) if mark else SourceLoc(r.display)
        problem = " ".join(filter(None, [e.context, e.problem]))
        hint = None
        if "flow" in problem:
            # The flow ({...} or [...]) that broke: from where it opens to where it broke.
            marks = [m.line for m in (e.context_mark, e.problem_mark) if m is not None]
            span = r.text.splitlines()[min(marks) : max(marks) + 1] if marks else []
            if any("${{" in line for line in span):
                hint = 'inside a flow mapping {...}, quote expressions: {raw: "${{assets.raw}}"}'
            elif e.context_mark is not None:
                hint = (
                    f"the {'[' if 'sequence' in problem else '{'} opened at line {e.context_mark.line + 1} is not "
                    "closed where YAML expects: close it, or quote a value that starts with [ or {"
                )
        elif "mapping values are not allowed" in problem and mark and _colon_in_value(r.text, mark.line):
            # A command with ': ' in it (JSON, a Python dict, "echo a: b").
            hint = (
                "a ': ' inside an unquoted value starts a mapping: write the value as a block "
                "(`command: >-`, the text on the next line, indented)"
            )
        elif mark and ("tab" in problem or _char_at(r.text, mark.line, mark.column) == "\t"):
            hint = "YAML indents with spaces only: replace the tab with spaces"
        elif mark and any(p in problem for p in _INDENT_PROBLEMS):
            # libyaml's words for a key out of line with those beside it say nothing of indentation.
            hint = (
                f"check the indentation of line {mark.line + 1}: the keys of one mapping start in the "
                "same column (a step's `command:`, `inputs:` and `outputs:` line up), indented with spaces"
            )
        else:
            hint = next((fix for words, fix in _SYNTAX_HINTS if words in problem), None)
        raise PipefileError(f"invalid YAML: {problem}", loc, hint) from None
    except yaml.YAMLError as e:
        raise PipefileError(f"invalid YAML: {e}", SourceLoc(r.display)) from None
    if root is None:
        raise PipefileError(
            "the Pipefile is empty", SourceLoc(r.display), "start one with `pipe init`, or see `pipe help pipefile`"
        )
    return root
