"""Validation and bad input (issue 2, "3. Validation" and "Bad input").

Every invalid Pipefile or bad flag must exit 2 with `FILE:LINE:COLUMN: what is wrong`
(when the problem is in the Pipefile) and a hint that says how to fix it; every
failing step must exit 1 and say what failed, how, and show the log tail.

What the loader and the graph say about a Pipefile is tested in process, table-driven
(`CASES`: text -> location, message, hint; about 100 times faster than a `pipe` process).
End to end through the `pipe` CLI: how errors are rendered, exit codes, that an invalid
Pipefile runs nothing, the spec cache, targets, and steps that fail while running.
Tests that pin down a known bug in pipe are marked `xfail(strict=True)` with the reason.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest
from workspace_repo import validation_errors

BUG = "BUG: "


# --- helpers -----------------------------------------------------------------------------
def at(text: str, needle: str, nth: int = 1, file: str = "Pipefile") -> str:
    """'Pipefile:LINE:COLUMN' of the nth occurrence of `needle` in the (dedented) Pipefile text."""
    text = textwrap.dedent(text)
    idx = -1
    for _ in range(nth):
        idx = text.index(needle, idx + 1)
    line = text.count("\n", 0, idx) + 1
    col = idx - (text.rfind("\n", 0, idx) + 1) + 1
    return f"{file}:{line}:{col}"


def line_of(text: str, needle: str, nth: int = 1) -> int:
    return int(at(text, needle, nth).split(":")[1])


_LOC = re.compile(r"^(Pipefile(?::\d+(?::\d+)?)?): (.*)$")


def parse_errors(err: str) -> list:
    """stderr -> [{'loc', 'msg', 'hint'}]: one per reported error, with its hint line."""
    out: list = []
    for line in err.splitlines():
        if line.startswith("  hint: ") and out:
            out[-1]["hint"] = line[len("  hint: ") :]
        elif line and not line[0].isspace() and not re.fullmatch(r"\d+ errors\.", line):
            line = line[len("error: ") :] if line.startswith("error: ") else line
            m = _LOC.match(line)
            out.append({"loc": m.group(1) if m else None, "msg": m.group(2) if m else line, "hint": None})
    return out


def find_error(r, loc, *fragments: str, hint=None, code: int = 2) -> dict:
    """The reported error at `loc` whose message holds every fragment; checks exit code and hint."""
    assert r.code == code, str(r)
    errs = parse_errors(r.err)
    for e in errs:
        if e["loc"] == loc and all(f in e["msg"] for f in fragments):
            if hint is not None:
                hints = [hint] if isinstance(hint, str) else list(hint)
                for h in hints:
                    assert e["hint"] and h in e["hint"], f"hint {h!r} missing for {e}\n{r}"
            return e
    raise AssertionError(f"no error at {loc} with {fragments}; got:\n" + "\n".join(map(str, errs)) + f"\n{r}")


def n_errors(r) -> int:
    return len(parse_errors(r.err))


# --- in process: a Pipefile's text -> the errors it gets (location, message, hint) --------
# The loader and graph checks called directly (workspace_repo.validation_errors), as `pipe
# validate` calls them; rendering and exit codes are tested end to end further down.
@dataclass(frozen=True)
class Err:
    """One error a case expects: where (a needle in the text, an explicit location, or only
    the line of a needle), every message fragment, and every hint fragment."""

    at: Optional[str] = None
    msg: tuple = ()
    hint: tuple = ()
    nth: int = 1
    loc: Optional[str] = "at"  # "at": located at the needle; else this location (None: no location)
    line_only: bool = False

    def where(self, text: str) -> Optional[str]:
        if self.loc != "at":
            return self.loc
        assert self.at is not None
        return at(text, self.at, self.nth)

    def matches(self, text: str, loc: Optional[str], message: str, hint: Optional[str]) -> bool:
        where = self.where(text)
        if self.line_only:
            placed = loc is not None and where is not None and loc.startswith(where.rsplit(":", 1)[0] + ":")
        else:
            placed = loc == where
        return placed and all(f in message for f in self.msg) and all(h in (hint or "") for h in self.hint)


def E(needle: str, *msg: str, hint=(), nth: int = 1) -> Err:
    """An error located at the nth occurrence of `needle`."""
    return Err(needle, msg, (hint,) if isinstance(hint, str) else tuple(hint), nth)


def L(loc: Optional[str], *msg: str, hint=()) -> Err:
    """An error at an explicit location ("Pipefile", or None for a flag)."""
    return Err(None, msg, (hint,) if isinstance(hint, str) else tuple(hint), loc=loc)


def LINE(needle: str, *msg: str, hint=()) -> Err:
    """An error on the line of `needle` (column not pinned)."""
    return Err(needle, msg, (hint,) if isinstance(hint, str) else tuple(hint), line_only=True)


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    errors: tuple
    files: tuple = ()  # (path, content) written into the workspace
    params: tuple = ()  # -p flags
    count: Optional[int] = None  # how many errors in all, when the case pins it


def C(id: str, text: str, *errors: Err, files: Optional[dict] = None, params=(), count: Optional[int] = None) -> Case:
    return Case(id, text, errors, tuple((files or {}).items()), tuple(params), count)


def check(tmp_path: Path, text: str, files=(), params=()) -> list:
    """[(location, message, hint)] of every error `pipe validate` would report for `text`."""
    root = tmp_path / "ws"
    root.mkdir(parents=True, exist_ok=True)
    (root / "Pipefile").write_text(textwrap.dedent(text))
    for rel, content in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(content)
    return [(str(e.loc) if e.loc else None, e.message, e.hint) for e in validation_errors(root, params)]


EARLY_TERMINATION = """\
    version: 1
    steps:
      t:
        sweep:
          trials: 3
          space: {lr: {uniform: [0, 1]}}
          objective: {metric: acc}
          early_termination: TERMINATION
        inputs: {lr: {type: number}}
        command: echo ${{inputs.lr}} > ${{outputs.m}}
        outputs: {m: build/m.json}
        metrics: build/m.json
"""


def early_termination_case(termination: str) -> str:
    """A random sweep with an objective whose `early_termination:` is `termination`."""
    return EARLY_TERMINATION.replace("TERMINATION", termination)


ONE_STEP = """\
    version: 1
    steps:
      a:
        command: echo hi > ${{outputs.o}}
        outputs: {o: build/o.txt}
"""

COMPONENT = """\
    version: 1
    components:
      train:
        inputs:
          data: {type: uri_file}
          lr: {type: number, default: 0.1}
          seed: {type: integer, optional: true}
        outputs:
          model: {type: uri_folder}
        command: cp ${{inputs.data}} ${{outputs.model}}/m $[[--seed ${{inputs.seed}}]] --lr ${{inputs.lr}}
    steps:
"""

PARAMS = """\
    version: 1
    params:
      lr: 0.01
      epochs: {type: integer, default: 5}
      tag: {type: string}
      flag: false
    steps:
      a:
        command: echo ${{params.lr}} ${{params.epochs}} ${{params.tag}} > ${{outputs.o}}
        outputs: {o: build/o.txt}
"""

TYPED = """\
    version: 1
    params:
      name: {type: string, default: x}
    assets:
      raw: {type: uri_file, path: raw.csv}
    components:
      c:
        inputs:
          n: {type: integer}
          x: {type: number}
        outputs: {o: uri_file}
        command: echo ${{inputs.n}} ${{inputs.x}} > ${{outputs.o}}
    steps:
"""

SAME_PATH = """\
    version: 1
    steps:
      a:
        command: echo a > ${{outputs.o}}
        outputs: {o: build/o.txt}
      b:
        command: echo b > ${{outputs.o}}
        outputs: {o: build/o.txt}
"""

DUPLICATE = """\
    version: 1
    steps:
      a:
        command: echo hi > ${{outputs.o}}
        outputs: {o: build/o.txt}
      a:
        command: echo ho > ${{outputs.o}}
        outputs: {o: build/p.txt}
