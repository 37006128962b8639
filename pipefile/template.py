"""The one expression syntax: `${{ scope.name }}`, and `$[[ ... ]]` optional blocks.

A template is parsed once, when the Pipefile is loaded, into literal text,
references and optional blocks; rendering is then a join. Values substituted
into a shell command are written for where they sit (`shellquote`: shell-quoted
outside quotes, escaped inside '...' or "..."), so a parameter can never inject
shell syntax; argv commands (lists) are passed without a shell and need no quoting.
"""

from __future__ import annotations

import functools
import re
from typing import Callable, Optional, Union

from . import lazyre, shellquote
from .lazyclass import dataclass

SCOPES = ("inputs", "outputs", "params", "assets", "steps", "artifacts", "parent")
_NAME = r"[A-Za-z_][A-Za-z0-9_\-]*"
_EXPR = lazyre.Pattern(r"\$\{\{(.*?)\}\}", re.S)
_REF_FORMS = {
    "inputs": lazyre.Pattern(rf"inputs\.({_NAME})$"),
    "outputs": lazyre.Pattern(rf"outputs\.({_NAME})$"),
    "params": lazyre.Pattern(rf"params\.({_NAME})$"),
    "assets": lazyre.Pattern(rf"assets\.({_NAME})$"),
    # STEP, one task of an expanded step (STEP[LABEL]) or a sweep's best trial (STEP.best)
    "steps": lazyre.Pattern(rf"steps\.({_NAME}(?:\[[^\]]*\]|\.best)?)\.outputs\.({_NAME})$"),
    # A version fits SQLite's integers (and int(), which refuses 4300 digits): 18 digits at most.
    "artifacts": lazyre.Pattern(rf"artifacts\.({_NAME})(?::([0-9]{{1,18}}|latest))?$"),
    # inside a pipeline component: its own interface (name: inputs or outputs, sub: the port)
    "parent": lazyre.Pattern(rf"parent\.(inputs|outputs)\.({_NAME})$"),
}
_FORM_HELP = {
    "inputs": "${{inputs.NAME}}",
    "outputs": "${{outputs.NAME}}",
    "params": "${{params.NAME}}",
    "assets": "${{assets.NAME}}",
    "steps": "${{steps.STEP.outputs.NAME}}",
    "artifacts": "${{artifacts.NAME}} or ${{artifacts.NAME:VERSION}}",
    "parent": "${{parent.inputs.NAME}} or ${{parent.outputs.NAME}}",
}


