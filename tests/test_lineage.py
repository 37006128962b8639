"""`pipe lineage` through the real CLI: the tree of jobs, steps and inputs that produced an
artifact version or an output path, down to the source assets."""

from __future__ import annotations

import pytest
from workspace_repo import Repo

CHAIN = """
version: 1
name: exp
params:
  lr: 0.1
  greeting: hi
assets:
  raw: {path: data/raw.txt, name: raw}
steps:
  prep:
    command: tr a-z A-Z < ${{inputs.src}} > ${{outputs.out}}
    inputs: {src: "${{assets.raw}}"}
    outputs: {out: {path: build/clean.txt, name: clean}}
  train:
    command: sh src/train.sh ${{inputs.data}} ${{params.lr}} ${{outputs.model}}
    code: [src/train.sh]
    inputs: {data: "${{steps.prep.outputs.out}}"}
    outputs: {model: {path: build/model, name: model}}
  evaluate:
    command: cat ${{inputs.model}}/w ${{inputs.labels}} > ${{outputs.report}}
    inputs:
      model: "${{steps.train.outputs.model}}"
      labels: data/labels.txt
      threshold: 0.5
    outputs: {report: {path: build/report.txt, name: report}}
"""

TRAIN_SH = 'mkdir -p "$3" && cat "$1" > "$3/w" && echo "$2" >> "$3/w"\n'


@pytest.fixture
def chain(repo: Repo) -> Repo:
    repo.write("data/raw.txt", "a\nb\n")
    repo.write("data/labels.txt", "L\n")
    repo.write("src/train.sh", TRAIN_SH)
    repo.pipefile(CHAIN)
    assert repo.outcomes() == {"prep": "ran", "train": "ran", "evaluate": "ran"}
    return repo


def lineage(repo: Repo, target: str) -> dict:
    r = repo.pipe("lineage", target, "--json")
    assert r.code == 0, str(r)
    return r.json


def version(repo: Repo, ref: str) -> dict:
    return repo.pipe("artifacts", "show", ref, "--json", check=True).json


def test_lineage_of_a_three_step_chain_reaches_the_source_asset(chain):
    t = lineage(chain, "report")
    assert t["artifacts"][0] == "report:1" and t["path"] == "build/report.txt" and not t["source"]
    assert t["digest"] == version(chain, "report:1")["digest"]

    ev = t["produced_by"]
    assert (ev["step"], ev["job"], ev["outcome"], ev["experiment"]) == ("evaluate", 1, "ran", "exp")
    assert ev["command"] == "cat build/model/w data/labels.txt > build/report.txt"
    assert ev["env"] == "local" and len(ev["key"]) == 32
    assert ev["inputs"]["threshold"] == {"value": 0.5}
    labels = ev["inputs"]["labels"]
    assert labels["source"] and labels["path"] == "data/labels.txt" and labels["artifacts"] == []

    model = ev["inputs"]["model"]
    assert model["artifacts"] == ["model:1"] and model["kind"] == "tree"
    assert model["digest"] == version(chain, "model:1")["digest"]
    train = model["produced_by"]
    assert train["step"] == "train" and train["job"] == 1
    assert train["command"] == "sh src/train.sh build/clean.txt 0.1 build/model"
    assert train["params"] == {"lr": 0.1} and train["params_of"] == "step"  # only what the step uses
    assert list(train["code"]) == ["src/train.sh"] and len(train["code"]["src/train.sh"]["digest"]) == 32

    clean = train["inputs"]["data"]
    assert clean["artifacts"] == ["clean:1"] and clean["path"] == "build/clean.txt"
    prep = clean["produced_by"]
    assert prep["step"] == "prep" and prep["command"] == "tr a-z A-Z < data/raw.txt > build/clean.txt"
    raw = prep["inputs"]["src"]
    assert raw["artifacts"] == ["raw:1"] and raw["source"] and raw["asset"] and raw["produced_by"] is None
    assert raw["digest"] == version(chain, "raw:1")["digest"]


def test_lineage_keeps_history_per_version(chain):
    chain.write("data/raw.txt", "c\n")
    chain.outcomes("-p", "lr=0.2")
    new = lineage(chain, "model:2")
    train = new["produced_by"]
    assert train["job"] == 2 and train["params"] == {"lr": 0.2}
    assert train["inputs"]["data"]["artifacts"] == ["clean:2"]
    assert train["inputs"]["data"]["produced_by"]["inputs"]["src"]["artifacts"] == ["raw:2"]
    old = lineage(chain, "model:1")
    assert old["produced_by"]["job"] == 1 and old["produced_by"]["params"] == {"lr": 0.1}
    assert old["produced_by"]["inputs"]["data"]["produced_by"]["inputs"]["src"]["artifacts"] == ["raw:1"]
    # NAME alone is the latest version.
    assert lineage(chain, "model")["artifacts"][0] == "model:2"


