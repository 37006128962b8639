"""What a failed step says: the command as written, the command as it ran (with staging
paths) and what each staging path stands for; a folder where a file was declared is named
as such, wherever the step wrote it (docker steps: tests/test_envs_docker.py)."""

from __future__ import annotations

import pytest


def test_a_failure_shows_the_command_as_it_ran_and_what_each_staging_path_stands_for(repo):
    repo.pipefile("""\
        version: 1
        steps:
          train:
            command: |
              echo training
              python -c "import sys; sys.exit(3)" --out ${{outputs.model}} --also build/literal.txt
            outputs: {model: build/model, l: build/literal.txt}
        """)
    r = repo.pipe("run")
    assert r.code == 1, str(r)
    lines = r.err.splitlines()
    i = lines.index("  command: echo training")
    # Both lines of a multi-line command, lined up under the first.
    assert lines[i + 1] == '           python -c "import sys; sys.exit(3)" --out build/model --also build/literal.txt'
    assert lines[i + 2] == "  ran:     echo training"
    assert lines[i + 3] == (
        '           python -c "import sys; sys.exit(3)" --out .pipe/stage/train.model.model --also build/literal.txt'
    )
    # Only the staging paths the command names: build/literal.txt was written as it is.
    assert lines[i + 4] == "           .pipe/stage/train.model.model = build/model"
    assert lines[i + 5].startswith("  log: ")


def test_a_command_without_outputs_placeholders_shows_no_ran_line(repo):
    repo.pipefile("""\
        version: 1
        steps:
          s: {command: "exit 4", outputs: {o: out.txt}}
        """)
    r = repo.pipe("run")
    assert r.code == 1 and "  command: exit 4" in r.err and "  ran:" not in r.err, str(r)


@pytest.mark.parametrize(
    "command",
    ["mkdir ${{outputs.f}}", "mkdir build/f.txt", "mkdir -p ${{outputs.f}} && echo hi > ${{outputs.f}}/x"],
    ids=["empty-staged", "empty-literal", "full-staged"],
)
def test_a_folder_where_a_file_was_declared_says_so(repo, command):
    repo.pipefile(f"""\
        version: 1
        steps:
          a:
            command: {command}
            outputs: {{f: {{type: uri_file, path: build/f.txt}}}}
        """)
    r = repo.pipe("run")
    assert r.code == 1, str(r)
    assert "where a file was declared: output 'f' ('build/f.txt') is a uri_file" in r.err, str(r)
    assert "did not write" not in r.err
    assert not repo.exists("build/f.txt") and not list((repo.root / ".pipe/stage").iterdir())
