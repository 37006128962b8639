"""docs/concepts.md is the glossary: one word per concept. The words the code and the CLI
print for a verdict, an outcome and a job's status are the ones it lists, and a line the docs
quote from `pipe status` is the line it prints."""

from __future__ import annotations

import re
from pathlib import Path

from workspace_repo import Repo

from pipefile.outcomes import JobState, JobStatus, Outcome
from pipefile.rebuilder import Verdict

DOCS = Path(__file__).resolve().parent.parent / "docs"


def glossary_row(word: str) -> set[str]:
    """The `code` words of the row of concepts.md that defines **word**."""
    text = (DOCS / "concepts.md").read_text(encoding="utf-8")
    m = re.search(rf"^\| \*\*{word}\*\* \|(.*)$", text, re.M)
    assert m, f"concepts.md defines no **{word}**"
    return set(re.findall(r"`([^`]+)`", m.group(1)))


def test_glossary_lists_every_word_of_the_code() -> None:
    assert {v.value for v in Verdict} <= glossary_row("verdict")
    # restore-failed is never final and never shown (the scheduler runs the task instead).
    assert {o.value for o in Outcome} - {Outcome.RESTORE_FAILED.value} <= glossary_row("outcome")
    assert {s.value for s in JobStatus} <= glossary_row("status")
    status_row = (DOCS / "concepts.md").read_text(encoding="utf-8").split("| **status** |")[1].split("\n")[0]
    assert {s.value for s in JobState} - {s.value for s in JobStatus} <= set(re.findall(r"`([^`]+)`", status_row))


def test_glossary_names_the_words_the_run_prints(tmp_path: Path) -> None:
    """Each word at the start of a line `pipe run` prints for a task is a verdict or an
    outcome word the glossary gives (a word the CLI prints that the glossary does not name
    is a second word for a concept, unexplained)."""
    repo = Repo(tmp_path)
    repo.pipefile(
        """\
        steps:
          a:
            command: echo a > ${{outputs.o}}
            outputs: {o: build/a.txt}
          b:
            command: cat ${{inputs.i}} > ${{outputs.o}}; exit 1
            inputs: {i: "${{steps.a.outputs.o}}"}
            outputs: {o: build/b.txt}
          c:
            command: cat ${{inputs.i}} > ${{outputs.o}}
            inputs: {i: "${{steps.b.outputs.o}}"}
            outputs: {o: build/c.txt}
        """
    )
    printed = set()
    for args in (("run", "-n"), ("run",)):
        r = repo.pipe(*args)
        printed |= {m.group(1) for m in re.finditer(r"^(\w+(?: run| restore)?) +[abc]\b", r.err + r.out, re.M)}
    assert {"ok", "FAILED", "skipped", "would run", "run"} <= printed
    known = glossary_row("verdict") | glossary_row("outcome")
    assert printed <= known, f"printed but not in docs/concepts.md: {sorted(printed - known)}"


def test_empty_map_status_line_is_the_one_pipefile_md_quotes(tmp_path: Path) -> None:
    text = (DOCS / "pipefile.md").read_text(encoding="utf-8")
    m = re.search(r"\*\*An empty map\.\*\*.*?`pipe status` shows it as\s*`([^`]+)`", text, re.S)
    assert m
    repo = Repo(tmp_path)
    repo.pipefile(
        """\
        steps:
          score:
            foreach: ${{inputs.images}}
            inputs: {images: data/imgs/}
            command: cp ${{inputs.images}} ${{outputs.scores}}
            outputs: {scores: build/scores/}
        """
    )
    (tmp_path / "data/imgs").mkdir(parents=True)
    out = repo.pipe("status").out
    quoted = m.group(1).replace("STEP", "score").split()
    assert any(line.split() == quoted for line in out.splitlines()), out


def test_jobs_md_names_the_current_database_versions() -> None:
    from pipefile.jobdb.schema import JOBS_VERSION, SCHEMA_REVISION

    text = (DOCS / "jobs.md").read_text(encoding="utf-8")
    m = re.search(r"`jobs_version` \(now (\d+)\) and a `schema_revision` \(now ([\d.]+)[,:;)]", text)
    assert m, "jobs.md no longer says which versions jobs.db is at"
    assert (int(m.group(1)), m.group(2)) == (JOBS_VERSION, SCHEMA_REVISION)


def test_glossary_says_where_the_cli_calls_value_inputs_params(tmp_path: Path) -> None:
    """`pipe components show` heads a component's value-typed inputs `params:` (and its JSON
    key is `params`), a second use of the glossary's word: the glossary must say so."""
    r = Repo(tmp_path).pipe("components", "show", "std/split_data")
    assert r.code == 0, str(r)
    headings = set(re.findall(r"^(\w+):$", r.out, re.M))
    assert "params" in headings
    row = (DOCS / "concepts.md").read_text(encoding="utf-8").split("| **param** |")[1].split("\n")[0]
    assert "`pipe components show`" in row and "`params`" in row, row
