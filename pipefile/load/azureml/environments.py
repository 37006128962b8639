"""Azure ML environments -> pipe environments (docs/azureml.md, "Environments").

- a curated environment (`azureml:AzureML-sklearn-1.5@latest`, or its registry URI) -> a venv
  with the pins of its published conda file, built once and cached like any venv;
- `image:` + `conda_file:` -> a venv of the conda file's `pip:` list and its plain packages
  (`name=1.2` read as `name==1.2`; python, pip and conda's own tools left out);
- `image:` alone (or `build:`) -> the calling interpreter, or with `--azureml-envs docker`
  that image;
- the environment map (`--azureml-env-map FILE`) overrides any of these, by the reference
  as written or by the environment's name: `local`, `docker:IMAGE`, or a mapping
  `{type: venv, packages: [...], python: ...}`.
"""

from __future__ import annotations

import os
import re
from typing import Optional

from ... import spec
from ...errors import PipefileError
from .yamlfile import Map

# The curated environments the examples use, as their published conda files define them
# (Azure/azureml-assets, assets/training/general/environments/NAME/context/
# conda_dependencies.yaml, read 2026-12-06): the Python version and the pins of the packages a
# step's code imports. Left out, on purpose: the packages that only talk to Azure or serve
# there (azureml-core, -defaults, -telemetry, -inference-server-http, scikit-learn-intelex,
# published unpinned as "latest"), and the debugging tools (py-spy, debugpy, ipykernel,
# tensorboard, torch-tb-profiler, py-cpuinfo). azureml-mlflow is stood for by mlflow-skinny, the
# MLflow it brings, within its bound (its Azure tracking plugin means nothing offline). A curated environment not
# here needs a line in the environment map.
CURATED = {
    "sklearn-1.5": (
        "scikit-learn~=1.5.0",
        "numpy~=1.22.0",
        "scipy~=1.10.0",
        "pandas~=1.5.3",
        "joblib~=1.2.0",
        "matplotlib~=3.5.0",
        "psutil~=5.8.0",
        "tqdm~=4.66.3",
        "mlflow-skinny<=3.15.0",
    ),
    "sklearn-1.0": (
        "scikit-learn~=1.0.0",
        "numpy~=1.22.0",
        "scipy~=1.10.0",
        "pandas~=1.3.0",
        "joblib~=1.2.0",
        "matplotlib~=3.5.0",
        "psutil~=5.8.0",
        "tqdm~=4.66.3",
        "mlflow-skinny<=3.15.0",
    ),
}
# Their `python=`: the venv is made with that version (pipe finds python3.X on PATH).
CURATED_PYTHON = {"sklearn-1.5": "3.10", "sklearn-1.0": "3.9"}
_CURATED_RE = re.compile(r"(?:^|[/:])(?:AzureML-)?(sklearn-[0-9.]+?)(?:-ubuntu[^/@:]*)?(?:-cpu)?(?:[@:/]|$)", re.I)
_CONDA_TOOLS = {"python", "pip", "conda", "setuptools", "wheel"}


def safe_name(ref: str) -> str:
    """A valid environment name for a reference as written."""
    text = ref.split("azureml:", 1)[-1].strip("/")
    text = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "env"
    return text if re.match(r"[A-Za-z_]", text) else "env-" + text


_REGISTRY_ENV = re.compile(r"^azureml://registries/azureml/environments/([A-Za-z0-9_.-]+)(?:/|$)")


def curated_image(ref: str) -> Optional[str]:
    """The image of a curated environment of Azure's registry
    (`azureml://registries/azureml/environments/NAME/...`): azureml-assets publishes each as
    mcr.microsoft.com/azureml/curated/NAME."""
    m = _REGISTRY_ENV.match(ref)
    return f"mcr.microsoft.com/azureml/curated/{m.group(1)}:latest" if m else None


def unknown_curated_hint(ref: str) -> str:
    image = curated_image(ref)
    run_it = f", or run it in its image: '{ref}: docker:{image}' (or --azureml-envs docker)" if image else ""
    return f"map it in an environment map file (--azureml-env-map FILE, e.g. '{ref}: local'{run_it})"


def curated(ref: str) -> Optional[str]:
    """The key of CURATED a reference names (`azureml:AzureML-sklearn-1.5@latest`,
    `azureml://registries/azureml/environments/sklearn-1.5/labels/latest`), if any."""
    m = _CURATED_RE.search(ref)
    return m.group(1).lower() if m and m.group(1).lower() in CURATED else None


def conda_packages(conda: dict) -> tuple:
    """(requirement strings) of a conda file: its `pip:` list and its plain packages."""
    out = []
    for dep in conda.get("dependencies") or ():
        if isinstance(dep, dict):
            out += [str(p) for p in dep.get("pip") or () if not str(p).startswith("-")]
        elif isinstance(dep, str):
            name, _, version = dep.partition("=")
            name = name.split("::")[-1].strip()
            if name.lower() in _CONDA_TOOLS:
                continue
            version = version.lstrip("=")
            out.append(
                f"{name}=={version}" if version and version[0].isascii() and version[0].isdigit() else name + version
            )
    return tuple(out)


_PIP_REQUIREMENT = re.compile(r"^(?:-r(?:\s+|\s*=\s*|(?=[^\s=-]))|--requirement(?:\s+|\s*=\s*))(\S.*?)\s*$")


