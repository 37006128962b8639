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
