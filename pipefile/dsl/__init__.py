"""A Python way to write a pipeline (docs/dsl.md): components and a `@pipeline` function that
wires their calls. `pipe run -f build.py` runs the `pipeline` a module defines, `pipe export
build.py` writes the Pipefile it stands for (the same steps, the same keys).

    from pipefile import dsl

    prep = dsl.command(name="prep", command="...", inputs={...}, outputs={...}, code=[...])

    @dsl.pipeline(name="wine")
    def wine(seed: int = 42):
        p = prep(data=dsl.Input(type="uri_file", path="data/wine.csv"), seed=seed)
        ...

    pipeline = wine()

Modules:
  ports        Input, Output; what an annotation or a literal says about a port's type
  components   command(), command_component, the component classes
  library      load_component: std/NAME@MAJOR, PIPEFILE:NAME, a component YAML file
  nodes        params, data inputs, steps (calls) and their outputs; matrix/sweep/foreach
  building     @pipeline: runs the function, checks each call, names the steps
  nested       a @pipeline called inside another: a pipeline component (type: pipeline)
  document     a pipeline -> the Pipefile's text, each line with its place in the user's code
  where        locations in the user's code; DslError
  run          what a command_component's step runs (python -m pipefile.dsl.run)
  imports      the workspace modules a command_component's module imports (in its step's key)
"""

from __future__ import annotations

from .building import pipeline
from .components import command, command_component
from .document import Pipeline
from .library import load_component
from .nodes import choice, lognormal, loguniform, normal, qlognormal, qloguniform, qnormal, quniform, randint, uniform
from .ports import Input, Output

__all__ = [
    "Input",
    "Output",
    "Pipeline",
    "choice",
    "command",
    "command_component",
    "load_component",
    "lognormal",
    "loguniform",
    "normal",
    "pipeline",
    "qlognormal",
    "qloguniform",
    "qnormal",
    "quniform",
    "randint",
    "uniform",
]
