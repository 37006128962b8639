"""The Pipefiles the docs show still load, and README's first look runs as it says: an example
that no longer loads is the first thing a new user copies and the first error they meet."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from workspace_repo import Repo

from pipefile.errors import PipefileError, PipefileErrors
from pipefile.load import loads

ROOT = Path(__file__).resolve().parent.parent
# The pages of this area (docs/cli.md, remotes.md and the serving pages are checked by their own tests).
PAGES = [
    *(
        ROOT / "docs" / n
        for n in (
            "pipefile.md",
            "artifacts.md",
            "components.md",
            "std-components.md",
            "metrics.md",
            "environments.md",
            "distributed.md",
            "jobs.md",
            "store.md",
            "report.md",
            "ui.md",
            "ci.md",
            "dsl.md",
            "azureml.md",
        )
    ),
    ROOT / "README.md",
]
# Blocks that show part of a Pipefile on purpose, by the first line of the block and why:
# each reads as part of the text around it, not as a file to copy.
FRAGMENTS = {
    ("pipefile.md", "steps:\n  fit:\n    component: train"): "the step using the component of the block above",
    ("pipefile.md", "environments:"): "`{environment: prep, ...}`: the rest of the step elided",
    ("pipefile.md", "components:\n  train:\n    type: pipeline"): "`component: fit` is any component",
    ("environments.md", "environments:"): "`...`: the rest of the steps elided",
}


def pipefile_blocks() -> list[tuple[str, int, str]]:
    """(page, line, text) of each ```yaml block that has a top-level `steps:`: a Pipefile."""
    out = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in re.finditer(r"^```yaml\n(.*?)^```", text, re.M | re.S):
            if re.search(r"^steps:", m.group(1), re.M):
                out.append((page.name, text[: m.start()].count("\n") + 2, m.group(1)))
    return out


def _fragment(page: str, body: str) -> bool:
    return any(page == p and body.startswith(head) for p, head in FRAGMENTS)


@pytest.mark.parametrize(
    "page,line,body", pipefile_blocks(), ids=lambda v: str(v) if isinstance(v, (int, str)) and len(str(v)) < 30 else ""
)
def test_docs_pipefile_blocks_load(tmp_path: Path, page: str, line: int, body: str) -> None:
    if _fragment(page, body):
        pytest.skip(f"{page}:{line}: a fragment")
    try:
        loads(body, str(tmp_path / "Pipefile"))
    except (PipefileError, PipefileErrors) as e:
        pytest.fail(f"docs/{page}:{line}: the example Pipefile does not load:\n{e}")


def test_every_listed_fragment_is_still_in_the_docs() -> None:
    # A fragment fixed or removed must leave the list, so that its block is checked again.
    blocks = pipefile_blocks()
    for page, head in FRAGMENTS:
        assert any(p == page and b.startswith(head) for p, _, b in blocks), (page, head)


def test_readme_first_look_runs_as_shown(tmp_path: Path) -> None:
    """README.md's Pipefile with two small scripts: the `pipe run` lines under it do what their
    comments say."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"A Pipefile looks so:\s*```yaml\n(.*?)^```", readme, re.M | re.S)
    assert m
    repo = Repo(tmp_path)
    repo.pipefile(m.group(1))
    repo.write("data/raw.csv", "a,b\n1,2\n")
    repo.write("src/prepare.py", "import shutil, sys\nshutil.copy(sys.argv[1], sys.argv[2])\n")
    repo.write(
        "src/train.py",
        "import os, sys\n"
        "a = dict(zip(sys.argv[1::2], sys.argv[2::2]))\n"
        "os.makedirs(a['--out'], exist_ok=True)\n"
        "open(os.path.join(a['--out'], 'lr'), 'w').write(a['--lr'])\n",
    )
    assert repo.outcomes() == {"prepare": "ran", "train": "ran"}
    assert repo.outcomes() == {"prepare": "fresh", "train": "fresh"}
    assert repo.outcomes("-p", "lr=0.02") == {"prepare": "fresh", "train": "ran"}
    assert repo.outcomes() == {"prepare": "fresh", "train": "restored"}
    assert repo.read("build/model/lr") == "0.01"
    assert repo.pipe("status").code == 0
    assert repo.pipe("dag", "--format", "mermaid").out.startswith("graph")


@pytest.mark.parametrize(
    "page,line,body",
    pipefile_blocks(),
    ids=lambda v: str(v) if isinstance(v, (int, str)) and len(str(v)) < 30 else "",
)
def test_docs_pipefile_blocks_pass_the_editor_schema(page: str, line: int, body: str) -> None:
    """pipefile.md says the JSON Schema checks the file's shape: a Pipefile the docs show (and
    pipe loads) must not be underlined as wrong in the editor."""
    import json

    import jsonschema
    import yaml

    if _fragment(page, body):
        pytest.skip(f"{page}:{line}: a fragment")
    schema = json.loads((ROOT / "pipefile/schema/pipefile.schema.json").read_text(encoding="utf-8"))
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft202012Validator(schema).iter_errors(yaml.safe_load(body))
    ]
    assert not errors, f"docs/{page}:{line}: the editor schema rejects the example: {errors}"


def test_the_variables_a_command_gets_are_the_ones_pipefile_md_lists(tmp_path: Path) -> None:
    text = (ROOT / "docs/pipefile.md").read_text(encoding="utf-8")
    m = re.search(r"with the\s+environment of `pipe` plus (.*?)\.\n", text, re.S)
    assert m, "pipefile.md no longer says which variables a command gets"
    listed = set(re.findall(r"`([A-Z_]+)(?:=[^`]*)?`", m.group(1)))
    repo = Repo(tmp_path)
    repo.pipefile(
        """\
        steps:
          a:
            command: env | sed 's/=.*//' | grep -E '^(PIPE_|PYTHONUNBUFFERED$|CUDA_VISIBLE_DEVICES$)' | sort > ${{outputs.o}}
            outputs: {o: build/names.txt}
        """
    )
    # What pipe itself was started with passes through (PIPE_PLAIN is the test harness's).
    outer = {k for k in os.environ if k.startswith("PIPE_")} | {"PIPE_PLAIN"}
    assert repo.outcomes() == {"a": "ran"}
    given = set(repo.read("build/names.txt").split()) - outer
    assert given <= listed, f"a command gets {sorted(given - listed)}, which pipefile.md does not list"
