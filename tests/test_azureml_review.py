"""Azure ML pipelines run here (docs/azureml.md): faults found in review, each kept fixed.
Real `pipe` runs in temporary workspaces; no mocks."""

from __future__ import annotations

import shutil
from pathlib import Path

from workspace_repo import Repo

FIXTURES = Path(__file__).parent / "azureml_fixtures"


def _fixture(repo, name: str) -> None:
    shutil.copytree(FIXTURES / name, repo.root, dirs_exist_ok=True)


def _pipe(repo, *args):
    """`pipe ARGS` with the fixture's environment map (every environment -> this interpreter)."""
    return repo.pipe(*args, env={"PIPE_AZUREML_ENV_MAP": str(repo.root / "envmap.yml")})


_COPY = """\
import sys
with open(sys.argv[1]) as f:
    text = f.read()
with open(sys.argv[2] + "/copy.txt", "w") as f:
    f.write(text)
"""

_COPY_PIPELINE = """\
type: pipeline
inputs:
  data: {type: uri_file, path: ./data/in.txt}
jobs:
  copy:
    code: ./src
    command: python copy.py ${{inputs.data}} ${{outputs.out}}
    inputs:
      data: ${{parent.inputs.data}}
    outputs:
      out: {type: uri_folder}
"""


def test_a_workspace_whose_path_has_a_space_gives_each_path_as_one_word(tmp_path):
    # Azure's own paths never hold a space; a local workspace may ("My Projects"): the
    # absolute paths pipe writes into the command must still reach the script whole.
    (tmp_path / "t").mkdir()  # where the first word of a split path would point
    repo = Repo(tmp_path / "my projects")
    repo.root.mkdir()
    repo.write("src/copy.py", _COPY)
    repo.write("data/in.txt", "hello\n")
    repo.write("pipeline.yml", _COPY_PIPELINE)
    r = repo.pipe("run", "-f", "pipeline.yml")
    assert r.code == 0, str(r)
    assert repo.read(".azureml-outputs/pipeline/copy/out/copy.txt") == "hello\n"
    # a path without such characters is written as before: the step's key is unchanged
    r = repo.pipe("status", "-f", "pipeline.yml")
    assert r.code == 0 and "fresh" in r.out, str(r)
    assert not list(Path(tmp_path / "t").iterdir())
