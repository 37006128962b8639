"""The editor schema (pipefile/schema/pipefile.schema.json) agrees with the loader.

Every Pipefile here that the schema accepts, `load.loads` accepts too, and the
invalid ones are rejected by both. `loads` checks the file alone (no file system),
so the paths named below need not exist.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from pipefile import load, spec
from pipefile.errors import PipefileError
from pipefile.load import fields

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCHEMA_PATH = ROOT / "pipefile" / "schema" / "pipefile.schema.json"
FAKE_PATH = str(ROOT / "Pipefile")  # where `loads` believes the text came from


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema):
    return jsonschema.Draft202012Validator(schema)


def schema_errors(validator, text: str) -> list:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(yaml.safe_load(text))]


# --- (a) the schema itself -------------------------------------------------------------
def test_schema_is_a_valid_2020_12_schema(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_keys_match_the_loader(schema):
    d = schema["$defs"]
    assert set(schema["properties"]) == set(fields.TOP_KEYS)
    assert set(d["paramLong"]["properties"]) == set(fields.PARAM_KEYS)
    assert set(d["asset"]["oneOf"][1]["properties"]) == set(fields.ASSET_KEYS)
    assert set(d["component"]["properties"]) == set(fields.COMPONENT_KEYS)
    assert set(d["pipelineComponent"]["properties"]) == set(fields.PIPELINE_COMPONENT_KEYS)
    assert set(d["inputDecl"]["oneOf"][1]["properties"]) == set(fields.INPUT_DECL_KEYS)
    assert set(d["outputDecl"]["oneOf"][1]["properties"]) == set(fields.OUTPUT_DECL_KEYS)
    assert set(d["step"]["properties"]) == set(fields.STEP_KEYS)
    assert set(d["bindingLong"]["properties"]) == set(fields.BINDING_KEYS)
    assert set(d["stepOutput"]["oneOf"][1]["properties"]) == set(fields.STEP_OUTPUT_KEYS)
    assert set(d["resources"]["properties"]) == set(fields.RESOURCE_KEYS)
    assert set(d["environment"]["properties"]) == set(fields.ENVIRONMENT_KEYS)
    assert d["environment"]["properties"]["type"]["enum"] == list(spec.ENV_TYPES)
    assert d["environment"]["properties"]["network"]["enum"] == list(fields.DOCKER_NETWORKS)
    for rule in d["environment"]["allOf"]:
        if "type" in rule["if"].get("properties", {}):
            kind = rule["if"]["properties"]["type"]["const"]
            refused = {r["required"][0] for r in rule["then"]["not"]["anyOf"]}
            assert refused == set(fields.ENVIRONMENT_KEYS) - set(fields.ENVIRONMENT_TYPE_KEYS[kind]) - {
                "type",
                "description",
            }, kind
    assert d["step"]["properties"]["key_includes"]["items"]["enum"] == list(spec.KEY_INCLUDES)
    assert d["inputType"]["enum"] == list(spec.INPUT_TYPES)
    assert d["outputType"]["enum"] == list(spec.OUTPUT_TYPES)
    assert d["valueType"]["enum"] == list(spec.VALUE_TYPES)
    assert d["pathType"]["enum"] == list(spec.PATH_TYPES)


# --- (b) valid Pipefiles ---------------------------------------------------------------
VALID = {
    "param_enum": """
        params:
          model: {type: string, default: ridge, enum: [ridge, lasso]}
          k: {type: integer, default: 3, enum: [1, 3]}
        steps:
          a: {command: "echo ${{params.model}} ${{params.k}}"}
    """,
    "minimal": """
        steps:
          hello:
            command: echo hello
    """,
    "issue_example": """
        version: 1
        params:                        # pipeline parameters; `pipe run -p lr=0.01` overrides
          lr: 0.01                     # shorthand: default value, type inferred
          epochs: {type: integer, default: 5}
          tag: {type: string}          # no default: required, must be given with -p
        assets:                        # named data in the repo
          raw: {type: uri_file, path: data/raw.csv}
          images: {type: uri_folder, path: data/images}
        components:                    # reusable, typed step templates
          train:
            inputs:
              data: {type: uri_file}
              lr: {type: number, default: 0.1}
              seed: {type: integer, optional: true}
              solver: {type: string, default: adam, enum: [adam, sgd]}   # the only values it takes
            outputs:
              model: {type: uri_folder}
            code: [src/train.py]       # files/folders whose content is part of the step's key
            command: python src/train.py --data ${{inputs.data}} --lr ${{inputs.lr}} $[[--seed ${{inputs.seed}}]] --out ${{outputs.model}}
        steps:
          prepare:
            command: python src/prepare.py ${{inputs.raw}} ${{outputs.clean}}
            inputs:
              raw: ${{assets.raw}}
            outputs: {clean: build/clean.csv}
            code: [src/prepare.py]
          fit:
            component: train
            inputs:
              data: ${{steps.prepare.outputs.clean}}
              lr: ${{params.lr}}
            outputs: {model: build/model}
    """,
    "environments_all_forms": """
        environments:
          shell: {type: local, env: {OMP_NUM_THREADS: 4, MODE: fast, DEBUG: false}}
          prep: {type: venv, requirements: envs/prep.txt, python: "3.11", description: data prep}
          pinned: {type: venv, packages: [pandas==1.5.3, six]}
          sci: {type: conda, file: envs/sci.yml}
          train: {type: docker, image: pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime, network: none,
                  mounts: ["data/big:/data", "/scratch:/scratch:rw"], env: {A: "1"}}
          built: {type: docker, build: envs/trainer, dockerfile: Dockerfile.gpu}
        components:
          fit:
            command: python fit.py
            environment: train
            resources: {gpus: 1}
            key_includes: [gpu_model]
        steps:
          a: {command: x, environment: prep, resources: {cpus: 2, memory: 1GB, gpus: 0}}
          b: {component: fit}
          c: {component: fit, environment: local}
          d: {command: x, environment: sci}
    """,
    "list_param_mapped": """
        params: {cities: [paris, rome], sizes: {type: list, default: [1, 2]}}
        steps:
          a:
            foreach: ${{inputs.c}}
            inputs: {c: "${{params.cities}}"}
            command: echo ${{inputs.c}} > ${{outputs.o}}
            outputs: {o: build/o/}
    """,
    "params_all_forms": """
        name: params
        description: every way to declare a param
        params:
          lr: 0.01
          epochs: 5
          verbose: false
          tag: v1
          empty: ""
          rate: {type: number, default: 1}
          n: {type: integer}
          flag: {type: boolean, default: true, description: a flag}
          label: {type: string, default: null}
          inferred: {default: 3}
        steps:
          show:
            command: echo ${{params.lr}} ${{params.epochs}} ${{params.verbose}} ${{params.tag}} ${{params.n}}
    """,
    "assets_and_inputs": """
        assets:
          raw: data/raw.csv
          images: {path: data/images/, type: uri_folder, description: photos}
          anything: {path: data/any}
        steps:
          read:
            command: cat ${{inputs.a}} ${{inputs.b}} ${{inputs.c}} > ${{outputs.out}}
            inputs:
              a: ${{assets.raw}}
              b: "${{ assets.images }}"
              c: {path: data/extra.txt, type: uri_file}
            outputs:
              out: build/read.txt
    """,
    "inline_values_and_paths": """
        params:
          lr: 0.5
        steps:
          s:
            command: "run ${{inputs.n}} ${{inputs.x}} ${{inputs.ok}} ${{inputs.p}} ${{inputs.lr}} ${{inputs.word}} $[[--opt ${{inputs.opt}}]]"
            inputs:
              n: 3
              x: 0.25
              ok: true
              p: src/config.yaml
              lr: ${{params.lr}}
              word: {value: hello world}
              typed: {type: integer, value: 7}
              folder: {type: uri_folder, path: data/images}
              opt:
    """,
    "outputs_all_forms": """
        steps:
          make:
            command: build ${{outputs.f}} ${{outputs.d}} ${{outputs.u}} ${{outputs.t}}
            outputs:
              f: build/a.txt
              d: build/dir/
              u: build/untyped
              t: {type: uri_folder, path: build/typed, description: a folder}
    """,
    "argv_command": """
        components:
          tool:
            inputs:
              src: uri_file
              level: {type: integer, default: 1}
              note: {type: string, optional: true}
              cfg: {type: uri_file, default: conf/default.yaml}
            outputs:
              out: uri_file
            command: [python, tool.py, "${{inputs.src}}", "--level=${{inputs.level}}", "$[[--note=${{inputs.note}}]]", "${{outputs.out}}"]
        steps:
          t:
            component: tool
            inputs:
              src: data/in.txt
              level: 3
              note: "5"
            outputs:
              out: {path: build/out.txt}
          argv_inline:
            command: ["echo", "${{inputs.x}}", ""]
            inputs: {x: {value: "a b"}}
    """,
    "components_full": """
        params:
          lr: 0.1
          epochs: 3
        components:
          fit:
            description: trains a model
            inputs:
              train: {type: uri_file, description: training rows}
              folder: {type: uri_folder, default: data/extra}
              lr: number
              epochs: {type: integer, default: 10}
              name: {type: string, default: model}
              fast: {type: boolean, default: false}
              seed: {type: integer, optional: true}
            outputs:
              model: uri_folder
              metrics: {type: uri_file, description: scores}
              notes: {}
            code: src/fit.py
            resources: {cpus: 2, memory: 4GB}
            command: |
              python src/fit.py --train ${{inputs.train}} --lr ${{inputs.lr}} \\
                --epochs ${{inputs.epochs}} --name ${{inputs.name}} $[[--seed ${{inputs.seed}}]] \\
                --model ${{outputs.model}} --metrics ${{outputs.metrics}} --notes ${{outputs.notes}} --p ${{params.lr}}
        steps:
          a:
            component: fit
            description: the first fit
            inputs:
              train: data/train.csv
              lr: ${{params.lr}}
              epochs: ${{params.epochs}}
              name: "a"
              fast: true
              seed: 42
            outputs:
              model: build/a/model
              metrics: build/a/metrics.json
              notes: build/a/notes
            code: [src/extra.py, src/lib]
            resources: {cpus: 0.5, memory: 512MiB}
          b:
            component: fit
            inputs:
              train: build/a/metrics.json
              lr: 0.2
              epochs: null
              seed:
            outputs:
              model: {type: uri_folder, path: build/b/model}
              metrics: build/b/metrics.json
              notes: build/b/notes
            resources:
              memory: 1073741824
    """,
    "links_and_nulls": """
        params: {}
        assets:
        components:
        steps:
          produce:
            command: mkdir -p ${{outputs.d}} && echo x > ${{outputs.d}}/x
            outputs: {d: build/d/}
            inputs:
            resources:
          consume:
            command: cat build/d/x > ${{outputs.o}}
            inputs:
              x: build/d/x
            outputs:
              o: build/o
            code: []
    """,
    "sizes": """
        steps:
          s1: {command: a, resources: {memory: 2GiB}}
          s2: {command: a, resources: {memory: "1.5 gb"}}
          s3: {command: a, resources: {memory: 100}}
          s4: {command: a, resources: {memory: 1.0e+9}}
          s5: {command: a, resources: {memory: 64k, cpus: 4}}
          s6: {command: a, resources: {memory: 10B}}
    """,
    "pipeline component": """
        components:
          twice:
            type: pipeline
            inputs: {n: {type: integer, default: 2}}
            outputs: {out: uri_file}
            steps:
              a: {command: "echo ${{inputs.n}} > ${{outputs.o}}", inputs: {n: "${{parent.inputs.n}}"}, outputs: {o: }}
              b:
                command: cat ${{inputs.i}} ${{inputs.i}} > ${{outputs.o}}
                inputs: {i: "${{steps.a.outputs.o}}"}
                outputs: {o: "${{parent.outputs.out}}"}
        steps:
          use: {component: twice, inputs: {n: 3}, outputs: {out: build/twice.txt}}
    """,
    "names": """
        params: {my-param: 1, _p2: x}
        steps:
          step-1:
            command: echo ${{params.my-param}} ${{inputs.in_1}} > ${{outputs.out-1}}
            inputs: {in_1: {value: 1}}
            outputs: {out-1: build/s1.txt}
          _second:
            command: cat ${{inputs.x}}
            inputs: {x: "${{steps.step-1.outputs.out-1}}"}
    """,
}


def _example_files() -> list:
    found = []
    ex = ROOT / "examples"
    if ex.is_dir():
        found += sorted(p for p in ex.rglob("Pipefile*") if p.is_file() and ".pipe" not in p.parts)
    root_example = ROOT / "Pipefile.example"
    if root_example.is_file():
        found.append(root_example)
    return found


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_pipefile_is_accepted_by_schema_and_loader(validator, name):
    text = textwrap.dedent(VALID[name])
    assert schema_errors(validator, text) == []
    pf = load.loads(text, FAKE_PATH)
    assert pf.steps


@pytest.mark.parametrize("path", _example_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_pipefiles_are_accepted_by_schema_and_loader(validator, path):
    text = path.read_text(encoding="utf-8")
    assert schema_errors(validator, text) == []
    load.loads(text, str(path))


def test_shipped_pipefiles_are_looked_for():
    # Not a real check when nothing ships yet; keeps the lookup itself honest.
    for p in _example_files():
        assert p.name.startswith("Pipefile")


# --- (c) invalid Pipefiles -------------------------------------------------------------
INVALID = {
    "param_enum_not_a_list": """
        params:
          model: {type: string, default: ridge, enum: ridge}
        steps:
          a: {command: echo hi}
    """,
    "param_enum_value_of_the_wrong_type": """
        params:
          k: {type: integer, enum: [1, x]}
        steps:
          a: {command: echo hi}
    """,
    "unknown_top_key": """
        stages: {}
        steps: {a: {command: x}}
    """,
    "unknown_step_key": """
        steps: {a: {command: x, cmd: y}}
    """,
    "unknown_param_key": """
        params: {lr: {type: number, default: 0.1, min: 0}}
        steps: {a: {command: x}}
    """,
    "unknown_resource_key": """
        steps: {a: {command: x, resources: {cpu: 2}}}
    """,
    "unknown_binding_key": """
        steps: {a: {command: x, inputs: {d: {path: data.csv, kind: file}}}}
    """,
    "bad_input_type": """
        components:
          c: {inputs: {d: {type: file}}, command: "cat ${{inputs.d}}"}
        steps: {a: {component: c, inputs: {d: x.csv}}}
    """,
    "bad_input_type_shorthand": """
        components:
          c: {inputs: {d: float}, command: "echo ${{inputs.d}}"}
        steps: {a: {component: c, inputs: {d: 1.5}}}
    """,
    "bad_param_type": """
        params: {lr: {type: float, default: 0.1}}
        steps: {a: {command: x}}
    """,
    "path_type_for_param": """
        params: {data: {type: uri_file, default: data.csv}}
        steps: {a: {command: x}}
    """,
    "value_type_for_output": """
        components:
          c: {outputs: {score: number}, command: "echo 1 > ${{outputs.score}}"}
        steps: {a: {component: c, outputs: {score: build/score}}}
    """,
    "bad_asset_type": """
        assets: {raw: {type: csv, path: data/raw.csv}}
        steps: {a: {command: x}}
    """,
    "param_default_of_wrong_type": """
        params: {epochs: {type: integer, default: many}}
        steps: {a: {command: x}}
    """,
    "param_without_type_or_default": """
        params: {tag: {description: a tag}}
        steps: {a: {command: x}}
    """,
    "param_null": """
        params: {tag: }
        steps: {a: {command: x}}
    """,
    "param_list_of_lists": """
        params: {tags: [[a], b]}
        steps: {a: {command: x}}
    """,
    "no_steps": """
        params: {lr: 0.1}
    """,
    "empty_steps": """
        steps: {}
    """,
    "wrong_version": """
        version: 2
        steps: {a: {command: x}}
    """,
    "bad_step_name": """
        steps: {1st: {command: x}}
    """,
    "step_without_command": """
        steps: {a: {outputs: {o: build/o}}}
    """,
    "step_with_command_and_component": """
        components: {c: {command: x}}
        steps: {a: {component: c, command: y}}
    """,
    "component_without_command": """
        components: {c: {inputs: {x: string}}}
        steps: {a: {command: x}}
    """,
    "empty_command": """
        steps: {a: {command: "  "}}
    """,
    "empty_argv": """
        steps: {a: {command: []}}
    """,
    "argv_with_number": """
        steps: {a: {command: [sleep, 5]}}
    """,
    "absolute_output": """
        steps: {a: {command: x, outputs: {o: /tmp/out}}}
    """,
    "output_outside": """
        steps: {a: {command: x, outputs: {o: ../out}}}
    """,
    "output_in_state_dir": """
        steps: {a: {command: x, outputs: {o: .pipe/out}}}
    """,
    "output_is_root": """
        steps: {a: {command: x, outputs: {o: ./}}}
    """,
    "output_expression": """
        assets: {raw: data/raw.csv}
        steps: {a: {command: x, outputs: {o: "${{assets.raw}}"}}}
    """,
    "output_without_path": """
        steps: {a: {command: x, outputs: {o: {type: uri_file}}}}
    """,
    "binding_mixed_text": """
        params: {name: x}
        steps: {a: {command: x, inputs: {d: "data/${{params.name}}.csv"}}}
    """,
    "binding_bad_scope": """
        steps: {a: {command: x, inputs: {d: "${{inputs.other}}"}}}
    """,
    "binding_list": """
        steps: {a: {command: x, inputs: {d: [a.csv, b.csv]}}}
    """,
    "binding_path_and_value": """
        steps: {a: {command: x, inputs: {d: {path: a.csv, value: 1}}}}
    """,
    "binding_neither_path_nor_value": """
        steps: {a: {command: x, inputs: {d: {type: uri_file}}}}
    """,
    "binding_value_wrong_type": """
        steps: {a: {command: x, inputs: {d: {type: integer, value: ten}}}}
    """,
    "binding_path_with_value_type": """
        steps: {a: {command: x, inputs: {d: {type: number, path: a.csv}}}}
    """,
    "inline_absolute_input": """
        steps: {a: {command: x, inputs: {d: /etc/passwd}}}
    """,
    "negative_cpus": """
        steps: {a: {command: x, resources: {cpus: 0}}}
    """,
    "bad_memory": """
        steps: {a: {command: x, resources: {memory: 4PB}}}
    """,
    "gpus_negative": """
        steps: {a: {command: x, resources: {gpus: -1}}}
    """,
    "gpus_fraction": """
        steps: {a: {command: x, resources: {gpus: 0.5}}}
    """,
    "environment_without_type": """
        environments: {e: {image: busybox}}
        steps: {a: {command: x, environment: e}}
    """,
    "environment_unknown_type": """
        environments: {e: {type: virtualenv}}
        steps: {a: {command: x}}
    """,
    "environment_key_of_another_type": """
        environments: {e: {type: venv, image: busybox}}
        steps: {a: {command: x}}
    """,
    "docker_image_and_build": """
        environments: {e: {type: docker, image: busybox, build: envs/e}}
        steps: {a: {command: x}}
    """,
    "docker_neither_image_nor_build": """
        environments: {e: {type: docker, network: none}}
        steps: {a: {command: x}}
    """,
    "docker_unknown_network": """
        environments: {e: {type: docker, image: busybox, network: nope}}
        steps: {a: {command: x}}
    """,
    "docker_mount_relative_target": """
        environments: {e: {type: docker, image: busybox, mounts: ["data:data"]}}
        steps: {a: {command: x}}
    """,
    "conda_without_file": """
        environments: {e: {type: conda}}
        steps: {a: {command: x}}
    """,
    "venv_python_number": """
        environments: {e: {type: venv, python: 3.10}}
        steps: {a: {command: x}}
    """,
    "environment_named_local": """
        environments: {local: {type: venv}}
        steps: {a: {command: x}}
    """,
    "env_var_reserved": """
        environments: {e: {type: local, env: {CUDA_VISIBLE_DEVICES: "0"}}}
        steps: {a: {command: x}}
    """,
    "key_includes_unknown": """
        steps: {a: {command: x, key_includes: [hostname]}}
    """,
    "optional_not_boolean": """
        components:
          c: {inputs: {s: {type: integer, optional: maybe}}, command: "x $[[${{inputs.s}}]]"}
        steps: {a: {component: c}}
    """,
    "input_decl_without_type": """
        components:
          c: {inputs: {s: {default: 1}}, command: "x ${{inputs.s}}"}
        steps: {a: {component: c}}
    """,
    "input_default_wrong_type": """
        components:
          c: {inputs: {s: {type: boolean, default: 1}}, command: "x ${{inputs.s}}"}
        steps: {a: {component: c}}
    """,
    "code_not_a_path": """
        steps: {a: {command: x, code: {file: a.py}}}
    """,
    "top_level_list": """
        - a
        - b
    """,
    "name_not_string": """
        name: [a]
        steps: {a: {command: x}}
    """,
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_pipefile_is_rejected_by_schema_and_loader(validator, name):
    text = textwrap.dedent(INVALID[name])
    assert schema_errors(validator, text), f"the schema accepts {name}"
    with pytest.raises(PipefileError):
        load.loads(text, FAKE_PATH)


def test_unknown_key_error_names_the_key_and_a_fix():
    text = textwrap.dedent(INVALID["unknown_step_key"])
    with pytest.raises(PipefileError) as e:
        load.loads(text, FAKE_PATH)
    assert "unknown key 'cmd' in step 'a'" in e.value.render()
    assert "did you mean" in e.value.render()


def test_bad_type_name_error_suggests_a_known_type():
    with pytest.raises(PipefileError) as e:
        load.loads(textwrap.dedent(INVALID["bad_param_type"]), FAKE_PATH)
    assert "unknown type 'float' for param 'lr'" in e.value.render()
