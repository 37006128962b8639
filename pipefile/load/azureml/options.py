"""What the user tells the importer beyond the YAML: the `--azureml-*` options of `pipe run`,
`status`, `dag` and `validate`, which set these environment variables (so a served job or a
script can set them too). The spec cache keys on their values and on the files they name."""

from __future__ import annotations

import os

from ...lazyclass import dataclass

ENV_ASSETS = "PIPE_AZUREML_ASSETS"  # folders with the YAMLs of data assets/components/environments (os.pathsep)
ENV_MAP = "PIPE_AZUREML_MAP"  # a YAML file: URL prefix or azureml:NAME[@|:]VERSION -> local path
ENV_ENVS = "PIPE_AZUREML_ENVS"  # "local" (default), "docker" (what `image:` alone becomes), "conda"
ENV_ENV_MAP = "PIPE_AZUREML_ENV_MAP"  # a YAML file: environment reference -> what to use instead
ALL = (ENV_ASSETS, ENV_MAP, ENV_ENVS, ENV_ENV_MAP)


@dataclass(frozen=True)
class Options:
    assets: tuple = ()  # absolute folders
    map_file: str = ""
    envs: str = "local"
    env_map_file: str = ""


def read(environ=None) -> Options:
    env = os.environ if environ is None else environ
    assets = tuple(os.path.abspath(p) for p in env.get(ENV_ASSETS, "").split(os.pathsep) if p)
    return Options(
        assets=assets,
        map_file=os.path.abspath(env[ENV_MAP]) if env.get(ENV_MAP) else "",
        envs=env.get(ENV_ENVS) or "local",
        env_map_file=os.path.abspath(env[ENV_ENV_MAP]) if env.get(ENV_ENV_MAP) else "",
    )


def signature(environ=None) -> list:
    env = os.environ if environ is None else environ
    return [env.get(k, "") for k in ALL]
