"""`pipe components list/show` know a Pipefile's own `type: pipeline` components (issue 15:
pipelines as components are components like any other)."""

from __future__ import annotations

from test_nested import TRAIN


def test_components_list_and_show_name_pipeline_components(repo):
    repo.pipefile(TRAIN)
    listed = repo.pipe("components", "list", check=True).out
    assert any(line.split()[:3] == ["train", "-", "pipefile"] for line in listed.splitlines()), listed
    got = repo.pipe("components", "list", "--json", check=True).json["components"]
    train = next(c for c in got if c["name"] == "train")
    assert train["source"] == "pipefile" and train["command"] is None
    assert train["steps"] == ["prep", "fit", "check"]
    assert [p["name"] for p in train["inputs"]] == ["data"] and [p["name"] for p in train["params"]] == ["lr"]
    assert [o["name"] for o in train["outputs"]] == ["model"]
    shown = repo.pipe("components", "show", "train", check=True).out
    assert "steps (type: pipeline):\n  prep, fit, check" in shown and "component: train" in shown, shown
    # a command component beside it keeps its command
    assert all(c["command"] for c in got if c["source"] == "std")


def test_a_broken_component_beside_good_ones_is_listed_with_its_errors(repo):
    # `pipe components list/show` listed a component with errors as if whole (here: with no
    # input at all, its one input's type being misspelt), and said nothing of one that did
    # not load: its errors are now warnings on stderr, and the good ones are listed as before
    repo.pipefile(
        """\
        components:
          good:
            inputs: {data: uri_file}
            outputs: {out: uri_file}
            command: cp ${{inputs.data}} ${{outputs.out}}
          bad:
            inputs: {data: uri_fil}
            outputs: {out: uri_file}
            command: cp ${{inputs.data}} ${{outputs.out}}
          worse: 3
        steps:
          s: {component: good, inputs: {data: x.csv}, outputs: {out: build/o}}
        """
    )
    listed = repo.pipe("components", "list", "--json", check=True)
    assert {c["name"] for c in listed.json["components"] if c["source"] == "pipefile"} == {"good", "bad"}
    assert "warning: Pipefile:7:20: unknown type 'uri_fil' for input 'data' of component 'bad'" in listed.err
    assert "component 'worse' must be a mapping" in listed.err
    assert "step 's'" not in listed.err, listed.err  # (the steps' errors are not the catalog's)
    good = repo.pipe("components", "show", "good", check=True)
    assert "warning" not in good.err, good.err
    bad = repo.pipe("components", "show", "bad", check=True)
    assert "of component 'bad'" in bad.err and "worse" not in bad.err, bad.err


def test_a_pipefile_that_does_not_load_leaves_the_std_library_listed(repo):
    # a workspace whose Pipefile is not YAML (or a DSL module that crashes) made `pipe
    # components list` fail, though the std library it lists outside a workspace was there
    repo.pipefile("steps: [\n")
    listed = repo.pipe("components", "list", "--json")
    assert listed.code == 0, str(listed)
    assert listed.json["components"] and all(c["source"] == "std" for c in listed.json["components"])
    assert listed.err.startswith("warning: Pipefile:") and "left out until it loads" in listed.err, listed.err
    assert repo.pipe("components", "show", "std/split_data@1").code == 0
    missing = repo.pipe("components", "list", "-f", "nothing.yml")
    assert missing.code == 2 and "no such file" in missing.err, str(missing)
