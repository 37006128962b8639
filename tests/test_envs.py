"""Environments without services (local, validation, conda's absence) and GPU leasing.

GPU leasing is tested with a simulated pool (PIPE_GPUS=0,1,2: there is no GPU here):
the devices are names, and the test checks which ones each step was handed. One
test runs on a machine with a real NVIDIA GPU and checks that CUDA_VISIBLE_DEVICES
reaches a real CUDA process; it is skipped elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

# --- validation: clear messages, file:line, did-you-mean -------------------------------------


@pytest.mark.parametrize(
    "text, message, hint",
    [
        (
            """
        environments:
          train: {type: local}
        steps:
          a: {command: x, environment: trian}
     """,
            "Pipefile:5:32: step 'a' uses environment 'trian', which is not defined",
            "did you mean 'train'?",
        ),
        (
            """
        environments:
          prep: {type: venv, python: 3.10}
        steps:
          a: {command: x, environment: prep}
     """,
            "python of environment 'prep' must be a string, not 3.1",
            'quote the version, e.g. python: "3.10"',
        ),
        (
            """
        environments:
          prep: {type: venv, image: busybox}
        steps:
          a: {command: x}
     """,
            "'image' does not apply to environment 'prep', which is a venv environment",
            "a venv environment takes: env, python, requirements, packages",
        ),
        (
            """
        environments:
          d: {type: docker, image: busybox, build: envs/d}
        steps:
          a: {command: x}
     """,
            "environment 'd' needs exactly one of image: or build:",
            "build: FOLDER builds one",
        ),
        (
            """
        environments:
          d: {image: busybox}
        steps:
          a: {command: x}
     """,
            "environment 'd' has no type",
            "add type: docker",
        ),
        (
            """
        environments:
          d: {type: dcoker}
        steps:
          a: {command: x}
     """,
            "unknown type 'dcoker' for environment 'd'",
            "did you mean 'docker'?",
        ),
        (
            """
        steps:
          a: {command: x, resources: {gpus: 0.5}}
     """,
            "gpus of step 'a' must be a whole number of devices",
            "never a share of one",
        ),
        (
            """
        steps:
          a: {command: x, key_includes: [gpu-model]}
     """,
            "key_includes of step 'a': unknown item 'gpu-model'",
            "did you mean 'gpu_model'?",
        ),
        (
            """
        environments:
          e: {type: local, env: {PIPE_STEP: x}}
        steps:
          a: {command: x}
     """,
            "environment 'e' sets PIPE_STEP, which pipe sets for every step",
            "remove it",
        ),
    ],
)
def test_bad_environment_declarations_name_the_line_and_the_fix(repo, text, message, hint):
    repo.pipefile(text)
    r = repo.pipe("validate")
    assert r.code == 2, str(r)
    assert message in r.err, str(r)
    assert "hint: " in r.err and hint in r.err.split("hint: ", 1)[1], str(r)


def test_environment_files_must_be_sources_that_exist(repo):
    repo.write("envs/trainer", "a file, not a folder\n")
    repo.pipefile("""
        environments:
          prep: {type: venv, requirements: envs/prep.txt}
          gen: {type: conda, file: build/env.yml}
          img: {type: docker, build: envs/trainer}
        steps:
          a: {command: x, environment: prep}
          make_env: {command: x, outputs: {o: build/env.yml}}
    """)
    for cmd in ("validate", "status"):
        r = repo.pipe(cmd)
        assert r.code == 2, str(r)
        assert "Pipefile:3:3: the requirements file 'envs/prep.txt' of environment 'prep' does not exist" in r.err
        assert (
            "Pipefile:4:3: the environment file 'build/env.yml' of environment 'gen' is written by step "
            "'make_env'" in r.err
        )
        assert "Pipefile:5:3: the build folder 'envs/trainer' of environment 'img' is a file" in r.err


# --- local environments ------------------------------------------------------------------------


def test_a_local_environment_sets_variables_and_they_are_part_of_the_key(repo):
    repo.pipefile("""
        environments:
          fast: {type: local, env: {MODE: fast, THREADS: 4}}
        steps:
          a: {command: 'echo "$MODE $THREADS" > ${{outputs.o}}', outputs: {o: out/a.txt}, environment: fast}
          b: {command: 'echo "[$MODE]" > ${{outputs.o}}', outputs: {o: out/b.txt}}
          c: {command: 'echo c > ${{outputs.o}}', outputs: {o: out/c.txt}, environment: local}
    """)
    assert repo.outcomes() == {"a": "ran", "b": "ran", "c": "ran"}
    assert repo.read("out/a.txt") == "fast 4\n" and repo.read("out/b.txt") == "[]\n"
    text = repo.read("Pipefile").replace("MODE: fast", "MODE: slow")
    repo.write("Pipefile", text, dedent=False)
    st = {s["name"]: s for s in repo.pipe("status", "--json").json["steps"]}
    assert st["a"]["state"] == "run" and st["a"]["reasons"][0]["kind"] == "env_changed"
    assert st["b"]["state"] == st["c"]["state"] == "fresh"


# A Pipefile without environments, and the keys pipe gave its steps before environments existed
# (computed with the code of main before issue 4): they must not change, or every existing
# workspace would rebuild everything after an upgrade.
KEYS_BEFORE_ENVIRONMENTS = {"a": "5d6fcb61ca5b5b0fa5a14b50b20720c6", "b": "9eb06dcfebda66b9178b691de976b365"}
PIPEFILE_BEFORE_ENVIRONMENTS = """params: {n: {type: integer, default: 3}}
steps:
  a: {command: 'cat ${{inputs.i}} > ${{outputs.o}}; echo ${{params.n}} >> ${{outputs.o}}', inputs: {i: data/in.txt}, outputs: {o: out/a.txt}, resources: {cpus: 1, memory: 1GB}}
  b: {command: 'mkdir -p ${{outputs.o}}; cat ${{inputs.i}} > ${{outputs.o}}/x', inputs: {i: "${{steps.a.outputs.o}}"}, outputs: {o: out/b/}, code: [Pipefile]}
