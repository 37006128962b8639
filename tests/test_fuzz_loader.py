"""Fuzzing the Pipefile loader (issue 13): valid Pipefiles, mutated, must load into a spec or
into PipefileErrors, never into anything else (what the CLI reports as exit 70, "internal
error"), and within a bound of time and memory.

Seeds are Pipefile.example, the examples/ and the Pipefiles written by tests/test_validation.py.
Mutations work on the YAML structure (swap a value's type, delete or duplicate a key, nest a
value deeply, put odd scalars, unicode, NULs or huge numbers in it) and on the text (anchors
and aliases, "billion laughs" fragments, deep flow nesting, stray bytes, truncation). Under a
matrix, sweep or foreach, every place gets every odd value (not a sample: a value there
reaches the planner).

Budget: the profile "pipefile-fuzz" runs in well under a minute on two cores. For a longer
hunt: PIPE_FUZZ_EXAMPLES=5000 python -m pytest -q tests/test_fuzz_loader.py
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipefile import load
from pipefile.errors import PipefileError
from pipefile.speccache import load_graph

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("PIPE_FUZZ_EXAMPLES", "800"))
settings.register_profile(
    "pipefile-fuzz",
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="PIPE_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    database=None,
)
FUZZ = settings.get_profile("pipefile-fuzz")
SECONDS = 10  # per example, on a busy 2-core machine; a real hang or blow-up takes minutes
PEAK_BYTES = 256 << 20


def _seeds() -> list:
    out = [(ROOT / "Pipefile.example").read_text()]
    out += [p.read_text() for p in sorted((ROOT / "examples").glob("*/Pipefile"))]
    # The Pipefiles that tests/test_validation.py writes: string literals that look like one.
    tree = ast.parse((ROOT / "tests" / "test_validation.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "steps:" in node.value:
            text = textwrap.dedent(node.value)
            try:
                if isinstance(yaml.safe_load(text), dict):
                    out.append(text)
            except yaml.YAMLError:
                continue
    return out


SEEDS = _seeds()

ODD_SCALARS = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    float("inf"),
    float("nan"),
    10**400,
    -(10**30),
    "",
    " ",
    "~",
    "yes",
    "no",
    "1e9",
    "0x1F",
    "2024-01-01",
    "12:30:00",
    ".nan",
    "${{",
    "}}",
    "${{ params.x }}",
    "${{ inputs.nope }}",
    "$[[ x ]]",
    "${{ steps.a.outputs.b }}",
    "../outside",
    "/abs/path",
    ".pipe/x",
    "a\0b",
    "\u202e\u0000",
    "é" * 50,
    "\U0001f600",
    "x" * 3000,
    "\n\n",
    "- a",
    "{a: 1}",
    "&a",
    "*a",
    "!!python/object:os.system",
    "<<",
]
leaf = st.one_of(st.sampled_from(ODD_SCALARS), st.text(max_size=30), st.integers(), st.floats())
value = st.recursive(
    leaf,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=8), kids, max_size=4)),
    max_leaves=12,
)


def _paths(obj):
    """Places in the data (tuples of keys and indexes), down to a depth of 30."""
    todo = [((), obj)]
    while todo:
        prefix, o = todo.pop()
        yield prefix
        if len(prefix) < 30:
            items = o.items() if isinstance(o, dict) else enumerate(o) if isinstance(o, list) else ()
            todo.extend((prefix + (k,), v) for k, v in items)


def _get(obj, path):
    for p in path:
        obj = obj[p]
    return obj


@st.composite
def structural(draw):
    """A seed, loaded, changed in one to three places, dumped again."""
    data = yaml.safe_load(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(data))
        path = draw(st.sampled_from(paths))
        if not path:
            continue
        parent, key = _get(data, path[:-1]), path[-1]
        op = draw(st.sampled_from(["replace", "delete", "nest", "swap_key", "copy"]))
        if op == "replace":
            parent[key] = draw(value)
        elif op == "delete":
            del parent[key]
        elif op == "nest":  # deep, up to just past the bound
            depth = draw(st.sampled_from([2, 10, 95, 99, 100, 101, 150, 2000]))
            v = parent[key]
            for _ in range(depth):
                v = [v] if draw(st.booleans()) else {"a": v}
            parent[key] = v
        elif op == "swap_key" and isinstance(parent, dict):
            new = draw(st.sampled_from(["", "a b", "-x", "é", "steps", "params", "<<", "command", "0", "x" * 300]))
            parent[new] = parent.pop(key)
        elif op == "copy":  # the same value in two places
            other = draw(st.sampled_from(paths))
            if other and not other[: len(path)] == path and not path[: len(other)] == other:
                try:
                    _get(data, other[:-1])[other[-1]] = parent[key]
                except (KeyError, IndexError, TypeError):
                    pass
    try:
        # aliases where the same value is in two places: PyYAML writes &id001 / *id001
        return yaml.safe_dump(data, allow_unicode=draw(st.booleans()), sort_keys=False, width=10**6)
    except (yaml.YAMLError, RecursionError, ValueError):
        return yaml.safe_dump({"version": 1}, sort_keys=False)


@st.composite
def textual(draw):
    """A seed, changed as text: what a dump of data can not write."""
    text = draw(st.sampled_from(SEEDS))
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        op = draw(
            st.sampled_from(
                ["anchor_alias", "laughs", "deep_flow", "dup_line", "insert", "truncate", "bytes", "merge", "cycle"]
            )
        )
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        line = lines[i] if lines else ""
        indent = line[: len(line) - len(line.lstrip())]
        if op == "anchor_alias" and ": " in line:
            k, v = line.split(": ", 1)
            lines[i] = f"{k}: &fz {v}"
            j = draw(st.integers(0, len(lines)))
            lines.insert(j, f"{indent}{draw(st.sampled_from(['description', 'command', 'x']))}: *fz")
        elif op == "laughs":
            n = draw(st.integers(2, 12))
            width = draw(st.integers(2, 10))
            frag = [f"{indent}l0: &l0 [{', '.join(['lol'] * width)}]"]
            frag += [f"{indent}l{k}: &l{k} [{', '.join([f'*l{k - 1}'] * width)}]" for k in range(1, n)]
            lines[i:i] = frag
        elif op == "deep_flow":
            n = draw(st.sampled_from([99, 100, 101, 1000, 5000, 50_000]))
            o, c = draw(st.sampled_from([("[", "]"), ("{a: ", "}")]))
            lines.insert(i, f"{indent}deep: {o * n}1{c * n}")
        elif op == "dup_line":
            lines.insert(i, line)
        elif op == "insert":
            lines.insert(i, indent + draw(st.text(max_size=20)))
        elif op == "truncate":
            lines = lines[:i] + ([line[: draw(st.integers(0, len(line)))]] if line else [])
        elif op == "bytes":
            pos = draw(st.integers(0, len(line)))
            junk = draw(
                st.sampled_from(
                    [
                        '"\\0"',
                        '"\\x00"',
                        "\x01",
                        "\ufeff",
                        "\t",
                        "\r",
                        "'",
                        '"',
                        "%",
                        "@",
                        "`",
                        "!!binary",
                        "!custom",
                        "? ",
                        "\u2028",
                        "\udcff",
                    ]
                )
            )
            lines[i] = line[:pos] + junk + line[pos:]
        elif op == "merge" and ": " in line:
            lines.insert(i + 1, f"{indent}<<: {draw(st.sampled_from(['*fz', '[*fz, *fz]', '5', '[1, 2]', '{}']))}")
        elif op == "cycle":
            lines.insert(i, f"{indent}cyc: &cy [1, *cy]")
    return "\n".join(lines) + "\n"


def _load_in_process(path: Path) -> None:
    """The loader and the graph builder on `path`: a spec, or PipefileError; nothing else."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        load_graph(str(path), freeze=False)
    except PipefileError as e:
        e.render()  # rendering must not fail either (or take long)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert time.monotonic() - started < SECONDS
    assert peak < PEAK_BYTES, f"{peak >> 20} MiB"