def pip_requirement_files(conda: dict) -> list:
    """The files a conda file's `pip:` list pulls in (`-r requirements.txt`), as written."""
    out = []
    for dep in conda.get("dependencies") or ():
        if isinstance(dep, dict):
            for p in dep.get("pip") or ():
                m = _PIP_REQUIREMENT.match(str(p).strip())
                if m:
                    out.append(m.group(1))
    return out


def _check_conda(conda: dict, loc) -> None:
    """The shapes conda_packages reads: a list of dependencies, a `pip:` a list (other shapes
    were an internal error, exit 70)."""
    deps = conda.get("dependencies") or []
    if not isinstance(deps, list):
        raise PipefileError(
            "conda_file: dependencies must be a list",
            conda.at("dependencies") if isinstance(conda, Map) else loc,
            "dependencies: [python=3.10, pip, {pip: [pandas]}]",
        )
    for dep in deps:
        if isinstance(dep, dict) and not isinstance(dep.get("pip") or [], list):
            where = dep.at("pip") if isinstance(dep, Map) and dep.file else loc
            raise PipefileError("conda_file: pip must be a list of requirements", where, "- pip: [pandas==2.2.2]")


def from_map(name: str, value, loc) -> spec.EnvSpec:
    """An environment map entry as an EnvSpec; `local` -> ENV_LOCAL (no environment)."""
    if value == "local" or value is None:
        return spec.EnvSpec(name, spec.ENV_LOCAL, loc=loc)
    if isinstance(value, str) and value.startswith("docker:"):
        return spec.EnvSpec(name, spec.ENV_DOCKER, image=value[len("docker:") :], loc=loc)
    if isinstance(value, dict) and value.get("type", "venv") == "venv":
        packages = value.get("packages") or ()
        if isinstance(packages, str) or not all(isinstance(p, str) for p in packages):
            raise PipefileError("'packages' must be a list of requirement strings", loc)
        return spec.EnvSpec(
            name, spec.ENV_VENV, python=str(value.get("python") or ""), packages=tuple(packages), loc=loc
        )
    raise PipefileError(
        f"environment map: cannot use {value!r} for '{name}'",
        loc,
        "map an environment to local, docker:IMAGE, or {type: venv, packages: [...]}",
    )


def choose(
    ref_text: str, definition: Optional[Map], use_docker: bool, loc, read_conda, use_conda: bool = False
) -> spec.EnvSpec:
    """The environment for a component's `environment:`: `ref_text` as written (a string
    reference, or "" for an inline definition), `definition` the environment's mapping
    (inline or from a local YAML). `read_conda(path, base_file)` reads a conda file."""
    name = safe_name(ref_text) if ref_text else ""
    key = curated(ref_text) if ref_text else None
    if key is not None:
        return spec.EnvSpec(name, spec.ENV_VENV, python=CURATED_PYTHON[key], packages=CURATED[key], loc=loc)
    image_of_curated = curated_image(ref_text) if definition is None and use_docker else None
    if image_of_curated:
        return spec.EnvSpec(name, spec.ENV_DOCKER, image=image_of_curated, loc=loc)
    if definition is None:
        raise PipefileError(
            f"environment '{ref_text}' is neither a curated environment pipe knows ({', '.join(sorted(CURATED))}) "
            "nor defined by a local YAML",
            loc,
            unknown_curated_hint(ref_text),
        )
    name = name or safe_name(str(definition.get("name") or definition.get("image") or "env"))
    conda_file = definition.get("conda_file")
    if conda_file and use_conda and isinstance(conda_file, str):
        # (--azureml-envs conda: the file as written, python= and conda packages honoured)
        base = getattr(definition, "file", "") or getattr(loc, "file", "")
        return spec.EnvSpec(name, spec.ENV_CONDA, file=os.path.join(os.path.dirname(base), conda_file), loc=loc)
    if conda_file:
        conda = read_conda(conda_file, definition) if isinstance(conda_file, str) else conda_file
        if not isinstance(conda, dict):
            raise PipefileError("conda_file: not a conda environment file (a mapping)", loc)
        _check_conda(conda, loc)
        # `- -r requirements.txt` under pip: was dropped: the venv lacked its packages, and
        # an edit of it rebuilt nothing. The venv's requirements file now (its content keyed).
        reqs = pip_requirement_files(conda)
        if len(reqs) > 1:
            raise PipefileError(
                f"conda_file: its pip list reads {len(reqs)} requirements files ({', '.join(reqs)}); "
                "pipe's venv takes one",
                loc,
                "list the packages of all but one in the conda file's pip: list, or -r one file that -r's the others",
            )
        where = os.path.dirname(getattr(conda, "file", "") or getattr(definition, "file", ""))
        requirements = os.path.normpath(os.path.join(where, reqs[0])) if reqs else ""
        return spec.EnvSpec(name, spec.ENV_VENV, packages=conda_packages(conda), requirements=requirements, loc=loc)
    image = definition.get("image")
    if use_docker and isinstance(image, str) and image:
        return spec.EnvSpec(name, spec.ENV_DOCKER, image=image, loc=loc)
    if use_docker and isinstance(definition.get("build"), dict):
        build = definition["build"]
        folder = os.path.join(os.path.dirname(definition.file), str(build.get("path", ".")))
        return spec.EnvSpec(name, spec.ENV_DOCKER, build=folder, loc=loc)
    return spec.EnvSpec(name, spec.ENV_LOCAL, loc=loc)