class TemplateError(ValueError):
    def __init__(self, message: str, offset: int, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.hint = hint


@dataclass(frozen=True)
class Ref:
    """A parsed `${{ ... }}`: scope plus one or two names."""

    scope: str
    name: str
    sub: str = ""  # output name for steps.S.outputs.O, version for artifacts
    offset: int = 0  # where `${{` starts in the template text
    text: str = ""

    def __str__(self) -> str:
        return "${{" + self.text + "}}"


@dataclass(frozen=True)
class OptionalBlock:
    parts: tuple  # of str | Ref


Part = Union[str, Ref, OptionalBlock]


def parse_ref(expr: str, offset: int = 0) -> Ref:
    text = expr.strip()
    head = text.split(".", 1)[0]
    if head not in _REF_FORMS:
        from .errors import did_you_mean

        raise TemplateError(f"unknown expression '${{{{{text}}}}}'", offset, did_you_mean(head, SCOPES, "scope"))
    m = _REF_FORMS[head].match(text)
    if not m:
        raise TemplateError(f"malformed expression '${{{{{text}}}}}'", offset, f"write it as {_FORM_HELP[head]}")
    groups = m.groups()
    return Ref(head, groups[0], (groups[1] or "") if len(groups) > 1 else "", offset, text)


def _fail(errors: Optional[list], e: TemplateError) -> None:
    """Raise `e`; or, where `errors` collects them (errors_of), note it and read on."""
    if errors is None:
        raise e
    errors.append(e)


def _parse_refs(text: str, base: int, errors: Optional[list] = None) -> list:
    parts: list = []
    pos = 0
    for m in _EXPR.finditer(text):
        if m.start() > pos:
            parts.append(text[pos : m.start()])
        try:
            parts.append(parse_ref(m.group(1), base + m.start()))
        except TemplateError as e:
            _fail(errors, e)
            parts.append(m.group(0))
        pos = m.end()
    rest = text[pos:]
    if "${{" in rest:
        _fail(errors, TemplateError("unclosed '${{'", base + pos + rest.index("${{"), "close it with '}}'"))
    if rest:
        parts.append(rest)
    return parts


def parse(text: str, errors: Optional[list] = None) -> tuple:
    """Parse a template into a tuple of str, Ref and OptionalBlock. Raises the first
    TemplateError; or, given `errors`, notes each there and reads on."""
    parts: list = []
    pos = 0
    while True:
        start = text.find("$[[", pos)
        if start < 0:
            parts.extend(_parse_refs(text[pos:], pos, errors))
            break
        parts.extend(_parse_refs(text[pos:start], pos, errors))
        end = text.find("]]", start + 3)
        if end < 0:
            _fail(errors, TemplateError("unclosed '$[['", start, "close the optional block with ']]'"))
            parts.extend(_parse_refs(text[start + 3 :], start + 3, errors))
            break
        inner = text[start + 3 : end]
        if "$[[" in inner:
            _fail(errors, TemplateError("optional blocks '$[[ ]]' cannot be nested", start + 3 + inner.index("$[[")))
        block = _parse_refs(inner, start + 3, errors)
        if not any(isinstance(p, Ref) for p in block) and not (errors and "${{" in inner):
            _fail(
                errors,
                TemplateError(
                    "an optional block '$[[ ]]' must contain an input", start, "put an ${{inputs.NAME}} inside it"
                ),
            )
        parts.append(OptionalBlock(tuple(block)))
        pos = end + 2
    return tuple(parts)


# Sized past the templates of the largest Pipefiles (a 10,000-step file has 10,000 distinct
# commands, each parsed at load and again while the graph is built): a cache smaller than
# that evicts every entry before its second use, and each parse is paid again.
_TEMPLATES = 1 << 17


@functools.lru_cache(maxsize=_TEMPLATES)
def parse_cached(text: str) -> tuple:
    """`parse`, memoised: templates are parsed at load and again when rendered."""
    return parse(text)


@functools.lru_cache(maxsize=_TEMPLATES)
def refs_of(text: str) -> tuple:
    """`refs(parse_cached(text))`, memoised by the text: the loader checks a command's
    references and the graph's build reads its params from them (a tuple: callers share it).
    Raises TemplateError as `parse` does."""
    return tuple(refs(parse_cached(text)))


def errors_of(text: str) -> list:
    """Every TemplateError of `text`, in order, each once: `parse` stops at the first, and a
    command with three bad expressions was fixed one load at a time."""
    try:
        parse_cached(text)
        return []
    except TemplateError:
        pass
    errors: list = []
    parse(text, errors)
    unique = {(e.offset, e.message): e for e in errors}
    return [unique[k] for k in sorted(unique)]


def refs(parts: tuple) -> list:
    """Every Ref in a parsed template, with whether it sits in an optional block."""
    out = []
    for p in parts:
        if isinstance(p, Ref):
            out.append((p, False))
        elif isinstance(p, OptionalBlock):
            out.extend((r, True) for r in p.parts if isinstance(r, Ref))
    return out


def format_value(value) -> str:
    """How a value is written into a command: YAML's spelling of booleans, repr of floats."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


Lookup = Callable[[Ref], Optional[str]]


@functools.lru_cache(maxsize=_TEMPLATES)
def quote_contexts(parts: tuple) -> tuple:
    """Where each reference of a shell command sits, in order (`shellquote.UNQUOTED`,
    `SINGLE` or `DOUBLE`), read with every optional block present."""
    text: list = []
    for p in parts:
        for q in p.parts if isinstance(p, OptionalBlock) else (p,):
            text.append(shellquote.MARK if isinstance(q, Ref) else q)
    return tuple(shellquote.contexts("".join(text)))


@functools.lru_cache(maxsize=_TEMPLATES)
def _contexts_of(text: str) -> tuple:
    return quote_contexts(parse_cached(text))


class PathText(str):
    """A path a lookup gives where values are written as they are (an Azure ML command,
    quote=False): still written so the shell reads one word back when it needs it (a space
    in the workspace's path), and left as it is otherwise, as Azure's own paths always are."""


def render_text(text: str, lookup: Lookup, quote: bool, quote_paths: bool = False) -> Optional[str]:
    """`render(parse_cached(text), lookup, quote)`, the quoting contexts found by the text
    (a str keeps its hash; the parsed parts' is computed again on every lookup).
    `quote_paths`: without `quote`, a `PathText` value is still written for its place."""
    contexts = _contexts_of(text) if quote or quote_paths else None
    return _render(parse_cached(text), lookup, contexts, only_paths=not quote)


def render(parts: tuple, lookup: Lookup, quote: bool) -> Optional[str]:
    """Render a parsed template; None when a lone optional block dropped everything.

    `lookup` returns the text for a reference, or None when it has no value. quote=True
    (a shell command): each value is written for where it sits (`shellquote.write`).
    """
    return _render(parts, lookup, quote_contexts(parts) if quote else None)


def _render(parts: tuple, lookup: Lookup, contexts: Optional[tuple], only_paths: bool = False) -> Optional[str]:
    places = iter(contexts) if contexts is not None else None

    def q(value: str) -> str:
        if places is None:
            return value
        place = next(places)  # (taken for every value: the places after it stay in step)
        if only_paths:
            return shellquote.write_path(value, place) if isinstance(value, PathText) else value
        return shellquote.write(value, place)

    out: list[str] = []
    dropped = False
    for p in parts:
        if isinstance(p, str):
            # A dropped block leaves the spaces around it: keep one, not two.
            if dropped and p.startswith(" ") and out and out[-1].endswith(" "):
                p = p[1:]
            out.append(p)
            dropped = False
        elif isinstance(p, Ref):
            value = lookup(p)
            out.append(q(value if value is not None else ""))
        else:
            values = [lookup(r) if isinstance(r, Ref) else r for r in p.parts]
            present = [v for v in values if v is not None]
            # every value is written, kept or not, so the places of the values after it stay in step
            written = [q(v if v is not None else "") if isinstance(r, Ref) else r for r, v in zip(p.parts, values)]
            if len(present) < len(values):  # a reference without a value drops the whole block
                dropped = True
                continue
            out.extend(written)
    text = "".join(out)
    if not text and parts and all(isinstance(p, OptionalBlock) for p in parts):
        return None  # only optional blocks, all dropped
    return text
