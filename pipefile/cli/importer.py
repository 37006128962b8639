"""`pipe import azureml FILE -o Pipefile`: a pipeline of another tool written as a Pipefile
(docs/azureml.md, "Moving over for good")."""

from __future__ import annotations

import os

import click

from .guard import guard
from .options import CONTEXT, azureml_options, echo_notes, pipefile_output, write_pipefile


@click.group("import", context_settings=CONTEXT)
def _import_group():
    """Write a Pipefile from another tool's pipeline."""


@_import_group.command("azureml", context_settings=CONTEXT)
@click.argument("source", type=click.Path(dir_okay=False))
@pipefile_output
@azureml_options
@guard
def azureml(source, output, force):
    """Write the Pipefile equivalent to an Azure ML pipeline job YAML: its steps keep their keys."""
    from ..errors import PipefileError, raise_all
    from ..load import document
    from ..load.azureml import export, load_lenient, looks_like

    data = document.read_bytes(source)
    text = data.decode("utf-8", errors="replace")
    if not looks_like(text):
        raise PipefileError(
            f"{source}: not an Azure ML job (at its top level no `type: pipeline` with `jobs:`, "
            "nor `type: command` or `type: sweep`)",
            hint="give the job's YAML (the file you pass to `az ml job create --file`)",
        )
    pf, errors = load_lenient(os.path.abspath(source), text)
    echo_notes(pf.warnings, "warning")
    raise_all(errors)
    written = export.to_pipefile(pf, source)
    write_pipefile(written, output, force, len(pf.steps))
    for note in export.best_notes(pf, os.path.basename(source)):
        click.echo("note: " + note.replace("\n", " "), err=True)


globals()["import"] = _import_group  # (the command's name is a keyword: app.py looks it up by name)
