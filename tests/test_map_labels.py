"""Labels of expanded steps under odd values, end to end through `pipe`: a label is a file
name (an entry of the gathered folder, a part of a rendered output path), so no value may
spell the folder itself, its parent, or another value's label. (Label escaping of `/`, `,`,
`]`, `%`: test_compose.py.)"""

from __future__ import annotations

import json
import os

from test_compose import ran


def test_a_list_param_map_over_dot_names_and_empty_values_keeps_each_below_its_folder(repo):
    # "." and ".." were the gathered folder itself and its parent (the task moved build/out
    # aside and failed, "Device or resource busy"); "''" was the empty value's label too.
    values = [".", "..", "", "''", "%2E", "a"]
    repo.pipefile(
        f"""\
        version: 1
        params:
          vals: {{type: list, default: {json.dumps(values)}}}
        steps:
          each:
            foreach: ${{{{inputs.v}}}}
            inputs: {{v: "${{{{params.vals}}}}"}}
            command: printf '%s' "${{{{inputs.v}}}}" > ${{{{outputs.out}}}}
            outputs: {{out: build/out/}}
          all:
            inputs: {{o: "${{{{steps.each.outputs.out}}}}"}}
            command: cat ${{{{inputs.o}}}}/* > ${{{{outputs.x}}}}
            outputs: {{x: build/all.txt}}
        """
    )
    repo.write("build/keep.txt", "mine\n")
    assert ran(repo.outcomes()) == {f"each[{x}]" for x in _labels()} | {"all"}
    entries = sorted(os.listdir(repo.root / "build/out"))
    assert entries == sorted(_labels())
    assert sorted(repo.read(f"build/out/{e}") for e in entries) == sorted(values)
    assert sorted(os.listdir(repo.root / "build")) == ["all.txt", "keep.txt", "out"]
    assert repo.read("build/keep.txt") == "mine\n"
    assert ran(repo.outcomes()) == set()  # a no-op stays one


def _labels() -> list:
    return ["%2E", "%2E%2E", "''", "%27%27", "%252E", "a"]


def test_a_matrix_value_never_climbs_out_of_a_rendered_output_path(repo):
    # build/x/${{inputs.v}}/m.txt with v=".." was build/m.txt: outside the declared folder.
    repo.pipefile(
        """\
        version: 1
        steps:
          t:
            matrix:
              v: ["a", "..", ".", "", "''"]
            inputs: {v: {type: string}}
            command: printf '%s' "${{inputs.v}}" > ${{outputs.m}}; printf '%s' "${{inputs.v}}" > ${{outputs.n}}
            outputs: {m: "build/x/${{inputs.v}}/m.txt", n: "build/y/n-${{inputs.v}}.txt"}
        """
    )
    assert ran(repo.outcomes()) == {"t[v=a]", "t[v=..]", "t[v=.]", "t[v='']", "t[v=%27%27]"}
    assert sorted(os.listdir(repo.root / "build")) == ["x", "y"]
    # inside a part of the path, a dot is only a dot (names as before)
    assert sorted(os.listdir(repo.root / "build/y")) == sorted(
        ["n-a.txt", "n-...txt", "n-..txt", "n-''.txt", "n-%27%27.txt"]
    )
    assert sorted(os.listdir(repo.root / "build/x")) == sorted(["a", "%2E%2E", "%2E", "''", "%27%27"])
    assert repo.read("build/x/%2E%2E/m.txt") == ".."
    assert repo.read("build/x/%27%27/m.txt") == "''"