def test_a_fresh_or_restored_step_points_to_the_job_that_ran_it(chain):
    chain.outcomes("-p", "lr=0.2")  # job 2: train and evaluate run again, prep is fresh
    assert chain.outcomes() == {"prep": "fresh", "train": "restored", "evaluate": "restored"}  # job 3
    t = lineage(chain, "build/report.txt")
    assert t["produced_by"]["job"] == 1 and t["produced_by"]["outcome"] == "ran"
    assert t["produced_by"]["inputs"]["model"]["produced_by"]["job"] == 1
    t2 = lineage(chain, "report:2")
    assert t2["produced_by"]["job"] == 2
    assert t2["produced_by"]["inputs"]["model"]["produced_by"]["params"] == {"lr": 0.2}
    # prep did not run in job 2: its lineage is the run of job 1.
    assert t2["produced_by"]["inputs"]["model"]["produced_by"]["inputs"]["data"]["produced_by"]["job"] == 1


def test_lineage_of_an_output_path_is_that_of_its_current_content(chain):
    by_path = lineage(chain, "build/model")
    by_name = lineage(chain, "model:1")
    assert by_path["digest"] == by_name["digest"]
    assert by_path["produced_by"]["key"] == by_name["produced_by"]["key"]
    # From a sub-folder, the path is relative to where pipe runs.
    r = chain.pipe("-C", "build", "lineage", "model", "-f", "../Pipefile", "--json")  # an artifact name
    assert r.code == 0 and r.json["artifacts"][0] == "model:1", str(r)
    r = chain.pipe("-C", "build", "lineage", "clean.txt", "-f", "../Pipefile", "--json")
    assert r.code == 0 and r.json["artifacts"][0] == "clean:1", str(r)
    # A hand-edited output is not what any job produced.
    chain.write("build/clean.txt", "edited\n")
    r = chain.pipe("lineage", "build/clean.txt")
    assert r.code == 2 and "no recorded job produced" in r.err and "pipe run" in r.err, str(r)


def test_text_mermaid_and_dot(chain):
    text = chain.pipe("lineage", "report:1", check=True).out
    for part in (
        "report:1",
        "made by step 'evaluate' in job 1",
        "model:1",
        "made by step 'train'",
        "command: sh src/train.sh build/clean.txt 0.1 build/model",
        "params: lr=0.1",
        "code: src/train.sh",
        "clean:1",
        "raw:1",
        "source asset",
        "threshold: 0.5",
        "env: local",
    ):
        assert part in text, text
    mer = chain.pipe("lineage", "report:1", "--format", "mermaid", check=True).out
    assert mer.startswith("graph TD") and "evaluate" in mer and "raw:1" in mer and "-->|model|" in mer
    assert mer.count("[[") == 3  # three steps
    dot = chain.pipe("lineage", "report", "--format", "dot", check=True).out
    assert dot.startswith("digraph lineage {") and dot.rstrip().endswith("}")
    assert dot.count("shape=box") == 3 and "cylinder" in dot and '[label="data"]' in dot


def test_lineage_through_an_artifact_binding(chain):
    chain.outcomes("-p", "lr=0.2")  # model:2
    chain.pipefile(
        CHAIN
        + """\
  compare:
    command: cat ${{inputs.old}}/w > ${{outputs.o}}
    inputs: {old: "${{artifacts.model:1}}"}
    outputs: {o: {path: build/compare.txt, name: compare}}
"""
    )
    chain.outcomes("-p", "lr=0.2")
    t = lineage(chain, "compare")
    old = t["produced_by"]["inputs"]["old"]
    assert old["artifacts"] == ["model:1"] and old["path"] == ".pipe/artifacts/model/1"
    assert old["produced_by"]["job"] == 1 and old["produced_by"]["params"] == {"lr": 0.1}
    assert old["produced_by"]["inputs"]["data"]["produced_by"]["inputs"]["src"]["artifacts"] == ["raw:1"]


