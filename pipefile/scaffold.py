"""`pipe init`: a runnable project from a template shipped in the package, and the block of
`.gitignore` that keeps pipe's outputs and state out of the repository.

A template is a folder of `pipefile/templates/`: `template.yaml` (description, the Python
packages its steps need), and the files to write. A file ending in `.j2` is rendered with
Jinja2 (the name of the project is `{= name =}`: the delimiters differ from Jinja's usual
`{{ }}`, which Pipefile placeholders use) and written without the suffix; the rest is copied.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass, field
from typing import Optional

from .errors import PipefileError
from .wholefile import replace_whole

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
DEFAULT_TEMPLATE = "minimal"
BLOCK_START = "# >>> pipe: outputs and state (kept by `pipe init`)"
BLOCK_END = "# <<< pipe"

PRE_COMMIT = """\
# Checks before each commit (https://pre-commit.com): `pip install pre-commit && pre-commit install`.
# The hooks call the `pipe` installed beside pre-commit (language: system).
repos:
  - repo: local
    hooks:
      - id: pipe-validate
        name: pipe validate
        entry: pipe validate
        language: system
        pass_filenames: false
        files: (^|/)Pipefile(\\.ya?ml)?$
      - id: pipe-check
        name: pipe status --check
        entry: pipe status --check
        language: system
        pass_filenames: false
        always_run: true
"""


@dataclass
class Template:
    name: str
    description: str
    requires: list[str] = field(default_factory=list)

    @property
    def folder(self) -> str:
        return os.path.join(TEMPLATES, self.name)

    def missing_packages(self) -> list[str]:
        """The packages it needs that the calling interpreter lacks (import names guessed)."""
        modules = {"scikit-learn": "sklearn", "pyyaml": "yaml"}
        return [p for p in self.requires if importlib.util.find_spec(modules.get(p, p)) is None]


@dataclass
class Written:
    root: str
    template: Template
    files: list[str]  # relative paths, in the order written
    gitignore: str  # "created", "updated" or "unchanged"
    nested_in: Optional[str] = None  # the git repository's top, when the project is a folder below it


def templates() -> list[Template]:
    from .load import yamlsafe

    found = []
    for name in sorted(os.listdir(TEMPLATES)):
        meta = os.path.join(TEMPLATES, name, "template.yaml")
        if not os.path.isfile(meta):
            continue
        with open(meta, encoding="utf-8") as f:
            data = yamlsafe.load(f.read(), meta) or {}
        found.append(Template(name, str(data.get("description", "")), list(data.get("requires", []))))
    return found


def template(name: str) -> Template:
    known = {t.name: t for t in templates()}
    if name in known:
        return known[name]
    raise PipefileError(
        f"no template '{name}'", hint=f"choose one of: {', '.join(known)} (`pipe init --list` describes them)"
    )


def project_name(root: str) -> str:
    """A valid pipeline name made from the folder's name."""
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", os.path.basename(os.path.abspath(root))).strip("-_")
    if not base or not base[0].isalpha():
        base = "project" + (f"-{base}" if base else "")
    return base.lower()


def _plan(t: Template) -> list[tuple[str, str]]:
    """(source file, relative target) for each file of the template."""
    pairs = []
    for folder, dirs, files in os.walk(t.folder):
        dirs.sort()
        for name in sorted(files):
            source = os.path.join(folder, name)
            rel = os.path.relpath(source, t.folder)
            if rel == "template.yaml" or "__pycache__" in rel:
                continue
            pairs.append((source, rel[:-3] if rel.endswith(".j2") else rel))
    return pairs