def _write(tmp_path_factory, text) -> Path:
    ws = tmp_path_factory.mktemp("fz")
    path = ws / "Pipefile"
    try:
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        path.write_bytes(text.encode("utf-8", "replace"))
    return path


def test_the_seeds_load():
    assert len(SEEDS) > 20
    assert load.load(str(ROOT / "Pipefile.example"))


@FUZZ
@given(text=st.one_of(structural(), textual()))
def test_mutated_pipefiles_load_or_fail_cleanly(tmp_path_factory, text):
    _load_in_process(_write(tmp_path_factory, text))


@settings(FUZZ, max_examples=max(EXAMPLES // 25, 8))
@given(text=st.one_of(structural(), textual()))
def test_mutated_pipefiles_through_the_cli(tmp_path_factory, text):
    path = _write(tmp_path_factory, text)
    env = dict(os.environ, PIPE_PLAIN="1")
    p = subprocess.run(
        [sys.executable, "-m", "pipefile", "validate"],
        cwd=path.parent,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert p.returncode in (0, 2), p.stderr[-3000:]
    assert "internal error" not in p.stderr and "Traceback" not in p.stderr, p.stderr[-3000:]
    assert not (path.parent / ".pipe").exists(), "validate writes nothing"


@pytest.mark.parametrize(
    "text",
    [
        # found by this fuzzer or named in the issue: each a clean error now
        "version: 1\nsteps:\n  s:\n    command: echo\n    description: " + "[" * 5000 + "]" * 5000 + "\n",
        "version: 1\nsteps:\n  a: &a {command: echo, <<: *a}\n",
        "version: 1\nparams:\n  p: {default: &c [1, *c]}\nsteps:\n  s: {command: echo}\n",
        "version: 1\nsteps: !!binary aGVsbG8=\n",
        "version: 1\nparams:\n  p: {default: !!set {a, b}}\nsteps:\n  s: {command: echo, description: !local x}\n",
        "version: 1\nsteps:\n  s: {command: !!python/object:os.system echo}\n",
        "version: 1\nparams:\n  p: 1" + "0" * 5000 + "\nsteps:\n  s: {command: echo}\n",
        "version: 1\nparams:\n  p: {default: .inf}\nsteps:\n  s: {command: 'echo ${{params.p}}'}\n",
        # merge keys of merge keys: flattening them recursed once per link
        "version: 1\nsteps:\n  s0: &m0 {command: echo}\n"
        + "".join(f"  s{i}: &m{i} {{<<: *m{i - 1}, description: x}}\n" for i in range(1, 2000)),
        # an empty search read as none: the sweep became a map of no items (KeyError, exit 70)
        "version: 1\nsteps:\n  t:\n    sweep: {search: '', space: {lr: {uniform: [0, 1]}}, objective: {metric: acc}}\n"
        "    inputs: {lr: {type: number}}\n    command: echo ${{inputs.lr}} > ${{outputs.m}}\n"
        "    outputs: {m: build/m.json}\n    metrics: build/m.json\n",
    ],
    ids=[
        "deep-description",
        "self-merge",
        "cycle",
        "binary",
        "set-and-local-tags",
        "python-tag",
        "5000-digits",
        "inf",
        "merge-chain",
        "empty-search",
    ],
)
def test_known_hostile_inputs(tmp_path_factory, text):
    _load_in_process(_write(tmp_path_factory, text))


# The keys whose values are read by the expansions (matrix, sweep, foreach): their odd values
# reach the planner, past the loader (an empty `search:` did, as exit 70).
_EXPANSIONS = ("matrix", "sweep", "foreach")
_ODD_FIELD_VALUES = ["", None, 0, -1, 1.5, True, [], {}, ["x"], {"a": 1}, "x"]


def _expansion_cases() -> list:
    """Each seed with an expansion, one place under it replaced by one odd value: every place
    and value, not a sample (a random walk over the whole file rarely lands there)."""
    import copy

    out = []
    for seed in SEEDS:
        data = yaml.safe_load(seed)
        steps = data.get("steps") if isinstance(data, dict) else None
        if not isinstance(steps, dict):
            continue
        for name, step in steps.items():
            for key in _EXPANSIONS:
                if not isinstance(step, dict) or key not in step:
                    continue
                for place in _paths(step[key]):
                    for odd in _ODD_FIELD_VALUES:
                        d = copy.deepcopy(data)
                        at = d["steps"][name]
                        path = (key,) + place
                        _get(at, path[:-1])[path[-1]] = copy.deepcopy(odd)
                        out.append(yaml.safe_dump(d, sort_keys=False, width=10**6))
    return list(dict.fromkeys(out))


def test_odd_values_in_every_place_of_an_expansion(tmp_path):
    cases = _expansion_cases()
    assert len(cases) > 100
    path = tmp_path / "Pipefile"
    for text in cases:
        path.write_text(text)
        try:
            load_graph(str(path), freeze=False)
        except PipefileError as e:
            e.render()


# A Pipefile used as a component is read, then turned into one, even when it has errors of
# its own: its odd values reach code the top Pipefile's do not (an undeclared param did, exit 70).
_NESTED_SEED = """\
params: {lr: 0.1, n: {type: integer, default: 3}}
assets:
  raw: {path: data/raw.csv, input: true}
steps:
  prep:
    command: cp ${{inputs.raw}} ${{outputs.clean}} && echo ${{params.lr}}
    inputs: {raw: "${{assets.raw}}", n: "${{params.n}}"}
    outputs:
      clean: {path: build/clean.csv, output: true}
  fit:
    command: [python, fit.py, "${{inputs.data}}", "${{outputs.model}}"]
    code: [fit.py]
    inputs: {data: "${{steps.prep.outputs.clean}}"}
    outputs:
      model: {path: build/model, type: uri_folder, output: true}
"""
_NESTED_ODD = [None, "", 0, True, [], {}, ["x"], "../x", "${{params.zz}}", "${{steps.zz.outputs.o}}", "${{assets.zz}}"]


def test_odd_values_in_every_place_of_a_pipefile_used_as_a_component(tmp_path):
    import copy

    (tmp_path / "sub").mkdir()
    (tmp_path / "Pipefile").write_text(
        "steps:\n  t:\n    component: ./sub\n    outputs: {model: build/m}\n"
        "  after:\n    command: ls ${{inputs.m}}\n    inputs: {m: '${{steps.t.outputs.model}}'}\n"
    )
    data = yaml.safe_load(_NESTED_SEED)
    for place in [p for p in _paths(data) if p]:
        for odd in _NESTED_ODD:
            d = copy.deepcopy(data)
            _get(d, place[:-1])[place[-1]] = copy.deepcopy(odd)
            (tmp_path / "sub" / "Pipefile").write_text(yaml.safe_dump(d, sort_keys=False, width=10**6))
            try:
                load_graph(str(tmp_path / "Pipefile"), freeze=False)
            except PipefileError as e:
                e.render()
