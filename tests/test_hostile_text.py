"""Text and numbers that files and remotes choose (attack review of issue 13, findings 7 and 8).

A committed remotes file, a step's metrics file and a remote's artifact records are written by
someone else: any shape they take is a located error or a warning (never exit 70), and any text
of theirs that pipe prints is escaped (no terminal escape sequence, no forged line).
"""

from __future__ import annotations

import json
import os

import pytest
from workspace_repo import Repo

ESC = "\x1b]0;pwned\x07\x1b[2J"  # an OSC title change and a screen clear
FORGED = "x\nfake-row 99"


def _clean(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text, text
    assert "\nfake-row" not in text, text


# --- finding 7: a committed .pipe-remotes.yaml of any shape -------------------------------
ONE = """\
version: 1
steps:
  s: {command: echo hi}
"""


@pytest.mark.parametrize(
    "body, line, words",
    [
        (
            "version: 1\nremotes:\n  team:\n    url: /tmp/x\n    options: {auto_mkdir: true, 1: 2}\n",
            5,
            ["option 1 of remote 'team' is not a name"],
        ),
        (
            "version: 1\nremotes:\n  team:\n    url: /tmp/x\n    options:\n      [a, b]: 2\n",
            6,
            ["invalid YAML", "unhashable key"],
        ),
        (
            "version: 1\nremotes:\n  team:\n    url: /tmp/x\n    options:\n      since: 2024-01-01\n",
            6,
            ["option 'since' of remote 'team' holds a date"],
        ),
        (
            "version: 1\nremotes:\n  team:\n    url: /tmp/x\n    options:\n      client_kwargs: {2: x}\n",
            6,
            ["option 'client_kwargs' of remote 'team' has a key 2"],
        ),
        ("version: 1\ndefault: [team]\nremotes:\n  team: {url: /tmp/x}\n", 2, ["'default' must be the name"]),
        ("version: [1]\nremotes: {}\n", 1, ["version [1] is not one this pipe reads"]),
        ("version: 1\nremotes:\n  team: {url: ''}\n", 3, ["remote 'team' needs a 'url'"]),
    ],
)
def test_a_remotes_file_of_a_bad_shape_is_a_located_exit_2(repo, body, line, words):
    repo.pipefile(ONE)
    repo.write(".pipe-remotes.yaml", body, dedent=False)
    for args in (
        ("remote", "list"),
        ("remote", "list", "--json"),
        ("status", "--remote", "team"),
        ("run", "--remote", "team"),
        ("push", "--remote", "team"),
    ):
        r = repo.pipe(*args)
        assert r.code == 2, (args, str(r))
        assert f".pipe-remotes.yaml:{line}:" in r.err and "hint:" in r.err, (args, str(r))
        for w in words:
            assert w in r.err, (args, str(r))


def test_nested_options_of_plain_data_still_work(repo, tmp_path):
    repo.pipefile(ONE)
    repo.write(
        ".pipe-remotes.yaml",
        f"version: 1\nremotes:\n  team:\n    url: {tmp_path / 'c'}\n"
        "    options: {auto_mkdir: true, client_kwargs: {a: [1, 2.5, null]}}\n",
        dedent=False,
    )
    r = repo.pipe("remote", "list", "--json")
    assert r.code == 0, str(r)
    assert r.json["remotes"][0]["options"] == {"auto_mkdir": True, "client_kwargs": {"a": [1, 2.5, None]}}


def test_remote_list_escapes_what_the_file_says(repo, tmp_path):
    repo.pipefile(ONE)
    repo.write(
        ".pipe-remotes.yaml",
        'version: 1\nremotes:\n  team:\n    url: /tmp/x\n    options: {region: "eu\\e]0;pwned\\a\\nfake-row 99"}\n',
        dedent=False,
    )
    r = repo.pipe("remote", "list")
    assert r.code == 0, str(r)
    _clean(r.out)
    assert "\\x1b]0;pwned\\x07" in r.out


# --- finding 8: metrics files -----------------------------------------------------------
def _metrics_step(repo, content: str) -> None:
    repo.write("gen.py", "import sys\nopen(sys.argv[1], 'w').write(open('m.src').read())\n")
    repo.write("m.src", content, dedent=False)
    repo.pipefile("""
        version: 1
        steps:
          s:
            command: python3 gen.py ${{outputs.m}}
            code: [gen.py, m.src]
            outputs: {m: build/m.json}
            metrics: [build/m.json]
    """)


def test_a_number_no_float_holds_is_a_warning_not_a_crash(repo):
    big = "1" + "0" * 400
    _metrics_step(repo, json.dumps({"ok": 2})[:-1] + f', "big": {big}, "deep": {{"neg": -{big}}}, "fine": 1e3}}')
    r = repo.pipe("run")
    assert r.code == 0, str(r)
    assert "warning: step 's': metrics file 'build/m.json': 'big' is a number too large for a float" in r.err
    assert "'deep.neg' is a number too large" in r.err
    r = repo.pipe("jobs", "show", "last", "--json")
    assert r.code == 0 and r.json["status"] == "succeeded", str(r)
    r = repo.pipe("metrics", "show", "--json")
    assert r.json["jobs"][0]["metrics"] == {"s.ok": 2.0, "s.fine": 1000.0}


def test_metric_names_are_printed_escaped(repo):
    _metrics_step(repo, json.dumps({"acc" + ESC: 0.5, FORGED: 1, "[bold]loss": 2}))
    r = repo.pipe("run")
    assert r.code == 0, str(r)
    for args in (
        ("metrics", "show"),
        ("metrics", "history", "nope"),
        ("metrics", "history", "acc"),
        ("metrics", "diff", "last", "last"),
        ("metrics", "history", "s.[bold]loss"),
    ):
        r = repo.pipe(*args)
        _clean(r.out + r.err)
    r = repo.pipe("metrics", "show")
    assert "s.acc\\x1b]0;pwned\\x07\\x1b[2J" in r.out and "s.x\\nfake-row 99" in r.out and "[bold]loss" in r.out
    r = repo.pipe("metrics", "history", "nope")
    assert r.code == 2 and "s.x\\nfake-row 99" in r.err, str(r)


# --- finding 8: artifact records from a remote -------------------------------------------
def test_artifact_records_from_a_remote_are_printed_escaped(tmp_path):
    a, b = Repo(tmp_path / "a"), Repo(tmp_path / "b")
    for ws in (a, b):
        ws.root.mkdir()
        ws.pipefile("""
            version: 1
            steps:
              train:
                command: mkdir -p ${{outputs.model}} && echo weights > ${{outputs.model}}/w
                outputs: {model: {path: build/model, name: model}}
            """)
    assert a.pipe("run").code == 0
    cache = tmp_path / "cache"
    assert a.pipe("push", "--all-jobs", "--remote", str(cache)).code == 0
    # the artifact's record, and its version number's in the team registry, both rewritten
    records = list((cache / "artifacts" / "model").glob("*.json")) + list((cache / "versions").rglob("*.json"))
    assert len(records) >= 2, records
    for rec_path in records:
        rec = json.loads(rec_path.read_text())
        for field in ("path", "step", "output"):
            if field in rec:
                rec[field] = {"path": "build/m" + ESC + "\nfake-row 99", "step": "tr" + ESC, "output": "o" + ESC}[field]
        rec_path.write_text(json.dumps(rec))
    r = b.pipe("pull", "--all-jobs", "--remote", str(cache))
    assert r.code == 0, str(r)
    for args in (
        ("artifacts", "show", "model:1"),
        ("artifacts", "show", "model"),
        ("artifacts",),
        ("lineage", "model:1"),
        ("lineage", "model:1", "--format", "mermaid"),
        ("lineage", "model:1", "--format", "dot"),
    ):
        r = b.pipe(*args)
        assert r.code == 0, (args, str(r))
        _clean(r.out + r.err)
    r = b.pipe("artifacts", "show", "model:1")
    assert "build/m\\x1b]0;pwned\\x07\\x1b[2J\\nfake-row 99" in r.out, str(r)


def test_an_error_never_carries_a_terminal_escape(repo):
    """The last line of defence: whatever an error message quotes, it is printed escaped."""
    repo.pipefile(ONE)
    r = repo.pipe("remote", "remove", "x" + ESC)
    assert r.code == 2
    _clean(r.err)
    assert os.path.exists(repo.root / "Pipefile")