def test_an_added_asset_is_a_source(chain, tmp_path):
    f = tmp_path / "ext.csv"
    f.write_text("1\n")
    chain.pipe("asset", "add", str(f), "--name", "ext", check=True)
    t = lineage(chain, "ext:1")
    assert t["source"] and t["asset"] and t["produced_by"] is None and "asset add" in t["note"]
    assert "source asset" in chain.pipe("lineage", "ext", check=True).out


def test_lineage_bad_input(chain):
    r = chain.pipe("lineage", "modle")
    assert r.code == 2 and "no artifact or output 'modle'" in r.err and "did you mean 'model'" in r.err, str(r)
    r = chain.pipe("lineage", "model:5")
    assert r.code == 2 and "artifact 'model' has no version 5" in r.err, str(r)
    r = chain.pipe("lineage", "modle:1")
    assert r.code == 2 and "no artifact 'modle'" in r.err and "did you mean 'model'" in r.err, str(r)
    r = chain.pipe("lineage", "build/modle")
    assert r.code == 2 and "did you mean 'build/model'" in r.err, str(r)
    r = chain.pipe("lineage", "data/labels.txt")  # a source file, not produced by any job
    assert r.code == 2 and "no recorded job produced 'data/labels.txt'" in r.err, str(r)
    r = chain.pipe("lineage", "/etc/hostname")
    assert r.code == 2 and "outside the workspace" in r.err, str(r)
    r = chain.pipe("lineage", "model", "--format", "png")
    assert r.code == 2, str(r)
    assert "Traceback" not in r.err


def test_lineage_of_a_removed_output_uses_the_last_record(chain):
    import shutil

    shutil.rmtree(chain.root / "build" / "model")
    t = lineage(chain, "build/model")
    assert t["produced_by"]["step"] == "train" and "not in the workspace" in t["note"]


PRODUCER = """
version: 1
name: prod
params:
  v: 1
steps:
  make:
    command: echo model ${{params.v}} > ${{outputs.m}}
    outputs:
      m: {path: build/model.txt, name: model}
"""

CONSUMER = """
version: 1
name: cons
steps:
  use:
    command: cat ${{inputs.m}} > ${{outputs.r}}
    inputs:
      m: "${{artifacts.model}}"
    outputs:
      r: out/result.txt
"""


def test_lineage_recurses_through_an_artifact_made_by_another_pipeline(repo: Repo):
    repo.write("Producer.yaml", PRODUCER)
    repo.pipefile(CONSUMER)
    repo.outcomes("-f", "Producer.yaml")  # job 1: model:1
    repo.outcomes()  # job 2 reads model:1 (and writes the same bytes to out/result.txt)
    repo.outcomes("-f", "Producer.yaml", "-p", "v=2")  # job 3: model:2
    t = lineage(repo, "out/result.txt")
    # Equal bytes do not make an unnamed output an artifact.
    assert t["artifacts"] == [] and t["path"] == "out/result.txt" and not t["source"]
    use = t["produced_by"]
    assert (use["step"], use["job"]) == ("use", 2)
    m = use["inputs"]["m"]
    assert m["artifacts"] == ["model:1"] and m["path"] == ".pipe/artifacts/model/1" and not m["source"]
    make = m["produced_by"]
    assert (make["step"], make["job"], make["params"]) == ("make", 1, {"v": 1})
    text = repo.pipe("lineage", "out/result.txt", check=True).out
    assert "(source)" not in text and "made by step 'make' in job 1" in text, text
    assert not text.startswith("model:1"), text


def test_an_input_is_named_by_its_own_version_not_by_equal_content(chain):
    # build/copy.txt holds the same bytes as clean:1, but is not that artifact.
    chain.pipefile(
        CHAIN
        + """\
  copy:
    command: cp ${{inputs.c}} ${{outputs.o}}
    inputs: {c: "${{steps.prep.outputs.out}}"}
    outputs: {o: build/copy.txt}
  use_copy:
    command: cat ${{inputs.c}} > ${{outputs.o}}
    inputs: {c: "${{steps.copy.outputs.o}}"}
    outputs: {o: build/use.txt}
"""
    )
    chain.outcomes()
    t = lineage(chain, "build/use.txt")
    c = t["produced_by"]["inputs"]["c"]
    assert c["path"] == "build/copy.txt" and c["artifacts"] == []
    assert c["produced_by"]["step"] == "copy"
    assert c["produced_by"]["inputs"]["c"]["artifacts"] == ["clean:1"]
    assert lineage(chain, "build/copy.txt")["artifacts"] == []