"""

RAW = {"raw.csv": "1\n"}

CASES = [
    # --- malformed YAML
    C(
        "yaml-bad-indentation",
        """\
        version: 1
        steps:
          a:
            command: echo hi > ${{outputs.o}}
           outputs: {o: build/o.txt}
        """,
        LINE("outputs:", "invalid YAML"),
    ),
    C(
        "yaml-unquoted-expression-in-flow-mapping",
        """\
        version: 1
        assets:
          raw: {type: uri_file, path: raw.csv}
        steps:
          a:
            command: cp ${{inputs.raw}} ${{outputs.o}}
            inputs: {raw: ${{assets.raw}}}
            outputs: {o: build/o.txt}
        """,
        LINE("inputs: {raw", "invalid YAML", hint=("quote", '"${{assets.raw}}"')),
    ),
    C(
        "yaml-unterminated-quote-points-at-the-opening-quote",
        """\
        version: 1
        steps:
          a:
            command: "echo hi
            outputs: {o: build/o.txt}
        """,
        E('"echo', "invalid YAML", "quoted scalar"),
    ),
    C("empty-pipefile", "# nothing here\n", L("Pipefile", "empty", hint="pipe init")),
    C("top-level-not-a-mapping", "- a\n- b\n", L("Pipefile:1:1", "must be a mapping")),
    # --- unknown keys
    C(
        "unknown-top-level-key",
        """\
        version: 1
        parms:
          lr: 0.1
        steps:
          a:
            command: echo hi > ${{outputs.o}}
            outputs: {o: build/o.txt}
        """,
        E("parms", "unknown key 'parms'", hint="did you mean 'params'?"),
        count=1,
    ),
    C(
        "misspelled-steps-key",
        """\
        version: 1
        stepz:
          a:
            command: echo hi > ${{outputs.o}}
            outputs: {o: build/o.txt}
        """,
        E("stepz", "unknown key 'stepz'", hint="did you mean 'steps'?"),
    ),
    C(
        "unknown-step-key",
        ONE_STEP + "        cod: [src/a.py]\n",
        E("cod:", "unknown key 'cod' in step 'a'", hint="did you mean 'code'?"),
        count=1,
    ),
    C(
        "misspelled-command-key",
        """\
        version: 1
        steps:
          a:
            comand: echo hi > build/o.txt
            outputs: {o: build/o.txt}
        """,
        E("comand", "unknown key 'comand'", hint="did you mean 'command'?"),
    ),
    C(
        "unknown-keys-in-param-asset-component-resources",
        """\
        version: 1
        params:
          lr: {type: number, defualt: 0.1}
        assets:
          raw: {type: uri_file, pth: raw.csv}
        components:
          c:
            inputs: {x: {type: integer, optinal: true}}
            outputs: {o: uri_file}
            command: echo $[[${{inputs.x}}]] > ${{outputs.o}}
        steps:
          a:
            component: c
            outputs: {o: build/o.txt}
            resources: {cpu: 2}
        """,
        E("defualt", "unknown key 'defualt'", hint="did you mean 'default'?"),
        E("pth", "unknown key 'pth'", hint="did you mean 'path'?"),
        E("optinal", "unknown key 'optinal'", hint="did you mean 'optional'?"),
        E("cpu:", "unknown key 'cpu'", hint="did you mean 'cpus'?"),
    ),
    C(
        "duplicate-key",
        DUPLICATE,
        E("a:", "'a' appears twice", f"line {line_of(DUPLICATE, 'a:')}", hint="rename", nth=2),
    ),
    C(
        "invalid-step-name",
        """\
        version: 1
        steps:
          "my step":
            command: echo hi > ${{outputs.o}}
            outputs: {o: build/o.txt}
        """,
        E('"my step"', "'my step' is not a valid step name", hint="letters"),
    ),
    C(
        "unsupported-version",
        ONE_STEP.replace("version: 1", "version: 7"),
        E("7", "unsupported Pipefile version 7", hint="version: 1"),
    ),
    # --- unknown references
    C(
        "unknown-component",
        """\
        version: 1
        components:
          train:
            outputs: {model: uri_folder}
            command: echo hi > ${{outputs.model}}/m
        steps:
          fit:
            component: trian
            outputs: {model: build/model}
        """,
        E("trian", "step 'fit' uses component 'trian', which is not defined", hint="did you mean 'train'?"),
    ),
    C(
        "unknown-step-reference",
        """\
        version: 1
        steps:
          prepare:
            command: echo hi > ${{outputs.clean}}
            outputs: {clean: build/clean.csv}
          fit:
            command: cp ${{inputs.data}} ${{outputs.model}}
            inputs:
              data: ${{steps.prepar.outputs.clean}}
            outputs: {model: build/model.txt}
        """,
        E(
            "${{steps.prepar",
            "input 'data' of step 'fit' uses step 'prepar', which is not defined",
            hint="did you mean 'prepare'?",
        ),
    ),
    C(
        "unknown-step-output-reference",
        """\
        version: 1
        steps:
          prepare:
            command: echo hi > ${{outputs.clean}}
            outputs: {clean: build/clean.csv}
          fit:
            command: cp ${{inputs.data}} ${{outputs.model}}
            inputs:
              data: ${{steps.prepare.outputs.claen}}
            outputs: {model: build/model.txt}
        """,
        E("${{steps.prepare", "output 'claen' of step 'prepare'", "no such output", hint="did you mean 'clean'?"),
    ),
    C(
        "unknown-param-in-binding",
        """\
        version: 1
        params:
          lr: 0.01
        steps:
          fit:
            command: echo ${{inputs.rate}} > ${{outputs.o}}
            inputs:
              rate: ${{params.lrr}}
            outputs: {o: build/o.txt}
        """,
        E("${{params.lrr", "uses param 'lrr', which is not defined", hint="did you mean 'lr'?"),
    ),
    C(
        "unknown-param-in-command",
        """\
        version: 1
        params:
          epochs: 5
        steps:
          fit:
            command: echo ${{params.epoch}} > ${{outputs.o}}
            outputs: {o: build/o.txt}
        """,
        E("${{params.epoch}}", "uses ${{params.epoch}}, but there is no param 'epoch'", hint="did you mean 'epochs'?"),
    ),
    C(
        "unknown-asset-reported-once",
        """\
        version: 1
        assets:
          raw: {type: uri_file, path: raw.csv}
        steps:
          prep:
            command: cp ${{inputs.data}} ${{outputs.o}}
            inputs:
              data: ${{assets.rwa}}
            outputs: {o: build/o.txt}
        """,
        E("${{assets.rwa", "uses asset 'rwa', which is not defined", hint="did you mean 'raw'?"),
        files=RAW,
        count=1,
    ),
    C(
        "reference-to-a-step-with-an-error-is-not-undefined",
        """\
        version: 1
        components:
          c:
            outputs: {o: uri_file}
            command: echo > ${{outputs.o}}
        steps:
          a:
            component: cc
            outputs: {o: build/a.txt}
          d:
            command: cat ${{inputs.x}} > ${{outputs.o}}
            inputs:
              x: ${{steps.a.outputs.o}}
            outputs: {o: build/d.txt}
        """,
        E("cc", "component 'cc'", hint="did you mean 'c'?"),
        count=1,
    ),
    C(
        "reference-to-an-output-with-a-bad-path-is-not-missing",
        """\
        version: 1
        steps:
          b:
            command: echo hi > build/b.txt
            outputs: {o: ../b.txt}
          d:
            command: cat ${{inputs.y}} > ${{outputs.o}}
            inputs:
              y: ${{steps.b.outputs.o}}
            outputs: {o: build/d.txt}
        """,
        E("../b.txt", "outside the workspace"),
        count=1,
    ),
    C(
        "unknown-scope-in-expression",
        ONE_STEP.replace("echo hi", "echo ${{param.x}}"),
        E("${{param.x", "unknown expression", hint="did you mean 'params'?"),
    ),
    C(
        "command-cannot-use-an-asset-directly",
        """\
        version: 1
        assets:
          raw: {type: uri_file, path: raw.csv}
        steps:
          a:
            command: cat ${{assets.raw}} > ${{outputs.o}}
            outputs: {o: build/o.txt}
        """,
        E("${{assets.raw", "cannot use ${{assets.raw}} directly", hint="inputs:"),
        files=RAW,
    ),
    # --- component inputs and outputs
    C(
        "required-component-input-not-connected",
        COMPONENT
        + """\
          fit:
            component: train
            inputs: {lr: 0.5}
            outputs: {model: build/model}
        """,
        E("fit:", "step 'fit' does not connect required input 'data' of component 'train'", hint="inputs: {data: ...}"),
        count=1,
    ),
    C(
        "unknown-component-input-and-output",
        COMPONENT
        + """\
          fit:
            component: train
            inputs: {data: raw.csv, lrr: 0.2}
            outputs: {model: build/model, modle: build/x}
        """,
        E("lrr", "component 'train' has no input 'lrr'", hint="did you mean 'lr'?"),
        E("modle", "component 'train' has no output 'modle'", hint="did you mean 'model'?"),
        files=RAW,
    ),
    C(
        "component-output-without-a-path",
        COMPONENT
        + """\
          fit:
            component: train
            inputs: {data: raw.csv}
        """,
        E("fit:", "does not say where to write output 'model'", hint="outputs: {model:"),
        files=RAW,
    ),
    C(
        "unconnected-optional-input-with-a-default-is-fine",
        COMPONENT
        + """\
          fit:
            component: train
            inputs: {data: raw.csv}
            outputs: {model: build/model}
        """,
        files=RAW,
        count=0,
    ),
    # --- params, and -p flags
    C(
        "required-param-without-a-value",
        PARAMS,
        E("tag:", "param 'tag' is required and has no value", hint="-p tag="),
        count=1,
    ),
    C("required-param-given-with-p", PARAMS, params=["tag=v1"], count=0),
    C(
        "p-unknown-param",
        PARAMS,
        L(None, "-p lrr=0.1", "no param 'lrr'", hint="did you mean 'lr'?"),
        params=["tag=x", "lrr=0.1"],
        count=1,
    ),
    C("p-unknown-param-without-params", ONE_STEP, L(None, "no param 'lr'", hint="params:"), params=["lr=1"]),
    *[
        # located where the param's type is declared
        C(f"p-wrong-type-{flag}", PARAMS, E(needle, *fragments, hint=hint), params=["tag=x", flag], count=1)
        for flag, needle, fragments, hint in [
            ("epochs=abc", "epochs:", ["-p epochs=abc", "param 'epochs'", "is an integer", "'abc'"], "whole number"),
            (
                "epochs=2.5",
                "epochs:",
                ["-p epochs=2.5", "param 'epochs'", "integer", "'2.5'"],
                ["whole number", "declare it a number: epochs: {type: number, default: 5.0}"],
            ),
            ("epochs=1e-3", "epochs:", ["'1e-3'"], "type: number"),
            ("epochs=1.5e+3", "epochs:", ["'1.5e+3'"], "type: number"),
            ("lr=fast", "lr:", ["-p lr=fast", "param 'lr'", "is a number", "'fast'"], "give a number"),
            ("lr=", "lr:", ["-p lr=", "param 'lr'", "number", "''"], "give a number"),
            ("lr=1:30", "lr:", ["'1:30'"], "give a number"),
            ("lr=..inf", "lr:", ["'..inf'"], "give a number"),  # (inf and .nan are numbers, as in the file)
            ("flag=maybe", "flag:", ["-p flag=maybe", "param 'flag'", "boolean", "'maybe'"], "true or false"),
        ]
    ],
    C("p-without-equals", PARAMS, L(None, "-p tag", "expected name=value", hint="-p lr=0.01"), params=["tag"]),
    C(
        "several-bad-p-flags-together",
        PARAMS,
        E("lr:", "-p lr=fast", "'fast'"),
        L(None, "-p epoch=3", hint="did you mean 'epochs'?"),
        E("tag:", "param 'tag' is required"),
        params=["lr=fast", "epoch=3"],
        count=3,
    ),
    # --- type mismatches
    C(
        "uri-file-asset-feeding-a-number",
        TYPED
        + """\
          a:
            component: c
            inputs:
              n: 1
              x: ${{assets.raw}}
            outputs: {o: build/a.txt}
        """,
        E("${{assets.raw", "input 'x' of step 'a' expects a number", "asset 'raw' is a uri_file", hint="bind"),
        files=RAW,
    ),
    C(
        "step-output-file-feeding-a-number",
        TYPED
        + """\
          a:
            component: c
            inputs: {n: 1, x: 2.5}
            outputs: {o: build/a.txt}
          b:
            component: c
            inputs:
              n: 3
              x: ${{steps.a.outputs.o}}
            outputs: {o: build/b.txt}
        """,
        E("${{steps.a", "input 'x' of step 'b' expects a number", "output 'o' of step 'a'", "uri_file"),
    ),
    C(
        "string-param-feeding-an-integer-once",
        TYPED
        + """\
          a:
            component: c
            inputs:
              n: ${{params.name}}
              x: 1.5
            outputs: {o: build/a.txt}
        """,
        E("${{params.name", "input 'n' of step 'a' expects an integer", "param 'name' is a string", hint="bind"),
        count=1,
    ),
    C(
        "literal-string-feeding-an-integer",
        TYPED
        + """\
          a:
            component: c
            inputs:
              n: hello
              x: 1.5
            outputs: {o: build/a.txt}
        """,
        E("hello", "input 'n' of step 'a' expects an integer", "'hello'"),
    ),
    C(
        "path-feeding-a-number",
        TYPED
        + """\
          a:
            component: c
            inputs:
              n: 1
              x: {path: raw.csv}
            outputs: {o: build/a.txt}
        """,
        E("{path: raw.csv}", "input 'x' of step 'a' expects a number, not a path"),
        files=RAW,
    ),
    C(
        "uri-file-input-pointing-at-a-folder",
        """\
        version: 1
        steps:
          a:
            command: cat ${{inputs.x}} > ${{outputs.o}}
            inputs:
              x: {type: uri_file, path: data}
            outputs: {o: build/o.txt}
        """,
        E("{type: uri_file", "expects a file at 'data', but it is a folder", hint="uri_folder"),
        files={"data/f.txt": "1\n"},
    ),
    # --- outputs: one producer per path, and where outputs may go
    C(
        "two-steps-produce-the-same-path",
        SAME_PATH,
        E(
            "build/o.txt",
            "'build/o.txt' is produced by two steps",
            "'a'",
            "'b'",
            at(SAME_PATH, "build/o.txt", 1),
            hint="different output path",
            nth=2,
        ),
    ),
    C(
        "two-steps-produce-the-same-path-spelled-differently",
        """\
        version: 1
        steps:
          a:
            command: echo a > ${{outputs.o}}
            outputs: {o: build/o.txt}
          b:
            command: echo b > ${{outputs.o}}
            outputs: {o: ./build//o.txt}
        """,
        E("./build//o.txt", "'build/o.txt' is produced by two steps"),
    ),
    C(
        "output-inside-another-steps-output-folder",
        """\
        version: 1
        steps:
          c:
            command: echo c > ${{outputs.d}}/c.txt
            outputs: {d: {type: uri_folder, path: build/dir}}
          e:
            command: echo e > ${{outputs.o}}
            outputs: {o: build/dir/e.txt}
        """,
        E(
            "build/dir/e.txt",
            "output 'build/dir/e.txt' of step 'e' lies inside output 'build/dir' of step 'c'",
            hint="write somewhere else",
        ),
    ),
    *[
        C(
            f"bad-output-path-{path}",
            ONE_STEP.replace("build/o.txt", path),
            E(path, "output 'o' of step 'a'", f"'{path}'", fragment, hint="build/"),
            count=1,
        )
        for path, fragment in [
            ("../x.txt", "outside the workspace"),
            ("build/../../x.txt", "outside the workspace"),
            (".pipe/x.txt", "inside .pipe/"),
            ("./.pipe/store/x", "inside .pipe/"),
            ("/tmp/abs.txt", "absolute path"),
        ]
    ],
    *[
        C(
            f"bad-input-path-{path}",
            f"""\
        version: 1
        steps:
          a:
            command: cat ${{{{inputs.x}}}} > ${{{{outputs.o}}}}
            inputs: {{x: {path}}}
            outputs: {{o: build/o.txt}}
        """,
            E(path, "input 'x' of step 'a'", f"'{path}'", fragment, hint="build/"),
        )
        for path, fragment in [
            ("../secret.txt", "outside the workspace"),
            ("/etc/passwd", "absolute path"),
            (".pipe/state", "inside .pipe/"),
        ]
    ],
    C(
        "asset-path-outside-the-workspace",
        """\
        version: 1
        assets:
          raw: ../raw.csv
        steps:
          a:
            command: echo hi > ${{outputs.o}}
            outputs: {o: build/o.txt}
        """,
        E("../raw.csv", "'../raw.csv' is outside the workspace"),
    ),
    C(
        "code-path-outside-the-workspace",
        ONE_STEP + "        code: [../raw.csv]\n",
        E("../raw.csv", "'../raw.csv' is outside the workspace"),
    ),
    C("output-cannot-be-the-pipefile", ONE_STEP.replace("build/o.txt", "Pipefile"), E("Pipefile}", "Pipefile")),
    C(
        "asset-overlapping-a-step-output",
        """\
        version: 1
        assets:
          raw: data/raw.csv
        steps:
          a:
            command: mkdir -p ${{outputs.o}} && echo > ${{outputs.o}}/raw.csv
            outputs: {o: {type: uri_folder, path: data}}
        """,
        E("raw:", "asset 'raw' ('data/raw.csv') overlaps output 'o' of step 'a'", hint="${{steps.a.outputs.o}}"),
    ),
    C(
        "output-path-is-the-workspace-root",
        ONE_STEP.replace("build/o.txt", "."),
        E(".}", "output 'o' of step 'a'", "workspace root"),
    ),
    C(
        "expression-as-an-output-path",
        """\
        version: 1
        assets:
          raw: {type: uri_file, path: raw.csv}
        steps:
          a:
            command: echo hi > ${{outputs.o}}
            outputs: {o: "${{assets.raw}}"}
        """,
        E(
            '"${{assets.raw}}"',
            "output 'o' of step 'a' must be a workspace path, not an expression",
            hint="build/out.csv",
        ),
        files=RAW,
    ),
    # --- the graph: self-reads (cycles: see the tests below the table)
    C(
        "step-reading-its-own-output",
        """\
        version: 1
        steps:
          s:
            command: cat ${{inputs.x}} > ${{outputs.o}}
            inputs: {x: build/s.txt}
            outputs: {o: build/s.txt}
        """,
        E("build/s.txt", "step 's' reads its own output 'build/s.txt'", hint="cannot depend"),
    ),
    C(
        "step-reading-inside-its-own-output-folder",
        """\
        version: 1
        steps:
          s:
            command: ls ${{inputs.x}} > ${{outputs.d}}/list
            inputs: {x: build/d/sub}
            outputs: {d: {type: uri_folder, path: build/d}}
        """,
        E("build/d/sub", "step 's' reads its own output 'build/d'"),
    ),
    # --- commands
    C(
        "command-uses-unknown-input",
        """\
        version: 1
        steps:
          a:
            command: echo ${{inputs.nope}} > ${{outputs.o}}
            inputs: {nop: 1}
            outputs: {o: build/o.txt}
        """,
        E("${{inputs.nope", "uses ${{inputs.nope}}, but there is no input 'nope'", hint="did you mean 'nop'?"),
    ),
    C(
        "command-uses-unknown-output",
        """\
        version: 1
        steps:
          a:
            command: echo hi > ${{outputs.model}}
            outputs: {modle: build/o.txt}
        """,
        E("${{outputs.model", "there is no output 'model'", hint="did you mean 'modle'?"),
    ),
    C(
        "argv-command-uses-unknown-input",
        """\
        version: 1
        steps:
          a:
            command: [cp, "${{inputs.dta}}", "${{outputs.o}}"]
            inputs: {data: raw.csv}
            outputs: {o: build/o.txt}
        """,
        E('"${{inputs.dta', "there is no input 'dta'", hint="did you mean 'data'?"),
        files=RAW,
    ),
    C(
        "unclosed-expression-in-command",
        ONE_STEP.replace("${{outputs.o}}", "${{outputs.o}"),
        E("${{outputs.o}", "unclosed '${{'", hint="}}"),
    ),
    C(
        "optional-component-input-outside-an-optional-block",
        """\
        version: 1
        components:
          c:
            inputs:
              seed: {type: integer, optional: true}
            outputs: {o: uri_file}
            command: echo --seed ${{inputs.seed}} > ${{outputs.o}}
        steps:
          a:
            component: c
            outputs: {o: build/a.txt}
        """,
        E(
            "${{inputs.seed",
            "optional input 'seed' of component 'c' is used outside $[[ ... ]]",
            hint="$[[--seed ${{inputs.seed}}]]",
        ),
    ),
    C(
        "unset-step-input-outside-an-optional-block",
        """\
        version: 1
        steps:
          b:
            command: echo ${{inputs.s}} > ${{outputs.o}}
            inputs: {s: }
            outputs: {o: build/b.txt}
        """,
        LINE("command:", "input 's' of step 'b' has no value but is used outside $[[ ... ]]", hint="$[["),
    ),
    # --- missing input files
    C(
        "missing-input-hints-a-close-produced-path",
        """\
        version: 1
        steps:
          prep:
            command: echo hi > ${{outputs.clean}}
            outputs: {clean: build/clean.csv}
          fit:
            command: cat ${{inputs.x}} > ${{outputs.o}}
            inputs: {x: build/clean.cvs}
            outputs: {o: build/fit.txt}
        """,
        E(
            "build/clean.cvs",
            "step 'fit' reads 'build/clean.cvs'",
            "does not exist",
            hint=["did you mean 'build/clean.csv'", "step 'prep'"],
        ),
    ),
    C(
        "missing-input-hints-a-close-asset-path",
        """\
        version: 1
        assets:
          raw: data/raw.csv
        steps:
          fit:
            command: cat ${{inputs.x}} > ${{outputs.o}}
            inputs: {x: data/raw.cvs}
            outputs: {o: build/fit.txt}
        """,
        E("data/raw.cvs", "reads 'data/raw.cvs'", hint="did you mean 'data/raw.csv'?"),
        files={"data/raw.csv": "1\n"},
    ),
    C(
        "missing-input-without-a-close-match",
        """\
        version: 1
        steps:
          fit:
            command: cat ${{inputs.x}} > ${{outputs.o}}
            inputs: {x: data/zzz.bin}
            outputs: {o: build/fit.txt}
        """,
        E("data/zzz.bin", "reads 'data/zzz.bin'", "does not exist", hint="create it"),
    ),
    C(
        "missing-asset-file",
        """\
        version: 1
        assets:
          raw: {type: uri_file, path: data/raw.csv}
        steps:
          fit:
            command: cat ${{inputs.x}} > ${{outputs.o}}
            inputs:
              x: ${{assets.raw}}
            outputs: {o: build/fit.txt}
        """,
        E("${{assets.raw", "'data/raw.csv'", "does not exist"),
    ),
    C(
        "missing-code-file",
        """\
        version: 1
        steps:
          fit:
            command: echo hi > ${{outputs.o}}
            outputs: {o: build/fit.txt}
            code: [src/trian.py]
        """,
        E("src/trian.py", "'src/trian.py'", "does not exist"),
        files={"src/train.py": "print(1)\n"},
    ),
    # --- several errors in one go
    C(
        "graph-errors-in-one-go",
        """\
        version: 1
        steps:
          a:
            command: echo a > ${{outputs.o}}
            outputs: {o: build/o.txt}
          b:
            command: echo b > ${{outputs.o}}
            outputs: {o: build/o.txt}
          s:
            command: cat ${{inputs.x}} > ${{outputs.o}}
            inputs: {x: build/s.txt}
            outputs: {o: build/s.txt}
          m:
            command: cat ${{inputs.x}} > ${{outputs.o}}
            inputs: {x: data/missing.txt}
            outputs: {o: build/m.txt}
        """,
        E("build/o.txt", "produced by two steps", nth=2),
        E("build/s.txt", "reads its own output"),
        E("data/missing.txt", "does not exist"),
        count=3,
    ),
    C(
        "loader-and-graph-errors-together",
        """\
        version: 1
        steps:
          a:
            command: cat ${{inputs.x}} > ${{outputs.o}}
            inputs: {x: data/missing.txt}
            outputs: {o: build/a.txt}
            bogus: 1
        """,
        E("bogus", "unknown key 'bogus'"),
        E("data/missing.txt", "does not exist"),
    ),
    # --- params, assets and components: shapes and defaults
    C(
        "param-without-a-value",
        ONE_STEP.replace("steps:", "params:\n      lr:\n    steps:"),
        LINE("lr:", "param 'lr' has no value", hint="give a default"),
        count=1,
    ),
    C(
        "param-needs-a-type-or-a-default",
        ONE_STEP.replace("steps:", "params:\n      lr: {description: rate}\n    steps:"),
        E("{description", "param 'lr' needs a type or a default", hint="{type: string}"),
    ),
    C(
        "param-as-a-list-of-lists",
        ONE_STEP.replace("steps:", "params:\n      lr: [[1], 2]\n    steps:"),
        E("[[1], 2]", "param 'lr' is a list whose items are not all numbers, strings or booleans"),
    ),
    C(
        "list-param-in-a-command",
        """\
        version: 1
        params: {cities: [paris, rome]}
        steps:
          each:
            command: echo ${{params.cities}} > ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E("echo", "the command of step 'each' uses list param 'cities', which only a foreach maps over"),
    ),
    C(
        "foreach-over-a-param-that-is-not-a-list",
        """\
        version: 1
        params: {n: 3}
        steps:
          each:
            foreach: ${{inputs.x}}
            inputs: {x: "${{params.n}}"}
            command: echo ${{inputs.x}} > ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E("foreach:", "foreach of step 'each' maps over param 'n', which is an integer, not a list", hint="[a, b, c]"),
    ),
    C(
        "param-default-of-the-wrong-type",
        ONE_STEP.replace("steps:", "params:\n      n: {type: integer, default: x}\n    steps:"),
        E("x}", "default of param 'n' is 'x', which is not an integer"),
    ),
    # numbers as YAML 1.2 reads them: 1e-3 is a number, so it does not fit an integer
    C(
        "param-integer-default-in-e-notation",
        ONE_STEP.replace("steps:", "params:\n      n: {type: integer, default: 1e-3}\n    steps:"),
        E("1e-3}", "default of param 'n' is 0.001, which is not an integer", hint="or change the type"),
    ),
    # a string param takes a default written as a number (with a warning), not a boolean
    C(
        "param-string-default-a-boolean",
        ONE_STEP.replace("steps:", "params:\n      s: {type: string, default: yes}\n    steps:"),
        E("yes}", "default of param 's' is True, which is not a string", hint='default: "yes"'),
    ),
    # enum: of a param (issue 16): a list of values of its type, holding the default
    C(
        "param-enum-not-a-list",
        ONE_STEP.replace("steps:", "params:\n      m: {type: string, enum: ridge}\n    steps:"),
        E("ridge}", "enum of param 'm' must be a non-empty list of values", hint="enum: [ridge, lasso]"),
    ),
    C(
        "param-enum-value-of-the-wrong-type",
        ONE_STEP.replace("steps:", "params:\n      k: {type: integer, default: 3, enum: [1, 3, x]}\n    steps:"),
        E("x]", "enum of param 'k' holds 'x', which is not an integer", hint="values of type integer"),
    ),
    C(
        "param-enum-default-outside",
        ONE_STEP.replace(
            "steps:", "params:\n      m: {type: string, default: ridge2, enum: [ridge, lasso]}\n    steps:"
        ),
        E("ridge2", "default of param 'm' is 'ridge2', which is not one of its enum values", hint="ridge, lasso"),
        count=1,
    ),
    C(
        "param-enum-on-a-list-param",
        ONE_STEP.replace("steps:", "params:\n      xs: {type: list, default: [a], enum: [a, b]}\n    steps:"),
        E("[a, b]", "a list param takes no enum"),
    ),
    C(
        "param-enum-repeated-value",
        ONE_STEP.replace("steps:", "params:\n      m: {type: string, enum: [a, b, a]}\n    steps:"),
        E("a]", "holds 'a' twice"),
    ),
    C(
        "param-enum-p-outside",
        ONE_STEP.replace(
            "steps:", "params:\n      model: {type: string, default: ridge, enum: [ridge, lasso]}\n    steps:"
        ),
        E(
            "model:",
            "-p model=rdige",
            "is 'rdige', which is not one of its enum values",
            hint=("did you mean 'ridge'?", "ridge, lasso"),
        ),
        params=["model=rdige"],
    ),
    C(
        "param-enum-p-number-outside",
        ONE_STEP.replace("steps:", "params:\n      v: {type: number, default: 0.5, enum: [0.5, 1]}\n    steps:"),
        E("v:", "-p v=2", "is 2.0, which is not one of its enum values", hint="0.5, 1"),
        params=["v=2"],
    ),
    C(
        "asset-without-a-path",
        ONE_STEP.replace("steps:", "assets:\n      raw: {type: uri_file}\n    steps:"),
        E("{type: uri_file}", "asset 'raw' has no path", hint="path: data/FILE"),
    ),
    C(
        "asset-input-flag-not-a-boolean",
        ONE_STEP.replace("steps:", "assets:\n      raw: {path: r.csv, input: 3}\n    steps:"),
        E("3}", "'input' of asset 'raw' must be true or false, not '3'", hint="write true or false"),
    ),
    C(
        "component-checks",
        """\
        version: 1
        components:
          nocmd:
            outputs: {o: uri_file}
          c:
            inputs:
              notype: {default: 1}
              bad: {type: integer, default: x}
              opt: {type: integer, optional: maybe}
              path: {type: uri_file, default: ../up.txt}
              same: integer
            outputs: {same: uri_file}
            command: echo ${{inputs.bad}}
        steps:
          a:
            command: echo hi > ${{outputs.o}}
            outputs: {o: build/o.txt}
        """,
        E("outputs: {o", "component 'nocmd' has no command", hint="add command:"),
        E("{default: 1}", "input 'notype' of component 'c' has no type", hint="add type: one of"),
        E("x}", "default of input 'bad' of component 'c' is 'x', which is not an integer"),
        E("maybe", "optional must be true or false"),
        E("../up.txt", "default of input 'path'", "outside the workspace"),
    ),
    # --- steps: shapes of outputs and bindings
    C(
        "step-with-neither-command-nor-component",
        """\
        version: 1
        steps:
          a:
            outputs: {o: build/o.txt}
        """,
        E("outputs:", "step 'a' has neither a command nor a component", hint="component: NAME"),
        count=1,
    ),
    C(
        "step-with-a-component-and-a-command",
        """\
        version: 1
        components:
          c: {outputs: {o: uri_file}, command: "echo > ${{outputs.o}}"}
        steps:
          a:
            component: c
            command: echo
            outputs: {o: build/o.txt}
        """,
        E("command: echo", "step 'a' has both a component and a command", hint="remove the command"),
    ),
    C(
        "step-output-shapes",
        """\
        version: 1
        components:
          c: {outputs: {o: uri_folder}, command: "echo > ${{outputs.o}}/f"}
        steps:
          a:
            command: echo > ${{outputs.p}}
            outputs:
              p: {type: uri_file}
              f: {type: uri_file, path: build/f/}
              n: {path: build/n, name: "bad name", output: 2}
          b:
            component: c
            outputs: {o: {type: uri_file, path: build/b}}
        """,
        E("{type: uri_file}", "output 'p' of step 'a' has no path", hint="add path: build/p"),
        E("build/f/", "output 'f' of step 'a' is a uri_file, but its path ends with '/'", hint="uri_folder"),
        E('"bad name"', "'bad name' is not a valid artifact name for output 'n' of step 'a'"),
        E("2}", "'output' of output 'n' of step 'a' must be true or false"),
        E("uri_file, path: build/b", "output 'o' of step 'b' is declared uri_folder by its component, not uri_file"),
    ),
    C(
        "step-input-shapes",
        """\
        version: 1
        components:
          c:
            inputs: {n: integer}
            outputs: {o: uri_file}
            command: echo ${{inputs.n}} > ${{outputs.o}}
        steps:
          a:
            command: echo > ${{outputs.o}}
            inputs:
              both: {path: x, value: 1}
              list: [1, 2]
              mixed: "x ${{params.p}}"
              self: ${{inputs.other}}
              badvalue: {value: [1]}
              same: 1
            outputs: {o: build/a.txt, same: build/same.txt}
          b:
            component: c
            inputs: {n: {type: number, value: 1}}
            outputs: {o: build/b.txt}
          d:
            component: c
            inputs: {n: {value: x}}
            outputs: {o: build/d.txt}
        """,
        E("{path: x", "input 'both' of step 'a' needs exactly one of path: or value:"),
        E("[1, 2]", "input 'list' of step 'a' must be a value, a path or ${{...}}, not a list"),
        E('"x ${{', "input 'mixed' of step 'a' mixes text and ${{...}}", hint="one ${{...}} expression"),
        E("${{inputs.other", "input 'self' of step 'a' cannot refer to ${{inputs.other}}", hint="${{assets.X}}"),
        E("[1]}", "input 'badvalue' of step 'a': a value must be a number, a string or a boolean"),
        E(
            "number, value",
            "input 'n' of step 'b' is declared integer by its component, not number",
            hint="drop type: here",
        ),
        E("x}}", "input 'n' of step 'd' expects an integer, not 'x'", hint="bind an integer"),
    ),
    C(
        "input-expecting-a-file-given-a-number",
        """\
        version: 1
        components:
          c:
            inputs: {f: uri_file}
            outputs: {o: uri_file}
            command: cat ${{inputs.f}} > ${{outputs.o}}
        steps:
          a:
            component: c
            inputs: {f: 3}
            outputs: {o: build/a.txt}
        """,
        E("3}", "input 'f' of step 'a' expects a uri_file (a path), not 3", hint="bind a path"),
    ),
    C(
        "metrics-that-are-not-an-output",
        ONE_STEP + "        metrics: [build/m.json]\n",
        E("build/m.json", "metrics file 'build/m.json' of step 'a' is not one of its outputs", hint="outputs"),
    ),
    # --- commands, code and resources
    C(
        "command-shapes",
        """\
        version: 1
        steps:
          a:
            command: []
            outputs: {o: build/a.txt}
          b:
            command: [echo, [x]]
            outputs: {o: build/b.txt}
          c:
            command: {x: 1}
            outputs: {o: build/c.txt}
        """,
        E("[]", "the command of step 'a' is empty"),
        E("[x]", "each argument of the command of step 'b' must be a string"),
        E("{x: 1}", "the command of step 'c' must be a string or a list of arguments"),
    ),
    C(
        "resources-and-key-includes",
        ONE_STEP
        + """\
        resources: {cpus: 0, memory: lots, gpus: 0.5}
        key_includes: [gpu_modle]
    """,
        E("0,", "cpus of step 'a' must be a positive number, not 0"),
        E("lots", "memory of step 'a' is not a size", hint="512MB"),
        E("0.5", "gpus of step 'a' must be a whole number of devices (0 or more), not 0.5", hint="gpus: 1"),
        E("[gpu_modle]", "key_includes of step 'a': unknown item 'gpu_modle'", hint="did you mean 'gpu_model'?"),
    ),
    C(
        "custom-resources-retries-timeout",
        ONE_STEP
        + """\
        resources: {custom: {special_node: 0, CPU: 1, "bad name": 1, gpu_a100: yes}}
        retries: -1
        timeout: soon
    """,
        E("0, CPU", "custom resource 'special_node' of step 'a' must be a positive number, not 0"),
        E("CPU", "custom resource name 'CPU' of step 'a' is not usable", hint="cpus, gpus and memory"),
        E('"bad name"', "custom resource name 'bad name' of step 'a' is not usable"),
        E("yes", "custom resource 'gpu_a100' of step 'a' must be a positive number"),
        E("-1", "retries of step 'a' must be a whole number from 0 to 100, not -1", hint="never retried"),
        E("soon", "timeout of step 'a' is not a positive duration: 'soon'", hint="30m"),
    ),
    C(
        "settings-executor",
        """\
        version: 1
        settings: {executor: slurm, colour: blue}
        steps:
          a: {command: echo hi}
    """,
        E("slurm", "settings: unknown executor 'slurm'", hint="one of: local, ray"),
        E("colour", "unknown key 'colour' in settings"),
    ),
    C(
        "settings-executor-mapping",
        """\
        version: 1
        settings:
          executor: {type: local, store: /shared, adress: x}
        steps:
          a: {command: echo hi}
    """,
        E("adress", "unknown key 'adress' in settings: executor", hint="did you mean 'address'?"),
        E("{type", "settings: address and store are for the ray executor", hint="type: ray"),
    ),
    # --- environments
    C(
        "environment-shapes",
        """\
        version: 1
        environments:
          local: {type: local}
          notype: {image: python:3.11}
          badtype: {type: vnev}
          extra: {type: venv, image: x}
          py: {type: venv, python: 3.10}
          both: {type: docker, image: x, build: ctx}
          conda: {type: conda}
          img: {type: docker, image: "two words"}
          df: {type: docker, image: x, dockerfile: D}
          net: {type: docker, image: x, network: hots}
          mnt: {type: docker, image: x, mounts: ["data", "a:b", "../x:/y"]}
          vars: {type: local, env: {1X: a, PIPE_STEP: b, CUDA_VISIBLE_DEVICES: 0, L: [1]}}
          pkgs: {type: venv, packages: six}
        steps:
          a:
            command: echo hi > ${{outputs.o}}
            outputs: {o: build/o.txt}
            environment: locl
        """,
        E("local:", "'local' is the built-in environment", hint="local-env"),
        E("{image: python", "environment 'notype' has no type", hint="add type: docker"),
        E("vnev", "unknown type 'vnev' for environment 'badtype'", hint="did you mean 'venv'?"),
        E(
            "image: x}",
            "'image' does not apply to environment 'extra', which is a venv environment",
            hint="a venv environment takes: env, python, requirements, packages",
        ),
        E("3.10", "python of environment 'py' must be a string, not 3.1", hint='python: "3.10"'),
        E("{type: docker, image: x, build", "environment 'both' needs exactly one of image: or build:"),
        E("{type: conda}", "environment 'conda' has no file", hint="envs/NAME.yml"),
        E('"two words"', "image of environment 'img' is not an image name: 'two words'"),
        E("dockerfile: D", "dockerfile of environment 'df' needs build:"),
        E("hots", "unknown network 'hots' for environment 'net'", hint="did you mean 'host'?"),
        E('["data"', "mount 'data' of environment 'mnt' is not SOURCE:TARGET[:ro|rw]"),
        E('["data"', "mount 'a:b' of environment 'mnt': the target 'b' must be an absolute path"),
        E('["data"', "mount '../x:/y' of environment 'mnt': '../x' is outside the workspace"),
        E("1X", "'1X' is not a valid environment variable name in environment 'vars'"),
        E("PIPE_STEP", "environment 'vars' sets PIPE_STEP, which pipe sets for every step", hint="remove it"),
        E("CUDA_VISIBLE_DEVICES", "sets CUDA_VISIBLE_DEVICES", hint="resources: {gpus: N}"),
        E("[1]}}", "L in env of environment 'vars' must be a string, a number or a boolean"),
        E("six}", "packages of environment 'pkgs' must be a list of strings"),
        E("locl", "step 'a' uses environment 'locl', which is not defined"),
    ),
    # --- artifacts and endpoints: names that must mean one thing
    C(
        "artifact-and-endpoint-names",
        """\
        version: 1
        params:
          x: 1
        assets:
          x: {path: x.csv, input: true}
          raw: {path: raw.csv, name: model}
        steps:
          a:
            command: echo > ${{outputs.m}} > ${{outputs.r}}
            outputs:
              m: {path: build/m, name: model, output: true}
              r: {path: build/r, output: true}
          b:
            command: cat ${{inputs.i}} > ${{outputs.r}}
            inputs: {i: "${{artifacts.model}}"}
            outputs: {r: {path: build/b, output: true}}
        """,
        E("x: {path", "asset 'x' is an endpoint input, and so is param 'x'", hint="rename the asset or the param"),
        E("build/m,", "artifact name 'model' is given twice: to asset 'raw'", hint="each artifact has one producer"),
        E(
            '"${{artifacts.model}}"',
            "input 'i' of step 'b' reads the latest 'model', which step 'a' of this Pipefile makes",
            hint="${{steps.a.outputs.m}}",
        ),
        E(
            "build/b,",
            "output 'r' of step 'b' is an endpoint output, and so is output 'r' of step 'a'",
            hint="rename one of the two outputs",
        ),
    ),
    C(
        "yaml-merge-keys-and-overrides",
        """\
        version: 1
        x-defaults: &d {command: "echo hi > ${{outputs.o}}", outputs: {o: build/o.txt}}
        steps:
          a: {<<: *d}
          b: {<<: *d, outputs: {o: build/b.txt}}
        """,
        E("x-defaults", "unknown key 'x-defaults' in the Pipefile"),
        count=1,
    ),
    # --- std components (the library shipped with pipe; tests/test_stdlib.py runs them)
    C(
        "std-unknown-name-did-you-mean",
        """\
        version: 1
        steps:
          s:
            component: std/split_dat@1
            inputs: {data: raw.csv}
            outputs: {train: build/a.parquet, test: build/b.parquet}
        """,
        E("std/split_dat@1", "step 's' uses std/split_dat@1: there is no std component 'split_dat'", hint="split_data"),
        files=RAW,
        count=1,
    ),
    C(
        "std-unknown-major-lists-the-versions",
        """\
        version: 1
        steps:
          s:
            component: std/split_data@7
            inputs: {data: raw.csv}
            outputs: {train: build/a.parquet, test: build/b.parquet}
        """,
        E("std/split_data@7", "std component 'split_data' has no major version 7", hint="@1"),
        files=RAW,
        count=1,
    ),
    C(
        "std-name-without-the-std-prefix",
        """\
        version: 1
        steps:
          s:
            component: split_data
            outputs: {train: build/a.parquet, test: build/b.parquet}
        """,
        E("split_data", "step 's' uses component 'split_data', which is not defined", hint="std/split_data@1"),
        count=1,
    ),
    C(
        "std-bad-reference",
        """\
        version: 1
        steps:
          s:
            component: std/split_data@v1
            outputs: {train: build/a.parquet, test: build/b.parquet}
        """,
        E("std/split_data@v1", "is not a std component reference", hint="std/NAME@MAJOR"),
        count=1,
    ),
    C(
        "std-interface-checked-like-a-pipefile-component",
        """\
        version: 1
        steps:
          s:
            component: std/split_data
            inputs: {data: raw.csv, fraction: high, seeds: 3}
            outputs: {train: build/a.parquet}
        """,
        E("high", "input 'fraction' of step 's' expects a number, not 'high'"),
        E("seeds", "component 'std/split_data@1' has no input 'seeds'", hint="did you mean 'seed'?"),
        E("s:", "does not say where to write output 'test' of component 'std/split_data@1'", nth=2),
        files=RAW,
    ),
    C(
        "component-metrics-must-name-an-output",
        """\
        version: 1
        components:
          c:
            outputs: {m: uri_file}
            metrics: [n]
            command: echo '{}' > ${{outputs.m}}
        steps:
          s:
            component: c
            outputs: {m: build/m.json}
        """,
        E("n]", "metrics of component 'c' names 'n', which is not one of its outputs", hint="known output names: 'm'"),
        count=1,
    ),
    # --- matrix, sweep and foreach (issue 15): each bad input a located error
    C(
        "matrix-axis-that-is-not-an-input",
        """\
        version: 1
        steps:
          train:
            matrix: {lr: [0.1, 0.2], depth: [3]}
            inputs: {lr: {type: number}}
            command: echo ${{inputs.lr}} > ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E("matrix:", "axis 'depth' of step 'train' is not one of its inputs", hint="inputs: {depth: {type: number}}"),
        count=1,
    ),
    C(
        "matrix-axis-not-an-input-of-the-component",
        COMPONENT
        + """\
          t:
            component: train
            matrix: {rate: [0.1]}
            inputs: {data: raw.csv}
            outputs: {model: build/m}
        """,
        E("matrix:", "axis 'rate' of step 't' is not one of its inputs", hint="known input names: 'data', 'lr'"),
        files=RAW,
    ),
    C(
        "matrix-empty",
        """\
        version: 1
        steps:
          train:
            matrix: {}
            command: echo hi > ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E("{}", "the matrix of step 'train' is empty", hint="give at least one axis"),
        count=1,
    ),
    C(
        "matrix-axis-without-values",
        """\
        version: 1
        steps:
          train:
            matrix: {lr: []}
            inputs: {lr: {type: number}}
            command: echo ${{inputs.lr}} > ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E("[]", "axis 'lr' of the matrix of step 'train' has no values"),
    ),
    C(
        "matrix-value-of-the-wrong-type",
        """\
        version: 1
        steps:
          train:
            matrix: {lr: [0.1, fast]}
            inputs: {lr: {type: number}}
            command: echo ${{inputs.lr}} > ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E("matrix:", "axis 'lr' of step 'train' has the value 'fast', but the input is a number"),
        count=1,
    ),
    C(
        "matrix-axis-bound-to-a-value-too",
        """\
        version: 1
        steps:
          train:
            matrix: {lr: [0.1]}
            inputs: {lr: 0.5}
            command: echo ${{inputs.lr}} > ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E("0.5}", "input 'lr' of step 'train' is a matrix axis", hint="declare it by its type alone"),
    ),
    C(
        "matrix-and-foreach-on-one-step",
        """\
        version: 1
        steps:
          train:
            matrix: {lr: [0.1]}
            foreach: ${{inputs.d}}
            inputs: {lr: {type: number}, d: data}
            command: echo ${{inputs.lr}} > ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E("foreach:", "step 'train' has both matrix: and foreach:"),
        files={"data/a": "1"},
    ),
    C(
        "matrix-reference-to-a-task-that-does-not-exist",
        """\
        version: 1
        steps:
          train:
            matrix: {lr: [0.1, 0.2]}
            inputs: {lr: {type: number}}
            command: echo ${{inputs.lr}} > ${{outputs.o}}
            outputs: {o: build/o}
          use:
            inputs: {m: "${{steps.train[lr=0.3].outputs.o}}"}
            command: cat ${{inputs.m}} > ${{outputs.o}}
            outputs: {o: build/u}
        """,
        E('"${{steps.train[lr=0.3]', "uses 'train[lr=0.3]', which is not a task of step 'train'", hint="train[lr=0.2]"),
    ),
    C(
        "task-reference-to-a-step-without-tasks",
        """\
        version: 1
        steps:
          a:
            command: echo hi > ${{outputs.o}}
            outputs: {o: build/o}
          use:
            inputs: {m: "${{steps.a[x=1].outputs.o}}"}
            command: cat ${{inputs.m}} > ${{outputs.o}}
            outputs: {o: build/u}
        """,
        E('"${{steps.a[x=1]', "step 'a' has no tasks"),
    ),
    C(
        "foreach-over-a-file",
        """\
        version: 1
        steps:
          each:
            foreach: ${{inputs.d}}
            inputs: {d: data.csv}
            command: cp ${{inputs.d}} ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E(
            "data.csv",
            "foreach of step 'each' maps over 'data.csv', which is a file",
            hint="bind the input to a folder",
        ),
        files={"data.csv": "1\n"},
    ),
    C(
        "foreach-over-an-input-the-step-does-not-have",
        """\
        version: 1
        steps:
          each:
            foreach: ${{inputs.data}}
            inputs: {d: data}
            command: cp ${{inputs.d}} ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E("foreach:", "maps over input 'data', which the step does not have"),
        files={"data/a": "1"},
    ),
    C(
        "foreach-over-a-value",
        """\
        version: 1
        steps:
          each:
            foreach: ${{inputs.n}}
            inputs: {n: 3}
            command: echo ${{inputs.n}} > ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E("foreach:", "maps over input 'n', which is 3, not a folder"),
    ),
    C(
        "foreach-not-an-input-reference",
        """\
        version: 1
        steps:
          each:
            foreach: data
            inputs: {d: data}
            command: cp ${{inputs.d}} ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E("data\n", "foreach of step 'each' must name one of the step's inputs", hint="foreach: ${{inputs.NAME}}"),
        files={"data/a": "1"},
    ),
    C(
        "foreach-over-a-param-directly",
        """\
        version: 1
        params:
          cities: [paris, rome]
        steps:
          each:
            foreach: ${{params.cities}}
            command: echo hi > ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E(
            "${{params.cities}}",
            "foreach of step 'each' must name one of the step's inputs, not param 'cities'",
            hint='inputs: {cities: "${{params.cities}}"}, foreach: ${{inputs.cities}}',
        ),
    ),
    C(
        "matrix-include-names-an-unknown-input",
        """\
        version: 1
        steps:
          train:
            matrix: {lr: [1], include: [{lr: 2, dept: 3}]}
            inputs: {lr: {type: number}, depth: {type: integer}}
            command: echo ${{inputs.lr}} > ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E("matrix:", "include: of the matrix of step 'train' names 'dept', not an input", hint="'depth'"),
    ),
    C(
        "output-path-uses-an-input-of-a-step-without-tasks",
        """\
        version: 1
        steps:
          plain:
            inputs: {lr: 1}
            command: echo ${{inputs.lr}} > ${{outputs.o}}
            outputs: {o: "build/model-${{inputs.lr}}.txt"}
        """,
        E(
            '"build/model-',
            "output 'o' of step 'plain' must be a workspace path, not an expression",
            hint="only a matrix or sweep step's output path can use its inputs",
        ),
    ),
    C(
        "matrix-output-path-uses-an-input-that-is-not-an-axis",
        """\
        version: 1
        steps:
          train:
            matrix: {lr: [1, 2]}
            inputs: {lr: {type: number}, depth: 3}
            command: echo ${{inputs.lr}} > ${{outputs.o}}
            outputs: {o: "build/m-${{inputs.depth}}-${{inputs.lr}}.txt"}
        """,
        E(
            '"build/m-',
            "output 'o' of step 'train' uses input 'depth', which is not set per task by its matrix",
            hint="the matrix's axes: lr",
        ),
    ),
    C(
        "matrix-output-paths-of-two-tasks-clash",
        """\
        version: 1
        steps:
          train:
            matrix: {lr: [1, 2], depth: [3, 5]}
            inputs: {lr: {type: number}, depth: {type: integer}}
            command: echo ${{inputs.lr}} > ${{outputs.o}}
            outputs: {o: "build/model-${{inputs.lr}}.txt"}
        """,
        E(
            '"build/model-',
            "tasks 'train[lr=1,depth=3]' and 'train[lr=1,depth=5]' of step 'train' both write 'build/model-1.txt'",
            hint="every input whose values tell the tasks apart",
        ),
    ),
    C(
        "foreach-output-path-uses-an-input",
        """\
        version: 1
        params:
          cities: [paris, rome]
        steps:
          each:
            foreach: ${{inputs.cities}}
            inputs: {cities: "${{params.cities}}"}
            command: echo hi > ${{outputs.o}}
            outputs: {o: "build/o-${{inputs.cities}}"}
        """,
        E(
            '"build/o-',
            "output 'o' of step 'each' must be a workspace path, not an expression",
            hint="each item's task writes its own entry below the declared path",
        ),
    ),
    C(
        "metrics-file-is-a-folder-output-of-a-matrix",
        """\
        version: 1
        steps:
          train:
            matrix: {lr: [1, 2]}
            inputs: {lr: {type: number}}
            command: echo 1 > ${{outputs.m}}
            outputs: {m: build/trials/}
            metrics: build/trials/
        """,
        E(
            "build/trials/\n",
            "metrics file 'build/trials' of step 'train' is output 'm', a folder",
            hint="declare the output without the trailing / (build/trials)",
        ),
    ),
    C(
        "foreach-batch-size-zero",
        """\
        version: 1
        steps:
          each:
            foreach: {over: "${{inputs.d}}", batch_size: 0}
            inputs: {d: data}
            command: ls ${{inputs.d}} > ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E("0}", "batch_size of foreach of step 'each' must be a whole number of at least 1", hint="e.g. 10"),
        files={"data/a.txt": "1"},
    ),
    C(
        "foreach-error-threshold-not-an-int",
        """\
        version: 1
        steps:
          each:
            foreach: {over: "${{inputs.d}}", error_threshold: some}
            inputs: {d: data}
            command: cp ${{inputs.d}} ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E(
            "some}",
            "error_threshold of foreach of step 'each' must be a whole number of at least -1, not 'some'",
            hint="-1 for any",
        ),
        files={"data/a.txt": "1"},
    ),
    C(
        "foreach-retries-out-of-range",
        """\
        version: 1
        steps:
          each:
            foreach: {over: "${{inputs.d}}", retries: -2}
            inputs: {d: data}
            command: cp ${{inputs.d}} ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E("-2}", "retries of foreach of step 'each' must be a whole number from 0 to 100, not -2"),
        files={"data/a.txt": "1"},
    ),
    C(
        "sweep-bayesian-without-an-objective",
        """\
        version: 1
        steps:
          t:
            sweep: {search: bayesian, trials: 3, space: {lr: {uniform: [0, 1]}}}
            inputs: {lr: {type: number}}
            command: echo ${{inputs.lr}} > ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E("{search: bayesian", "has a bayesian search, which needs an objective", hint="add objective:"),
        count=1,
    ),
    C(
        "sweep-bayesian-without-trials",
        """\
        version: 1
        steps:
          t:
            sweep: {search: bayesian, space: {lr: {uniform: [0, 1]}}, objective: {metric: acc}}
            inputs: {lr: {type: number}}
            command: echo ${{inputs.lr}} > ${{outputs.m}}
            outputs: {m: build/m.json}
            metrics: build/m.json
        """,
        E("{search: bayesian", "is a bayesian search without trials:", hint="add trials: N"),
        count=1,
    ),
    C(
        "sweep-random-without-trials",
        """\
        version: 1
        steps:
          t:
            sweep: {space: {lr: {uniform: [0, 1]}}}
            inputs: {lr: {type: number}}
            command: echo ${{inputs.lr}} > ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E("{space", "is a random search without trials:", hint="add trials: N"),
        count=1,
    ),
    C(
        "sweep-early-termination-unknown-policy",
        early_termination_case("{policy: bandit_policy}"),
        E("bandit_policy", "unknown early termination policy 'bandit_policy'", hint="median_stopping"),
        count=1,
    ),
    C(
        "sweep-early-termination-without-a-policy",
        early_termination_case("{evaluation_interval: 2}"),
        E("{evaluation_interval", "names no policy", hint="add policy: median_stopping"),
        count=1,
    ),
    C(
        "sweep-early-termination-bad-interval",
        early_termination_case("{policy: median_stopping, evaluation_interval: 0}"),
        E("0}", "evaluation_interval of early_termination", "at least 1"),
        count=1,
    ),
    C(
        "sweep-early-termination-without-an-objective",
        """\
        version: 1
        steps:
          t:
            sweep:
              trials: 3
              space: {lr: {uniform: [0, 1]}}
              early_termination: {policy: median_stopping}
            inputs: {lr: {type: number}}
            command: echo ${{inputs.lr}} > ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E("trials: 3", "has early_termination, which needs an objective", hint="add objective:"),
        count=1,
    ),
    C(
        "sweep-range-upside-down",
        """\
        version: 1
        steps:
          t:
            sweep: {trials: 3, space: {lr: {uniform: [1, 0]}}}
            inputs: {lr: {type: number}}
            command: echo ${{inputs.lr}} > ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E("[1, 0]", "uniform of input 'lr'", "low < high"),
        count=1,
    ),
    C(
        "sweep-input-that-is-not-an-input",
        """\
        version: 1
        steps:
          t:
            sweep: {trials: 3, space: {lr: {choice: [0.1]}}}
            command: echo hi > ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E("sweep:", "sweep input 'lr' of step 't' is not one of its inputs"),
    ),
    C(
        "sweep-grid-with-a-range",
        """\
        version: 1
        steps:
          t:
            sweep: {search: grid, space: {lr: {uniform: [0, 1]}}}
            inputs: {lr: {type: number}}
            command: echo ${{inputs.lr}} > ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E("[0, 1]", "a grid search takes choice: lists only"),
    ),
    C(
        "sweep-objective-without-metrics",
        """\
        version: 1
        steps:
          t:
            sweep: {trials: 2, space: {lr: {choice: [0.1]}}, objective: {metric: acc}}
            inputs: {lr: {type: number}}
            command: echo ${{inputs.lr}} > ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E("sweep:", "has an objective ('acc') but the step has no metrics:", hint="add metrics: PATH"),
        count=1,
    ),
    C(
        "matrix-output-that-is-an-artifact",
        """\
        version: 1
        steps:
          train:
            matrix: {lr: [0.1]}
            inputs: {lr: {type: number}}
            command: echo ${{inputs.lr}} > ${{outputs.o}}
            outputs: {o: {path: build/o, name: model}}
        """,
        E("build/o", "output 'o' of step 'train' has name:, which a step with matrix: cannot have yet"),
        count=1,
    ),
    C(
        "best-of-a-sweep-without-an-objective",
        """\
        version: 1
        steps:
          t:
            sweep: {trials: 2, space: {lr: {choice: [0.1]}}}
            inputs: {lr: {type: number}}
            command: echo ${{inputs.lr}} > ${{outputs.o}}
            outputs: {o: build/o}
          use:
            inputs: {m: "${{steps.t.best.outputs.o}}"}
            command: cat ${{inputs.m}} > ${{outputs.o}}
            outputs: {o: build/u}
        """,
        E('"${{steps.t.best', "uses 't.best', but step 't' is not a sweep with an objective"),
        count=1,
    ),
    C(
        "sweep-objective-goal-unknown",
        """\
        version: 1
        steps:
          t:
            sweep: {trials: 2, space: {lr: {choice: [0.1]}}, objective: {metric: acc, goal: best}}
            inputs: {lr: {type: number}}
            command: echo ${{inputs.lr}} > ${{outputs.o}}
            outputs: {o: build/o}
        """,
        E("best}", "unknown goal 'best'", hint="maximize or minimize"),
    ),
    # --- what users of other tools write (issue 19): each error says how pipe spells it
    C(
        "outputs-as-a-list-are-named-in-the-hint",
        """\
        version: 1
        steps:
          s:
            command: echo ${{inputs.raw}} > build/model.pkl
            inputs: [raw.csv]
            outputs: [build/model.pkl, build/m.json]
        """,
        E(
            "[raw",
            "inputs of step 's' must be a mapping (key: value), not a list",
            hint="{raw: raw.csv}; the command then writes ${{inputs.raw}}",
        ),
        E(
            "[build",
            "outputs of step 's' must be a mapping",
            hint="{model: build/model.pkl}; the command then writes ${{outputs.model}}",
        ),
        files=RAW,
    ),
    C(
        "step-metrics-naming-an-output-get-its-path",
        """\
        version: 1
        steps:
          s:
            command: echo '{}' > ${{outputs.m}}
            outputs: {m: build/m.json}
            metrics: m
        """,
        E(
            "m\n",
            "metrics file 'm' of step 's' is not one of its outputs",
            hint="write the output's path, metrics: build/m.json",
            nth=1,
        ),
        count=1,
    ),
    C(
        "yaml-colon-inside-a-command",
        """\
        version: 1
        steps:
          s:
            command: echo {"acc": 1} > ${{outputs.m}}
            outputs: {m: build/m.json}
        """,
        LINE(
            "command:", "invalid YAML: mapping values are not allowed", hint="write the value as a block (`command: >-`"
        ),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_validation_case(case, tmp_path):
    got = check(tmp_path, case.text, case.files, case.params)
    text = textwrap.dedent(case.text)
    for want in case.errors:
        assert any(want.matches(text, *g) for g in got), f"expected {want}\n got: " + "\n      ".join(map(str, got))
    if case.count is not None:
        assert len(got) == case.count, got


def test_case_ids_are_unique():
    assert len({c.id for c in CASES}) == len(CASES)


def test_every_path_error_and_type_mismatch_has_a_hint(tmp_path):
    bad_paths = """\
        version: 1
        steps:
          a:
            command: echo hi > build/o.txt
            outputs: {o: ../x.txt}
          b:
            command: echo hi > build/p.txt
            outputs: {o: .pipe/x.txt}
          c:
            command: echo hi > build/q.txt
            outputs: {o: /tmp/abs.txt}
        """
    got = check(tmp_path / "paths", bad_paths)
    assert len(got) == 3 and all(hint for _, _, hint in got), got
    mismatches = (
        TYPED
        + """\
          a:
            component: c
            inputs:
              n: ${{params.name}}
              x: ${{assets.raw}}
            outputs: {o: build/a.txt}
        """
    )
    got = [g for g in check(tmp_path / "types", mismatches, RAW.items()) if "expects a" in g[1]]
    assert len(got) == 2 and all(hint for _, _, hint in got), got


def test_type_names_take_the_right_article(tmp_path):
    got = check(tmp_path, PARAMS, params=["tag=x", "epochs=abc"])
    got += check(
        tmp_path,
        TYPED
        + """\
          a:
            component: c
            inputs:
              n: ${{params.name}}
              x: 1.5
            outputs: {o: build/a.txt}
        """,
    )
    messages = " ".join(m for _, m, _ in got)
    assert "an integer" in messages and "a integer" not in messages, got


CYCLE = """\
    version: 1
    steps:
      a:
        command: cat ${{inputs.x}} > ${{outputs.o}}
        inputs: {x: build/b.txt}
        outputs: {o: build/a.txt}
      b:
        command: cat ${{inputs.x}} > ${{outputs.o}}
        inputs: {x: build/a.txt}
        outputs: {o: build/b.txt}
"""


def test_dependency_cycle_names_its_steps_and_where(tmp_path):
    got = check(tmp_path, CYCLE)
    assert len(got) == 1, got
    loc, message, hint = got[0]
    assert re.fullmatch(r"dependency cycle: (a -> b -> a|b -> a -> b)", message), got
    assert re.fullmatch(r"Pipefile:\d+:\d+", loc or "") and hint, got


def test_three_step_cycle_names_every_step_along_real_edges(tmp_path):
    got = check(
        tmp_path,
        """\
        version: 1
        steps:
          a:
            command: cat ${{inputs.x}} > ${{outputs.o}}
            inputs: {x: build/c.txt}
            outputs: {o: build/a.txt}
          b:
            command: cat ${{inputs.x}} > ${{outputs.o}}
            inputs: {x: build/a.txt}
            outputs: {o: build/b.txt}
          c:
            command: cat ${{inputs.x}} > ${{outputs.o}}
            inputs: {x: build/b.txt}
            outputs: {o: build/c.txt}
        """,
    )
    m = re.search(r"dependency cycle: (\w+) -> (\w+) -> (\w+) -> (\w+)", " ".join(g[1] for g in got))
    assert m, got
    names = m.groups()
    assert names[0] == names[3] and set(names[:3]) == {"a", "b", "c"}, got
    # each arrow is a real edge: x -> y means y reads x's output (or the reverse, consistently)
    edges = {("a", "b"), ("b", "c"), ("c", "a")}
    pairs = set(zip(names, names[1:]))
    assert pairs == edges or pairs == {(y, x) for x, y in edges}, got


def test_dependency_cycle_reported_with_other_errors(tmp_path):
    text = (
        CYCLE
        + """\
      m:
        command: cat ${{inputs.x}} > ${{outputs.o}}
        inputs: {x: data/missing.txt}
        outputs: {o: build/m.txt}
    """
    )
    got = check(tmp_path, text)
    assert any(loc == at(text, "data/missing.txt") and "'data/missing.txt'" in msg for loc, msg, _ in got), got
    assert any("dependency cycle" in msg for _, msg, _ in got), got


# --- end to end: rendering, exit codes, runs ----------------------------------------------
def test_no_pipefile_at_all(repo):
    r = repo.pipe("run")
    assert r.code == 2, str(r)
    assert "no Pipefile" in r.err and "hint:" in r.err and "-f" in r.err


def test_missing_pipefile_given_with_f(repo):
    r = repo.pipe("validate", "-f", "Nope.yaml")
    assert r.code == 2, str(r)
    assert "Nope.yaml" in r.err and "no such file" in r.err


def test_required_param_without_default_and_without_p(repo):
    repo.pipefile(PARAMS)
    r = repo.pipe("run")
    find_error(r, at(PARAMS, "tag:"), "param 'tag' is required and has no value", hint="-p tag=")
    assert not repo.exists("build/o.txt")
    r = repo.pipe("validate", "-p", "tag=v1")
    assert r.code == 0, str(r)
    r = repo.pipe("run", "-p", "tag=v1")
    assert r.code == 0, str(r)
    assert repo.read("build/o.txt").split() == ["0.01", "5", "v1"]


def test_p_unknown_param_did_you_mean(repo):
    repo.pipefile(PARAMS)
    r = repo.pipe("run", "-p", "tag=x", "-p", "lrr=0.1")
    find_error(r, None, "-p lrr=0.1", "no param 'lrr'", hint="did you mean 'lr'?")
    assert not repo.exists("build/o.txt")


ENUM = """\
    version: 1
    params:
      model: {type: string, default: ridge, enum: [ridge, lasso]}
    steps:
      a:
        command: echo ${{params.model}} > ${{outputs.o}}
        outputs: {o: build/o.txt}
"""


def test_p_outside_the_enum_is_refused(repo):
    repo.pipefile(ENUM)
    r = repo.pipe("run", "-p", "model=lasso2")
    find_error(r, at(ENUM, "model:"), "-p model=lasso2", "not one of its enum values", hint="did you mean 'lasso'?")
    assert not repo.exists("build/o.txt")
    r = repo.pipe("run", "-p", "model=lasso")
    assert r.code == 0, str(r)
    assert repo.read("build/o.txt").split() == ["lasso"]


def test_dependency_cycle_prints_the_cycle(repo):
    repo.pipefile(CYCLE)
    r = repo.pipe("run")
    assert r.code == 2, str(r)
    assert re.search(r"dependency cycle: (a -> b -> a|b -> a -> b)", r.err), str(r)
    assert "hint:" in r.err
    assert not repo.exists("build")


CACHED = """\
    version: 1
    environments:
      prep: {type: venv, requirements: envs/prep.txt}
    steps:
      fit:
        command: cat ${{inputs.x}} ${{inputs.y}} > ${{outputs.o}}
        inputs:
          x: {type: uri_file, path: data/x.txt}
          y: data/y.txt
        outputs: {o: build/fit.txt}
        code: [src/fit.py]
      other:
        command: echo > ${{outputs.o}}
        outputs: {o: build/other.txt}
        environment: prep
    """


@pytest.fixture
def cached(repo):
    repo.write("data/x.txt", "x\n")
    repo.write("data/y.txt", "y\n")
    repo.write("src/fit.py", "print(1)\n")
    repo.write("envs/prep.txt", "")
    repo.pipefile(CACHED)
    assert repo.pipe("status").code == 0
    assert repo.outcomes("fit") == {"fit": "ran"}
    assert repo.outcomes("fit") == {"fit": "fresh"}  # from the cached spec and graph
    assert list((repo.root / ".pipe/cache/specs").iterdir())
    return repo


@pytest.mark.parametrize(
    "path, needle, fragment",
    [
        ("data/x.txt", "{type: uri_file", "reads 'data/x.txt'"),
        ("data/y.txt", "data/y.txt", "reads 'data/y.txt'"),
        ("src/fit.py", "src/fit.py", "reads 'src/fit.py'"),
        ("envs/prep.txt", "prep: {", "'envs/prep.txt' of environment 'prep' does not exist"),
    ],
)
def test_source_removed_after_a_run_is_reported_as_before(cached, path, needle, fragment):
    (cached.root / path).unlink()
    for command in ("run", "status", "validate"):
        r = cached.pipe(command)
        find_error(r, at(CACHED, needle), fragment, "does not exist")


def test_the_spec_cache_key_covers_every_module_of_the_load_package(tmp_path, monkeypatch):
    """A cached spec must not outlive a change to any part of the code that read it. The
    change is made to what `os.stat` answers, never to the files: other tests run beside
    this one (xdist) and key their own caches on the same files."""
    import os
    import types

    from pipefile import load, speccache

    (tmp_path / "Pipefile").write_text("version: 1\n")
    modules = sorted(Path(load.__file__).parent.glob("*.py"))
    assert len(modules) > 5
    key = speccache._spec_cache_key(str(tmp_path / "Pipefile"), b"version: 1\n")
    real_stat = os.stat
    for module in modules:

        def stat(path, *args, _changed=str(module), **kw):
            st = real_stat(path, *args, **kw)
            if os.path.abspath(str(path)) != _changed:
                return st
            return types.SimpleNamespace(
                st_size=st.st_size, st_mtime_ns=st.st_mtime_ns + 10**9, st_ctime_ns=st.st_ctime_ns
            )

        monkeypatch.setattr(speccache.os, "stat", stat)
        assert speccache._spec_cache_key(str(tmp_path / "Pipefile"), b"version: 1\n") != key, module.name
        monkeypatch.setattr(speccache.os, "stat", real_stat)


def test_a_pipefile_saved_while_it_is_loaded_is_not_cached_as_the_new_text(repo, monkeypatch):
    """The cache keeps what was parsed under the key of the bytes that were parsed: a save
    between parsing and caching must not make later runs use the old steps."""
    from pipefile import graph as graph_mod
    from pipefile import speccache

    repo.pipefile("""\
        version: 1
        steps:
          s: {command: "echo one > ${{outputs.o}}", outputs: {o: out.txt}}
        """)
    (repo.root / ".pipe").mkdir()
    monkeypatch.chdir(repo.root)
    monkeypatch.setattr(speccache.gc, "freeze", lambda: None)
    build = graph_mod.build

    def build_then_save(*args, **kwargs):
        g = build(*args, **kwargs)
        text = (repo.root / "Pipefile").read_text()
        (repo.root / "Pipefile").write_text(text.replace("echo one", "echo two"))
        return g

    monkeypatch.setattr(graph_mod, "build", build_then_save)
    assert speccache.load_graph(None, keep=True).nodes["s"].command == "echo one > out.txt"
    monkeypatch.setattr(graph_mod, "build", build)
    for _ in range(2):  # parsed again, then from the cache
        assert speccache.load_graph(None, keep=True).nodes["s"].command == "echo two > out.txt"


def test_typed_source_turned_into_a_folder_after_a_run(cached):
    (cached.root / "data/x.txt").unlink()
    cached.write("data/x.txt/inside.txt", "x\n")
    r = cached.pipe("run")
    find_error(r, at(CACHED, "{type: uri_file"), "expects a file at 'data/x.txt', but it is a folder")
    (cached.root / "data/x.txt/inside.txt").unlink()
    (cached.root / "data/x.txt").rmdir()
    cached.write("data/x.txt", "x2\n")
    assert cached.outcomes("fit") == {"fit": "ran"}


def test_all_loader_errors_reported_in_one_go(repo):
    text = """\
        version: 1
        parms: {}
        params:
          lr: 0.01
        components:
          c:
            outputs: {o: uri_file}
            command: echo > ${{outputs.o}}
        steps:
          a:
            component: cc
            outputs: {o: build/a.txt}
          b:
            command: echo ${{params.lrr}} ${{inputs.nope}} > ${{outputs.o}}
            outputs: {o: ../b.txt}
            cod: x
          d:
            command: cat ${{inputs.x}} > ${{outputs.o}}
            inputs:
              x: ${{steps.bb.outputs.o}}
            outputs: {o: build/d.txt}
        """
    repo.pipefile(text)
    r = repo.pipe("validate")
    find_error(r, at(text, "parms"), "unknown key 'parms'", hint="did you mean 'params'?")
    find_error(r, at(text, "cc"), "component 'cc'", hint="did you mean 'c'?")
    find_error(r, at(text, "${{params.lrr"), "no param 'lrr'", hint="did you mean 'lr'?")
    find_error(r, at(text, "${{inputs.nope"), "no input 'nope'")
    find_error(r, at(text, "../b.txt"), "outside the workspace")
    find_error(r, at(text, "cod:"), "unknown key 'cod'", hint="did you mean 'code'?")
    find_error(r, at(text, "${{steps.bb"), "step 'bb'", hint="did you mean 'b'?")
    assert re.search(r"^\d+ errors\.$", r.err, re.M), str(r)
    # sorted by position
    errs = parse_errors(r.err)
    keys = [tuple(int(x) for x in e["loc"].split(":")[1:]) for e in errs]
    assert keys == sorted(keys), str(r)


def test_every_error_line_starts_with_its_position(repo):
    text = """\
        version: 1
        steps:
          a:
            comand: echo hi
            outputs: {o: build/o.txt}
            cod: x
        """
    repo.pipefile(text)
    r = repo.pipe("validate")
    assert r.code == 2, str(r)
    heads = [ln for ln in r.err.splitlines() if ln and not ln.startswith(" ") and not ln.endswith("errors.")]
    assert len(heads) >= 2, str(r)
    assert all(re.match(r"Pipefile:\d+:\d+: ", ln) for ln in heads), str(r)


# --- steps that fail while running ----------------------------------------------------------
def test_command_exits_non_zero(repo):
    repo.pipefile("""\
        version: 1
        steps:
          a:
            command: echo line-one; echo boom-on-stderr >&2; exit 3
            outputs: {o: build/a.txt}
        """)
    r = repo.pipe("run")
    assert r.code == 1, str(r)
    assert "step 'a' exited with status 3" in r.err, str(r)
    assert "echo line-one; echo boom-on-stderr >&2; exit 3" in r.err, str(r)
    assert "line-one" in r.err and "boom-on-stderr" in r.err, str(r)
    assert re.search(r"log: \.pipe/jobs/\d+/a\.log", r.err), str(r)
    j = repo.run_json(expect=1)
    assert j["status"] == "failed"
    assert [s["outcome"] for s in j["steps"]] == ["failed"]


def test_failed_step_shows_only_the_log_tail(repo):
    repo.pipefile("""\
        version: 1
        steps:
          a:
            command: i=0; while [ $i -lt 200 ]; do echo "log line $i"; i=$((i+1)); done; exit 1
            outputs: {o: build/a.txt}
        """)
    r = repo.pipe("run")
    assert r.code == 1, str(r)
    assert "a | log line 0\n" in r.err  # every line, live, as the step printed it
    failure = r.err[r.err.index("step 'a' exited") :]  # then the failure: the tail alone
    assert "log line 199" in failure and "log line 0\n" not in failure, str(r)


def test_failed_step_skips_its_dependents_and_keep_going_runs_the_rest(repo):
    repo.pipefile("""\
        version: 1
        steps:
          bad:
            command: exit 1
            outputs: {o: build/bad.txt}
          after:
            command: cat ${{inputs.x}} > ${{outputs.o}}
            inputs: {x: "${{steps.bad.outputs.o}}"}
            outputs: {o: build/after.txt}
          other:
            command: echo ok > ${{outputs.o}}
            outputs: {o: build/other.txt}
        """)
    j = repo.run_json("-k", expect=1)
    outcomes = {s["name"]: s["outcome"] for s in j["steps"]}
    assert outcomes == {"bad": "failed", "after": "skipped", "other": "ran"}, j
    assert repo.read("build/other.txt") == "ok\n"


def test_step_does_not_write_its_declared_output(repo):
    repo.pipefile("""\
        version: 1
        steps:
          a:
            command: echo nothing written
            outputs: {o: build/a.txt}
        """)
    r = repo.pipe("run")
    assert r.code == 1, str(r)
    assert "step 'a' failed after" in r.err, str(r)
    assert "did not write its output 'o' ('build/a.txt')" in r.err, str(r)
    assert "command: echo nothing written" in r.err
    assert not repo.exists("build/a.txt")
    assert repo.states() == {"a": "run"}


def test_step_writes_a_file_where_a_folder_is_declared(repo):
    repo.pipefile("""\
        version: 1
        steps:
          a:
            command: rmdir ${{outputs.d}} && echo hi > ${{outputs.d}}
            outputs: {d: {type: uri_folder, path: build/d}}
        """)
    r = repo.pipe("run")
    assert r.code == 1, str(r)
    assert "wrote a file at 'build/d', but output 'd' is a uri_folder" in r.err, str(r)
    assert not repo.exists("build/d") or repo.root.joinpath("build/d").is_dir()


def test_step_writes_a_folder_where_a_file_is_declared(repo):
    repo.pipefile("""\
        version: 1
        steps:
          a:
            command: mkdir -p ${{outputs.f}} && echo hi > ${{outputs.f}}/x
            outputs: {f: {type: uri_file, path: build/f.txt}}
        """)
    r = repo.pipe("run")
    assert r.code == 1, str(r)
    assert "wrote a folder where a file was declared: output 'f' ('build/f.txt') is a uri_file" in r.err, str(r)
    assert not repo.exists("build/f.txt")


def test_step_modifies_its_own_input(repo):
    repo.write("in.txt", "original\n")
    repo.pipefile("""\
        version: 1
        steps:
          m:
            command: echo more >> ${{inputs.x}}; cat ${{inputs.x}} > ${{outputs.o}}
            inputs: {x: in.txt}
            outputs: {o: build/m.txt}
        """)
    r = repo.pipe("run")
    assert r.code == 1, str(r)
    assert "step 'm'" in r.err and "modified its own input 'in.txt'" in r.err, str(r)
    assert not repo.exists("build/m.txt"), "nothing is committed from a step that broke the rules"


def test_step_modifies_its_own_code(repo):
    repo.write("src/s.sh", "echo v1 > build/m.txt\n")
    repo.pipefile("""\
        version: 1
        steps:
          m:
            command: sh src/s.sh; echo '# edited' >> src/s.sh
            outputs: {o: build/m.txt}
            code: [src/s.sh]
        """)
    r = repo.pipe("run")
    assert r.code == 1, str(r)
    assert "modified its own input 'src/s.sh'" in r.err, str(r)


@pytest.mark.parametrize("folder", [False, True])
def test_failing_step_keeps_the_previous_good_output(repo, folder):
    if folder:
        out = "{d: {type: uri_folder, path: build/d}}"
        good = "echo good > ${{outputs.d}}/f"
        bad = "echo partial > ${{outputs.d}}/f; echo junk > ${{outputs.d}}/g; exit 4"
        path = "build/d/f"
    else:
        out = "{o: build/o.txt}"
        good = "echo good > ${{outputs.o}}"
        bad = "echo partial > ${{outputs.o}}; exit 4"
        path = "build/o.txt"
    text = """\
        version: 1
        steps:
          a:
            command: CMD
            outputs: OUT
        """
    repo.pipefile(text.replace("CMD", good).replace("OUT", out))
    assert repo.outcomes() == {"a": "ran"}
    assert repo.read(path) == "good\n"

    repo.pipefile(text.replace("CMD", bad).replace("OUT", out))
    r = repo.pipe("run")
    assert r.code == 1, str(r)
    assert "exited with status 4" in r.err
    assert repo.read(path) == "good\n", "the previous good output is back at its path"
    if folder:
        assert not repo.exists("build/d/g")
    assert repo.states() == {"a": "run"}

    # The store stays consistent: going back to the good command restores, without running.
    repo.pipefile(text.replace("CMD", good).replace("OUT", out))
    assert repo.states() == {"a": "fresh"}
    assert repo.outcomes() == {"a": "fresh"}


def test_failing_step_writing_the_literal_path_keeps_the_previous_output(repo):
    text = """\
        version: 1
        steps:
          a:
            command: CMD
            outputs: {o: build/o.txt}
        """
    repo.pipefile(text.replace("CMD", "mkdir -p build && echo good > build/o.txt"))
    assert repo.outcomes() == {"a": "ran"}
    repo.pipefile(text.replace("CMD", "mkdir -p build && echo partial > build/o.txt && false"))
    r = repo.pipe("run")
    assert r.code == 1, str(r)
    assert repo.read("build/o.txt") == "good\n"
    assert repo.states() == {"a": "run"}


def test_step_fixed_after_a_failure_runs_and_is_then_fresh(repo):
    text = """\
        version: 1
        steps:
          a:
            command: CMD
            outputs: {o: build/o.txt}
        """
    repo.pipefile(text.replace("CMD", "echo nope"))
    assert repo.pipe("run").code == 1
    repo.pipefile(text.replace("CMD", "echo yes > ${{outputs.o}}"))
    assert repo.outcomes() == {"a": "ran"}
    assert repo.states() == {"a": "fresh"}
    assert repo.outcomes() == {"a": "fresh"}


# --- shell quoting ------------------------------------------------------------------------
QUOTING = """\
    version: 1
    params:
      msg: {type: string, default: "hello; touch pwned"}
    steps:
      a:
        command: printf '%s' ${{params.msg}} > ${{outputs.o}}
        outputs: {o: build/a.txt}
      b:
        command: printf '%s' ${{inputs.m}} > ${{outputs.o}}
        inputs:
          m: ${{params.msg}}
        outputs: {o: build/b.txt}
"""


def test_shell_quoting_makes_a_string_param_harmless(repo):
    repo.pipefile(QUOTING)
    assert repo.outcomes() == {"a": "ran", "b": "ran"}
    assert not repo.exists("pwned")
    assert repo.read("build/a.txt") == "hello; touch pwned"
    assert repo.read("build/b.txt") == "hello; touch pwned"


@pytest.mark.parametrize(
    "value",
    [
        "; touch pwned",
        "$(touch pwned)",
        "`touch pwned`",
        "x' ; touch pwned ; echo '",
        'x" ; touch pwned ; echo "',
        "a && touch pwned || touch pwned",
        "$HOME | tee pwned",
        "  two  spaces\tand tab ",
        "",
    ],
)
def test_shell_quoting_of_a_p_value(repo, value):
    repo.pipefile(QUOTING)
    r = repo.pipe("run", "-p", f"msg={value}")
    assert r.code == 0, str(r)
    assert not repo.exists("pwned")
    assert repo.read("build/a.txt") == value
    assert repo.read("build/b.txt") == value


def test_argv_command_passes_values_verbatim(repo):
    repo.pipefile("""\
        version: 1
        params:
          msg: {type: string, default: "; touch pwned"}
        steps:
          a:
            command: [sh, -c, 'printf "%s" "$1" > "$2"', sh, "${{params.msg}}", "${{outputs.o}}"]
            outputs: {o: build/a.txt}
        """)
    assert repo.outcomes() == {"a": "ran"}
    assert not repo.exists("pwned")
    assert repo.read("build/a.txt") == "; touch pwned"


# --- validate and targets ---------------------------------------------------------------------
def test_validate_success_output(repo):
    repo.write("raw.csv", "1\n")
    repo.pipefile("""\
        version: 1
        params:
          lr: 0.01
        assets:
          raw: {type: uri_file, path: raw.csv}
        steps:
          prep:
            command: cp ${{inputs.x}} ${{outputs.o}}
            inputs:
              x: ${{assets.raw}}
            outputs: {o: build/clean.csv}
          fit:
            command: cp ${{inputs.x}} ${{outputs.o}} && echo ${{params.lr}} >> ${{outputs.o}}
            inputs:
              x: ${{steps.prep.outputs.o}}
            outputs: {o: build/model.txt}
        """)
    r = repo.pipe("validate")
    assert r.code == 0, str(r)
    assert r.out.startswith("Pipefile: ok (2 steps"), str(r)
    assert "1 param" in r.out and "1 asset" in r.out, str(r)
    assert r.err == "", str(r)
    assert not repo.exists("build"), "validate runs nothing"


def test_validate_with_f_names_the_file(repo):
    repo.write(
        "pipes/Other.yaml",
        """\
        version: 1
        steps:
          a:
            command: echo hi > ${{outputs.o}}
            outputs: {o: build/o.txt}
        """,
    )
    r = repo.pipe("validate", "-f", "pipes/Other.yaml")
    assert r.code == 0, str(r)
    assert "Other.yaml: ok (1 step," in r.out, str(r)


def test_validate_error_names_the_f_file(repo):
    text = """\
        version: 1
        steps:
          a:
            comand: echo hi
            command: echo hi > ${{outputs.o}}
            outputs: {o: build/o.txt}
        """
    repo.write("pipes/Other.yaml", text)
    r = repo.pipe("validate", "-f", "pipes/Other.yaml")
    assert r.code == 2, str(r)
    assert at(text, "comand", file="pipes/Other.yaml") + ": unknown key 'comand'" in r.err, str(r)


SIMPLE = """\
    version: 1
    steps:
      prepare:
        command: echo hi > ${{outputs.o}}
        outputs: {o: build/clean.csv}
      fit:
        command: cp ${{inputs.x}} ${{outputs.o}}
        inputs:
          x: ${{steps.prepare.outputs.o}}
        outputs: {o: build/model.txt}
"""


def test_run_unknown_target_did_you_mean(repo):
    repo.pipefile(SIMPLE)
    r = repo.pipe("run", "fti")
    find_error(r, None, "'fti' is neither a step nor an output path", hint="did you mean 'fit'?")
    assert not repo.exists("build")


def test_run_unknown_output_path_target_did_you_mean(repo):
    repo.pipefile(SIMPLE)
    r = repo.pipe("run", "build/model.tx")
    find_error(r, None, "'build/model.tx'", hint="did you mean 'build/model.txt'?")


def test_status_unknown_target(repo):
    repo.pipefile(SIMPLE)
    r = repo.pipe("status", "prepar")
    find_error(r, None, "'prepar'", hint="did you mean 'prepare'?")


def test_run_output_path_target_runs_its_producer(repo):
    repo.pipefile(SIMPLE)
    assert repo.outcomes("build/clean.csv") == {"prepare": "ran"}


def test_force_unknown_step(repo):
    repo.pipefile(SIMPLE)
    r = repo.pipe("run", "--force", "prep")
    find_error(r, None, "--force prep", "no step named 'prep'", hint="prepare")
    assert not repo.exists("build")


def test_invalid_pipefile_runs_nothing(repo):
    repo.pipefile("""\
        version: 1
        steps:
          a:
            command: echo ran > ${{outputs.o}}
            outputs: {o: build/a.txt}
          b:
            command: echo b > ${{outputs.o}}
            outputs: {o: build/b.txt}
            bogus: 1
        """)
    r = repo.pipe("run")
    assert r.code == 2, str(r)
    assert not repo.exists("build/a.txt")


def test_status_and_dag_also_validate(repo):
    text = """\
        version: 1
        steps:
          a:
            command: echo hi > ${{outputs.o}}
            outputs: {o: build/a.txt}
            bogus: 1
        """
    repo.pipefile(text)
    for cmd in ("status", "dag"):
        r = repo.pipe(cmd)
        find_error(r, at(text, "bogus"), "unknown key 'bogus'")


def test_an_absolute_target_inside_the_workspace_is_its_output(repo, tmp_path):
    # `pipe run "$PWD/build/model.txt"` (an editor's or a script's path): refused as "neither a
    # step nor an output path", with the relative spelling as the hint.
    import os

    repo.pipefile(SIMPLE)
    repo.write("data/raw.csv", "x\n")
    r = repo.pipe("run", str(repo.root / "build" / "clean.csv"), "--json")
    assert r.code == 0, str(r)
    assert [s["name"] for s in r.json["steps"]] == ["prepare"]
    # Through a link to the workspace too (the shell's $PWD keeps the link's name).
    os.symlink(repo.root, tmp_path / "ln")
    r = repo.pipe("status", str(tmp_path / "ln" / "build" / "model.txt"), "--json")
    assert r.code == 0 and [s["name"] for s in r.json["steps"]] == ["prepare", "fit"], str(r)
    r = repo.pipe("run", str(tmp_path / "elsewhere.txt"))
    find_error(r, None, "is neither a step nor an output path")