"""


def test_steps_without_an_environment_keep_their_keys(repo):
    """The calling shell's identity is 'local', and the keys are byte for byte those of before."""
    from pipefile.keys import KEY_VERSION, LOCAL_ENV_IDENTITY

    repo.write("data/in.txt", "x\n")
    repo.write("Pipefile", PIPEFILE_BEFORE_ENVIRONMENTS, dedent=False)
    # GPUs handed out (a pool exists) change nothing for steps that ask for none.
    assert repo.outcomes(env={"PIPE_GPUS": "0,1"}) == {"a": "ran", "b": "ran"}
    st = {s["name"]: s["key"] for s in repo.pipe("status", "--json").json["steps"]}
    assert st == KEYS_BEFORE_ENVIRONMENTS
    job = repo.pipe("jobs", "show", "last", "--json").json
    assert {s["step"]: s["key"] for s in job["steps"]} == KEYS_BEFORE_ENVIRONMENTS
    assert all(s["env"] == LOCAL_ENV_IDENTITY and s["environment"] is None for s in job["steps"])
    assert KEY_VERSION == 1


# --- conda -------------------------------------------------------------------------------------


def test_conda_without_any_conda_installed_says_what_to_install(repo, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    repo.write("envs/sci.yml", "name: sci\ndependencies: []\n")
    repo.pipefile("""
        environments:
          sci: {type: conda, file: envs/sci.yml}
        steps:
          a: {command: echo hi, environment: sci}
    """)
    r = repo.pipe("run", env={"PATH": str(empty)})
    assert r.code == 2, str(r)
    assert "Pipefile:3:3: environment 'sci' is a conda environment, but none of micromamba, mamba or conda" in r.err
    assert "hint: install micromamba" in r.err


def test_conda_environment_is_created_once_and_used(repo):
    from pipefile.envs.conda import find_tool

    if find_tool() is None:
        pytest.skip("no micromamba, mamba or conda on PATH: conda environments cannot be created here")
    repo.write("envs/sci.yml", "name: sci\nchannels: [conda-forge]\ndependencies: []\n")
    repo.pipefile("""
        environments:
          sci: {type: conda, file: envs/sci.yml}
        steps:
          a: {command: 'echo "$CONDA_PREFIX" > ${{outputs.o}}', outputs: {o: out/a.txt}, environment: sci}
    """)
    assert repo.outcomes(timeout=900) == {"a": "ran"}
    assert "/envs/builds/conda-" in repo.read("out/a.txt")
    assert repo.outcomes() == {"a": "fresh"}


# --- GPUs (simulated devices) --------------------------------------------------------------------


def _gpu_pipefile(repo, steps: dict) -> None:
    lines = ["steps:"]
    for name, gpus in steps.items():
        lines.append(f"  {name}:")
        lines.append(
            '    command: \'echo "$CUDA_VISIBLE_DEVICES $(date +%s.%N)" > ${{outputs.o}}; sleep 0.6; '
            "date +%s.%N >> ${{outputs.o}}'"
        )
        lines.append(f"    outputs: {{o: out/{name}.txt}}")
        lines.append(f"    resources: {{gpus: {gpus}}}")
    repo.write("Pipefile", "\n".join(lines) + "\n", dedent=False)


def test_simulated_gpus_are_leased_by_id_and_never_shared(repo):
    wants = {"two": 2, "one_a": 1, "one_b": 1, "one_c": 1, "none": 0}
    _gpu_pipefile(repo, wants)
    assert set(repo.outcomes("-j", "5", env={"PIPE_GPUS": "0,1,2"}).values()) == {"ran"}
    seen = {}
    for name in wants:
        first, end = repo.read(f"out/{name}.txt").splitlines()
        devices, start = first.rsplit(" ", 1) if " " in first else ("", first)
        seen[name] = (set(filter(None, devices.strip().split(","))), float(start), float(end))
    for name, n in wants.items():
        assert len(seen[name][0]) == n, seen
        assert seen[name][0] <= {"0", "1", "2"}
    assert seen["none"][0] == set()  # a step that asks for none sees none
    names = list(wants)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            (da, sa, ea), (db, sb, eb) = seen[a], seen[b]
            if sa < eb and sb < ea:  # ran at the same time
                assert not (da & db), f"{a} and {b} shared a GPU: {seen}"
    job = repo.pipe("jobs", "show", "last", "--json").json
    recorded = {s["step"]: s["gpus"] for s in job["steps"]}
    assert {n: set(g) for n, g in recorded.items()} == {n: v[0] for n, v in seen.items()}
    assert all(s["gpu_model"] == "unknown" for s in job["steps"] if s["gpus"])


def test_gpu_requests_that_cannot_be_met_are_errors_before_anything_runs_simulated(repo):
    repo.pipefile("""
        steps:
          ok: {command: 'echo ok > ${{outputs.o}}', outputs: {o: out/ok.txt}}
          big: {command: 'echo big > ${{outputs.o}}', outputs: {o: out/big.txt}, resources: {gpus: 3}}
    """)
    r = repo.pipe("run", env={"PIPE_GPUS": "0,1"})
    assert r.code == 2, str(r)
    assert "Pipefile:4:3: step 'big' asks for 3 GPUs, but this machine has 2 (0, 1)" in r.err
    assert "hint: lower resources.gpus" in r.err
    r = repo.pipe("run", env={"PIPE_GPUS": "none"})
    assert r.code == 2 and "step 'big' asks for 3 GPUs, but no GPU was found on this machine" in r.err, str(r)
    assert "--gpus 0,1 or PIPE_GPUS=0,1" in r.err
    assert not repo.exists("out/ok.txt")
    assert repo.pipe("jobs", "--json").json["jobs"] == []  # nothing ran, no job recorded
    # --gpus overrides PIPE_GPUS.
    r = repo.pipe("run", "--gpus", "4,5,6", "--json", env={"PIPE_GPUS": "0,1"})
    assert r.code == 0, str(r)
    assert {s["name"]: s.get("gpus") for s in r.json["steps"]} == {"ok": None, "big": ["4", "5", "6"]}
    r = repo.pipe("run", "--gpus", "0,,1")
    assert r.code == 2 and "--gpus: '' is not a GPU id" in r.err, str(r)
    # Docker's `--gpus all`, or a typo, named one device CUDA never finds: the step ran on the CPU.
    r = repo.pipe("run", "--gpus", "all")
    assert r.code == 2 and "--gpus: 'all' is not a GPU id" in r.err and "leave --gpus out" in r.err, str(r)
    r = repo.pipe("run", env={"PIPE_GPUS": "0,l"})
    assert r.code == 2 and "PIPE_GPUS: 'l' is not a GPU id" in r.err and "nvidia-smi -L" in r.err, str(r)
    uuid = "GPU-8f6a2c3e-1b2d-4c5e-9f0a-1b2c3d4e5f60"
    r = repo.pipe("run", "--gpus", f"{uuid},MIG-5c2d,2", "--force", "--json")
    assert r.code == 0, str(r)
    assert {s["name"]: s.get("gpus") for s in r.json["steps"]}["big"] == [uuid, "MIG-5c2d", "2"]
    # Drivers before R470 list a MIG device as MIG-GPU-<uuid>/<instance>/<compute instance>.
    old_mig = f"MIG-{uuid}/1/0"
    r = repo.pipe("run", "--gpus", f"{old_mig},0,1", "--force", "--json")
    assert r.code == 0, str(r)
    assert {s["name"]: s.get("gpus") for s in r.json["steps"]}["big"] == [old_mig, "0", "1"]
    r = repo.pipe("run", "--gpus", f"{old_mig}/2,0,1")
    assert r.code == 2 and f"--gpus: '{old_mig}/2' is not a GPU id" in r.err, str(r)


def test_a_memory_request_larger_than_the_machine_is_an_error(repo):
    repo.pipefile("""
        steps:
          huge: {command: 'echo x > ${{outputs.o}}', outputs: {o: out/x.txt}, resources: {memory: 1000TB}}
    """)
    r = repo.pipe("run")
    assert r.code == 2, str(r)
    assert "step 'huge' asks for 1000000.0 GB of memory, but this machine has" in r.err
    assert not repo.exists("out/x.txt")


def test_gpu_model_is_in_the_key_only_when_the_step_asks_simulated(repo):
    repo.pipefile("""
        steps:
          keyed:
            command: 'date +%s%N > ${{outputs.o}}'
            outputs: {o: out/k.txt}
            resources: {gpus: 1}
            key_includes: [gpu_model]
          plain: {command: 'echo p > ${{outputs.o}}', outputs: {o: out/p.txt}, resources: {gpus: 1}}
    """)
    assert repo.outcomes(env={"PIPE_GPUS": "0:A100"}) == {"keyed": "ran", "plain": "ran"}
    job = repo.pipe("jobs", "show", "last", "--json").json
    assert {s["gpu_model"] for s in job["steps"]} == {"A100"}  # recorded for both
    r = repo.pipe("status", "--json", "--gpus", "0:H100", env={"PIPE_GPUS": "0:A100"})
    st = {s["name"]: s for s in r.json["steps"]}
    assert st["plain"]["state"] == "fresh"
    assert st["keyed"]["state"] == "run"
    assert st["keyed"]["reasons"][0]["message"] == "GPU model changed: A100 -> H100"
    assert repo.outcomes(env={"PIPE_GPUS": "0:H100"}) == {"keyed": "ran", "plain": "fresh"}
    # Back on an A100: built before, restored.
    assert repo.outcomes(env={"PIPE_GPUS": "0:A100"}) == {"keyed": "restored", "plain": "fresh"}


def test_steps_without_gpus_never_detect_them(repo, tmp_path, monkeypatch):
    """No step asks for a GPU: nvidia-smi is not even run (the no-op path stays cheap)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "called"
    fake = bin_dir / "nvidia-smi"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\necho '0, Fake GPU'\n")
    fake.chmod(0o755)
    repo.pipefile("""
        steps:
          a: {command: 'echo a > ${{outputs.o}}', outputs: {o: out/a.txt}}
    """)
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    env = {"PATH": path}
    monkeypatch.delenv("PIPE_GPUS", raising=False)
    assert repo.outcomes(env=env) == {"a": "ran"}
    assert not marker.exists()
    # With a step that asks for one, detection finds the (fake) device and its model.
    repo.pipefile("""
        steps:
          g: {command: 'echo "$CUDA_VISIBLE_DEVICES" > ${{outputs.o}}', outputs: {o: out/g.txt}, resources: {gpus: 1}}
    """)
    r = repo.pipe("run", "--json", env=env)
    assert r.code == 0, str(r)
    assert marker.exists() and repo.read("out/g.txt") == "0\n"
    assert r.json["steps"][0]["gpu_model"] == "Fake GPU"


def _real_gpu() -> bool:
    if not shutil.which("nvidia-smi"):
        return False
    p = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return p.returncode == 0 and "GPU 0" in p.stdout


@pytest.mark.skipif(not _real_gpu(), reason="no NVIDIA GPU (nvidia-smi -L finds none): runs on a GPU machine")
def test_cuda_visible_devices_reaches_a_real_cuda_process(repo):
    pytest.importorskip("torch", reason="torch is needed to start a real CUDA process")
    probe = (
        "import json, os, sys, torch; json.dump({'cvd': os.environ.get('CUDA_VISIBLE_DEVICES'), "
        "'count': torch.cuda.device_count(), 'names': [torch.cuda.get_device_name(i) for i in "
        "range(torch.cuda.device_count())]}, open(sys.argv[1], 'w'))"
    )
    repo.write("probe.py", probe + "\n")
    repo.pipefile(f"""
        steps:
          gpu: {{command: [{json.dumps(sys.executable)}, probe.py, "${{{{outputs.o}}}}"], outputs: {{o: out/gpu.json}},
                resources: {{gpus: 1}}}}
          cpu: {{command: [{json.dumps(sys.executable)}, probe.py, "${{{{outputs.o}}}}"], outputs: {{o: out/cpu.json}}}}
    """)
    r = repo.pipe("run", "--json", timeout=600)
    assert r.code == 0, str(r)
    gpu = json.loads(repo.read("out/gpu.json"))
    cpu = json.loads(repo.read("out/cpu.json"))
    leased = {s["name"]: s for s in r.json["steps"]}["gpu"]["gpus"]
    assert len(leased) == 1 and gpu["cvd"] == leased[0]
    assert gpu["count"] == 1  # CUDA sees exactly the leased device
    assert cpu["count"] == 0 and cpu["cvd"] == ""  # a step that asked for none sees none
    model = {s["name"]: s for s in r.json["steps"]}["gpu"]["gpu_model"]
    assert gpu["names"][0] in model or model in gpu["names"][0]


def test_files_a_requirements_file_includes_are_part_of_the_venv_identity(repo):
    """-r/-c lines pull in other files: editing one of them reruns the steps, as editing the
    requirements file itself does (checked on keys: nothing is built)."""
    repo.write("envs/req.txt", "-r base.txt\n--constraint=../constraints.txt\nsix\n")
    repo.write("envs/base.txt", "-r req.txt\nsix==1.16.0\n")  # a cycle: read once
    repo.write("constraints.txt", "six<2\n")
    repo.write("envs/unrelated.txt", "x\n")
    repo.pipefile("""
        environments:
          six: {type: venv, requirements: envs/req.txt}
          plain: {type: venv, packages: [six]}
        steps:
          a: {command: 'echo a > ${{outputs.o}}', outputs: {o: out/a.txt}, environment: six}
          b: {command: 'echo b > ${{outputs.o}}', outputs: {o: out/b.txt}, environment: plain}
    """)

    def keys():
        r = repo.pipe("status", "--json")
        assert r.code == 0, str(r)
        return {s["name"]: s["key"] for s in r.json["steps"]}

    first = keys()
    repo.write("envs/unrelated.txt", "y\n")
    assert keys() == first
    repo.write("envs/base.txt", "-r req.txt\nsix==1.15.0\n")
    second = keys()
    assert second["a"] != first["a"] and second["b"] == first["b"]
    repo.write("constraints.txt", "six<1.16\n")
    third = keys()
    assert third["a"] not in (first["a"], second["a"]) and third["b"] == first["b"]


def test_an_interpreter_named_by_path_is_part_of_the_venv_identity(repo, tmp_path):
    """A Python upgraded in place at the path `python:` names: the venv made with the old one
    was kept, with every step it ran (checked on keys: nothing is built)."""
    py = tmp_path / "py" / "python3"
    py.parent.mkdir()
    py.write_bytes(b"#!/bin/sh\n# python 3.10 stands here\n")
    py.chmod(0o755)
    repo.pipefile(f"""
        environments:
          pinned: {{type: venv, python: {py}}}
          default: {{type: venv}}
        steps:
          a: {{command: 'echo a > ${{{{outputs.o}}}}', outputs: {{o: out/a.txt}}, environment: pinned}}
          b: {{command: 'echo b > ${{{{outputs.o}}}}', outputs: {{o: out/b.txt}}, environment: default}}
    """)

    def keys():
        r = repo.pipe("status", "--json")
        assert r.code == 0, str(r)
        return {s["name"]: s["key"] for s in r.json["steps"]}

    first = keys()
    assert keys() == first  # (stable while it stays)
    py.write_bytes(b"#!/bin/sh\n# python 3.12 stands here now\n")  # replaced at the same path
    second = keys()
    assert second["a"] != first["a"] and second["b"] == first["b"]
    assert keys() == second


def test_a_program_that_cannot_start_is_named_with_why_and_the_fix(repo):
    # "Exec format error" alone: a script without its '#!' line, or a binary for another CPU.
    if shutil.which("uv"):
        pytest.skip("uv is on PATH: it starts the interpreter itself")
    repo.write("tools/python", "print('no #! line')\n")
    (repo.root / "tools/python").chmod(0o755)
    repo.pipefile("""
        environments:
          e: {type: venv, python: ./tools/python}
        steps:
          a: {command: 'echo a > ${{outputs.o}}', outputs: {o: out/a.txt}, environment: e}
    """)
    r = repo.pipe("run")
    assert r.code == 1, str(r)
    assert "could not start './tools/python': Exec format error (it is not a program this machine can run: " in r.err
    assert "a script needs a '#!' first line naming its interpreter" in r.err, str(r)


def test_a_venv_python_that_is_not_installed_is_an_error_before_anything_runs(repo):
    if shutil.which("uv"):
        pytest.skip("uv is on PATH: it would fetch the Python instead")
    repo.pipefile("""
        environments:
          old: {type: venv, python: "2.9", packages: [six]}
        steps:
          first: {command: 'echo x > ${{outputs.o}}', outputs: {o: out/x.txt}}
          a: {command: python -V, environment: old}
    """)
    r = repo.pipe("run")
    assert r.code == 2, str(r)
    assert "Pipefile:3:3: environment 'old' asks for Python 2.9, but there is no python2.9 on PATH" in r.err
    assert "hint: install Python 2.9, or install uv" in r.err
    assert not repo.exists("out/x.txt")


def test_a_version_manager_shim_that_does_not_run_the_version_is_named_with_the_fix(repo, tmp_path):
    # pyenv puts python3.X shims on PATH for every installed version, selected or not; an
    # unselected one fails only when run (exit 127). This shim stands in for that.
    if shutil.which("uv"):
        pytest.skip("uv is on PATH: it would fetch the Python instead")
    shims = tmp_path / "shims"
    shims.mkdir()
    shim = shims / "python2.9"
    shim.write_text("#!/bin/sh\necho 'pyenv: python2.9: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    repo.pipefile("""
        environments:
          old: {type: venv, python: "2.9", packages: [six]}
        steps:
          a: {command: 'echo a > ${{outputs.o}}', outputs: {o: out/x.txt}, environment: old}
    """)
    r = repo.pipe("run", env={"PATH": f"{shims}:{os.environ['PATH']}"})
    assert r.code == 2, str(r)
    assert f"python2.9 on PATH is a shim ({shim}) that does not run it here" in r.err, str(r)
    assert "PYENV_VERSION=<yours>:2.9.x" in r.err
    assert not repo.exists("out/x.txt")


def test_a_half_built_environment_is_never_used_and_is_pruned(repo):
    """Builds are published by renaming a symlink when complete: an attempt that died before
    (a crash, Ctrl-C) is invisible, replaced by the next attempt, and removed by prune."""
    from pipefile.envs.cache import EnvCache

    repo.pipefile("""
        steps:
          a: {command: 'echo a > ${{outputs.o}}', outputs: {o: out/a.txt}}
    """)
    assert repo.outcomes() == {"a": "ran"}
    cache = EnvCache(str(repo.root / ".pipe/store"))
    dead = cache.new_build("venv-0123")
    (repo.root / dead / "half-written").write_text("x")
    assert cache.lookup("venv-0123") is None and cache.entries() == []
    with cache.lock("venv-0123"):
        retry = cache.new_build("venv-0123")  # the next attempt clears the dead one
    assert not os.path.exists(dead)
    r = repo.pipe("envs", "prune", "--json")
    assert r.code == 0, str(r)
    assert [b["environment"] for b in r.json["removed"]] == ["(unfinished build)"]
    assert not os.path.exists(retry)
    done = cache.new_build("venv-4567")
    cache.publish("venv-4567", done, {"kind": "venv", "name": "old"})
    assert cache.lookup("venv-4567") == done
    listed = repo.pipe("envs", "--json").json["builds"]
    assert [(b["build"], b["used"]) for b in listed] == [("venv-4567", False)]  # no environment uses it
    assert "removed 1 unused environment build(s)" in repo.pipe("envs", "prune").out
    assert cache.lookup("venv-4567") is None and not os.path.exists(done)


FAKE_MICROMAMBA = """#!/bin/sh
# A stand-in for micromamba: records each call, makes a prefix, runs commands "in" it.
echo "$*" >> "$FAKE_MM_LOG"
cmd=$1; shift
case $cmd in
  create)
    while [ $# -gt 0 ]; do case $1 in --prefix) prefix=$2; shift;; --file) file=$2; shift;; esac; shift; done
    [ -n "$FAKE_MM_SLEEP" ] && sleep "$FAKE_MM_SLEEP"
    mkdir -p "$prefix/bin" && cp "$file" "$prefix/env.yml" && echo "created $prefix" ;;
  run)
    [ "$1" = "--prefix" ] && prefix=$2 && shift 2
    CONDA_PREFIX=$prefix exec "$@" ;;
  list) echo "@EXPLICIT" ;;