def init(root: str, name: str, force: bool = False) -> Written:
    """Write template `name` into `root` (made if missing), then the .gitignore block and the
    pre-commit config. Refuses to replace a file that exists unless `force`."""
    t = template(name)
    pairs = _plan(t) + [("", ".pre-commit-config.yaml")]
    if not force:
        taken = [rel for _, rel in pairs if os.path.lexists(os.path.join(root, rel))]
        if taken:
            raise PipefileError(
                f"{', '.join(taken)} already exist{'s' if len(taken) == 1 else ''} in {root}",
                hint="run `pipe init` in an empty folder, or add --force to replace them "
                "(in a folder with a Pipefile, `pipe init` alone refreshes .gitignore)",
            )
    ignore = os.path.realpath(os.path.join(root, ".gitignore"))
    if os.path.lexists(ignore) and not os.path.isfile(ignore):
        # Refused before the first file is written: found after them, the command failed
        # (exit 2) and left the template's files written all the same.
        raise _gitignore_error(root, OSError(f"not a regular file: {ignore}"))
    import jinja2

    env = jinja2.Environment(
        variable_start_string="{=",
        variable_end_string="=}",
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    values = {"name": project_name(root)}
    written = []
    for source, rel in pairs:
        target = os.path.join(root, rel)
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        if not source:
            text = pre_commit_config(root)
        else:
            with open(source, encoding="utf-8") as f:
                text = f.read()
            if source.endswith(".j2"):
                text = env.from_string(text).render(values)
        # Whole, and in place of what is there (--force): a link is replaced, never written
        # through (that overwrote the file it pointed at, outside the project), and a kill
        # midway leaves the old file or the new one.
        replace_whole(target, text.encode("utf-8"))
        written.append(rel)
    top = _repo_top(root)
    return Written(root, t, written, refresh_gitignore(root), top if top != os.path.abspath(root) else None)


def _repo_top(root: str) -> Optional[str]:
    from .clone import git_top

    return git_top(root)


def pre_commit_config(root: str) -> str:
    """The hooks for a project at `root`. pre-commit runs hooks at the top of the git
    repository, so a project in a folder below it gets hooks that name that folder (-C)."""
    top = _repo_top(root)
    rel = os.path.relpath(os.path.abspath(root), top) if top else "."
    if rel == ".":
        return PRE_COMMIT
    import json
    import shlex

    folder = rel.replace(os.sep, "/")
    text = PRE_COMMIT.replace(
        "# The hooks call",
        "# pre-commit reads its config at the top of the repository: move these hooks into the\n"
        f"# .pre-commit-config.yaml there (they run pipe -C {folder!r}).\n# The hooks call",
    )
    for command in ("validate", "status --check"):
        entry = json.dumps(f"pipe -C {shlex.quote(folder)} {command}")
        text = text.replace(f"entry: pipe {command}\n", f"entry: {entry}\n")
    pattern = json.dumps("^" + re.escape(folder + "/") + "Pipefile(\\.ya?ml)?$")
    return text.replace("files: (^|/)Pipefile(\\.ya?ml)?$\n", f"files: {pattern}\n")


def ignored_paths(pipefile_path: str) -> list[str]:
    """The lines of the .gitignore block: pipe's state folder and every output path of the
    Pipefile, anchored at the workspace (a folder output with a trailing /)."""
    from .load import load
    from .report.run import CI_SUMMARY_FILE

    pf = load(pipefile_path)
    # The summary `pipe run --ci` writes by default is a report of one run, not a source.
    lines = ["/.pipe/", "/" + CI_SUMMARY_FILE]
    for step in pf.steps.values():
        for out in step.outputs.values():
            path = out.path.strip("/")
            if not path:
                continue
            line = "/" + _literal(path) + ("/" if out.type == "uri_folder" else "")
            if line not in lines:
                lines.append(line)
    return lines


def _block_span(text: str) -> Optional[tuple[int, int]]:
    """Where pipe's block is in a .gitignore: the last start marker line followed, with no
    marker between, by an end marker line (from the start of the first to the end of the
    second, its newline excluded); None if there is none. A lone marker (the other one
    deleted by hand) is not a block: what follows it is the user's, never replaced."""
    span, start, pos = None, None, 0
    for line in text.splitlines(keepends=True):
        bare = line.strip()
        if bare == BLOCK_START:
            start = pos
        elif bare == BLOCK_END and start is not None:
            span, start = (start, pos + len(line.rstrip("\r\n"))), None
        elif bare == BLOCK_END:
            start = None
        pos += len(line)
    return span


def _literal(path: str) -> str:
    """`path` as a .gitignore pattern that matches it alone: git reads `*`, `?`, `[` and `\\`
    as a glob (`build/m[v1].txt` would match build/m1.txt and not itself; `x*y` would hide
    other files from git), and drops trailing spaces; a backslash makes each literal."""
    escaped = re.sub(r"([\\*?\[])", r"\\\1", path)
    stripped = escaped.rstrip(" ")
    return stripped + "\\ " * (len(escaped) - len(stripped))


def refresh_gitignore(root: str) -> str:
    """Write (or replace) pipe's block in root/.gitignore; say what happened. The user's lines
    are kept byte for byte (any encoding, CRLF line ends), and the file is replaced whole
    (a temporary file renamed over it), so a crash cannot leave it cut short."""
    from .load import find_pipefile

    lines = ignored_paths(find_pipefile(root))
    path = os.path.realpath(os.path.join(root, ".gitignore"))  # a link: its file is refreshed
    from .filehash import open_regular

    try:
        with open_regular(path) as f:  # a FIFO or device there is refused, never waited on
            old: Optional[str] = f.read().decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        old = None
    except OSError as e:
        raise _gitignore_error(root, e) from None
    eol = "\r\n" if old and "\r\n" in old else "\n"
    block = eol.join([BLOCK_START, *lines, BLOCK_END]) + eol
    if old is None:
        new, said = block, "created"
    elif span := _block_span(old):
        start, end = span
        new = old[:start] + block[: -len(eol)] + old[end:]
        said = "unchanged" if new == old else "updated"
    else:
        new = old + ("" if not old or old.endswith("\n") else eol) + (eol if old else "") + block
        said = "updated"
    if new != old:
        try:
            replace_whole(path, new.encode("utf-8", "surrogateescape"))
        except OSError as e:
            raise _gitignore_error(root, e) from None
    return said


def _gitignore_error(root: str, e: OSError) -> PipefileError:
    shown = os.path.join(root, ".gitignore")
    return PipefileError(
        f"cannot refresh pipe's block in {shown} ({e.strerror or e})",
        hint="make it a regular file you can write (or remove it), then run `pipe init` again",
    )
