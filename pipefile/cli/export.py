"""`pipe export build.py [-o Pipefile]`: the Pipefile a pipefile.dsl pipeline stands for
(docs/dsl.md): the same steps with the same keys, so either builds what the other built."""

from __future__ import annotations

import os

import click

from .guard import guard
from .options import CONTEXT, echo_notes, pipefile_output, write_pipefile


@click.command(context_settings=CONTEXT)
@click.argument("source", metavar="MODULE.py[:NAME]")
@pipefile_output
@guard
def export(source, output, force):
    """Write the Pipefile of the pipeline a Python module defines (its `pipeline`, or NAME)."""
    from ..dsl.document import export_text
    from ..errors import PipefileError, raise_all
    from ..load import pymodule
    from ..load.document import read_text

    if not pymodule.is_module_ref(source):
        raise PipefileError(
            f"{source}: not a Python module", hint="give the module that defines the pipeline: pipe export build.py"
        )
    obj, file, name = pymodule.pipeline_object(source)
    if not pymodule.is_dsl(obj):
        raise PipefileError(
            f"{file}: `{name}` is an azure-ai-ml pipeline, not a pipefile.dsl one",
            hint=f'write its YAML (pipeline.dump("pipeline.yml")), then: pipe import azureml pipeline.yml -o {output}',
        )
    file = os.path.abspath(file)
    root = os.path.dirname(file)
    if output != "-" and os.path.dirname(os.path.abspath(output)) != root:
        raise PipefileError(
            f"{output}: a Pipefile's paths are read from its own folder, and this pipeline's from {root}",
            hint=f"write it beside the module: -o {os.path.join(os.path.dirname(source) or '.', 'Pipefile')}",
        )
    # checked as `pipe run -f` reads it (its errors at the lines of Python) before it is written
    read, relocate = pymodule.dsl_text(obj, file)
    pf, errors = read_text(read, file, relocate)
    text = export_text(obj, root, os.path.basename(file), name)
    echo_notes(pf.warnings, "warning")
    raise_all(errors)
    write_pipefile(text, output, force, len(pf.steps))