esac
"""


def test_conda_environment_built_once_and_run_through_the_tool_simulated(repo, tmp_path):
    """A simulated micromamba (a shell script): pipe's side of conda environments, i.e. which
    tool it picks, how it creates, publishes, reuses and runs through the prefix."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "micromamba").write_text(FAKE_MICROMAMBA)
    (bin_dir / "micromamba").chmod(0o755)
    calls = tmp_path / "calls.log"
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_MM_LOG": str(calls)}
    repo.write("envs/sci.yml", "name: sci\ndependencies: [numpy=1.26]\n")
    repo.pipefile("""
        environments:
          sci: {type: conda, file: envs/sci.yml}
        steps:
          a: {command: 'echo "$CONDA_PREFIX" > ${{outputs.o}}', outputs: {o: out/a.txt}, environment: sci}
          b: {command: 'cat "$CONDA_PREFIX/env.yml" > ${{outputs.o}}', outputs: {o: out/b.txt}, environment: sci}
    """)
    assert repo.outcomes("-j", "2", env=env) == {"a": "ran", "b": "ran"}
    prefix = repo.read("out/a.txt").strip()
    assert "/.pipe/store/envs/builds/conda-" in prefix
    assert repo.read("out/b.txt") == repo.read("envs/sci.yml")
    creates = [c for c in calls.read_text().splitlines() if c.startswith("create")]
    assert len(creates) == 1 and f"--prefix {prefix} --file" in creates[0]  # built once, for both steps
    assert repo.outcomes(env=env) == {"a": "fresh", "b": "fresh"}
    repo.write("envs/sci.yml", "name: sci\ndependencies: [numpy=2.0]\n")
    assert repo.outcomes(env=env) == {"a": "ran", "b": "ran"}  # new content, new identity
    assert len([c for c in calls.read_text().splitlines() if c.startswith("create")]) == 2
    row = repo.pipe("envs", "--json", env=env).json["environments"][0]
    assert row["built"] is True and row["identity"].startswith("conda:")


def _wait_for(predicate, what: str, proc, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"pipe ended (exit {proc.returncode}) before {what}: {proc.communicate()}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_ctrl_c_while_another_pipe_builds_the_environment_stops_at_once_simulated(tmp_path):
    """Two workspaces share a store; one pipe builds a (simulated, slow) conda environment,
    the other waits for that build: Ctrl-C stops the waiting one at once, not after the build."""
    from workspace_repo import PIPE, Repo

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "micromamba").write_text(FAKE_MICROMAMBA)
    (bin_dir / "micromamba").chmod(0o755)
    calls = tmp_path / "calls.log"
    calls.write_text("")
    env = dict(
        os.environ,
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        FAKE_MM_LOG=str(calls),
        FAKE_MM_SLEEP="60",
        PIPE_STORE_DIR=str(tmp_path / "store"),
        PIPE_PLAIN="1",
    )
    one, two = Repo(tmp_path / "one"), Repo(tmp_path / "two")
    for ws in (one, two):
        ws.root.mkdir()
        ws.write("envs/sci.yml", "name: sci\n")
        ws.pipefile("""
            environments:
              sci: {type: conda, file: envs/sci.yml}
            steps:
              a: {command: 'echo "$CONDA_PREFIX" > ${{outputs.o}}', outputs: {o: out/a.txt}, environment: sci}
        """)

    def start(ws):
        return subprocess.Popen(
            PIPE + ["run"], cwd=ws.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    builder = start(one)
    try:
        _wait_for(lambda: "create" in calls.read_text(), "the build began", builder)
        waiter = start(two)
        log = two.root / ".pipe/jobs/1/a.log"
        _wait_for(lambda: log.exists() and "waiting for another pipe" in log.read_text(), "the wait", waiter)
        t0 = time.monotonic()
        waiter.send_signal(signal.SIGINT)
        out, err = waiter.communicate(timeout=30)
        assert waiter.returncode == 130, err
        assert time.monotonic() - t0 < 4.0, err
        assert "interrupted while another pipe was building it" in err
        assert builder.poll() is None  # the build goes on
    finally:
        builder.send_signal(signal.SIGINT)
        builder.communicate(timeout=30)
    assert builder.returncode == 130
    # Neither left anything half-built that a later run would use.
    env["FAKE_MM_SLEEP"] = ""
    r = subprocess.run(PIPE + ["run"], cwd=two.root, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "/envs/builds/conda-" in two.read("out/a.txt")
