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

    if not os.path.lexists(source):  # (read_bytes's hint speaks of -f, which this command has not)
        raise PipefileError(f"{source}: no such file", hint="give the path of the pipeline job's YAML")
    data = document.read_bytes(source)
    text = data.decode("utf-8", errors="replace")
    if not looks_like(text):
        raise _not_a_job(source, text)
    pf, errors = load_lenient(os.path.abspath(source), text)
    echo_notes(pf.warnings, "warning")
    raise_all(errors)
    _check_output_folder(output, pf.root)
    written = export.to_pipefile(pf, source)
    write_pipefile(written, output, force, len(pf.steps))
    for note in export.best_notes(pf, os.path.basename(source)):
        click.echo("note: " + note.replace("\n", " "), err=True)


def _not_a_job(source: str, text: str):
    """Why `source` is no job pipe imports, at the line that says so: `type: spark`, a pipeline
    with no `jobs:`, a component (each was one message, with no line, for any of them)."""
    from ..errors import PipefileError, SourceLoc
    from ..load.azureml import yamlfile
    from ..load.reader import display_path

    try:
        top = yamlfile.parse(text, os.path.abspath(source))
    except PipefileError as e:  # (not YAML: said at its line)
        return e
    kind = top.get("type") if isinstance(top, yamlfile.Map) else None
    schema = str(top.get("$schema") or "") if isinstance(top, yamlfile.Map) else ""
    if isinstance(top, yamlfile.Map) and "component" in schema.lower():
        return PipefileError(
            "a component, not a job (its $schema is a component's)",
            top.at("$schema"),
            "give the pipeline job that uses it (component: ./" + os.path.basename(source) + ")",
        )
    if kind == "pipeline":
        return PipefileError(
            "a pipeline job with no jobs:",
            top.at("type"),
            "add its jobs: {NAME: {command: ..., inputs: ...}}",
        )
    if isinstance(kind, str) and kind:
        return PipefileError(
            f"a '{kind}' job; pipe imports pipeline, command and sweep jobs",
            top.at("type"),
            "run it on Azure, or rewrite it as a command job",
        )
    return PipefileError(
        "not an Azure ML job (at its top level no `type: pipeline` with `jobs:`, nor `type: command` or `type: sweep`)",
        top.loc if isinstance(top, (yamlfile.Map, yamlfile.Seq)) else SourceLoc(display_path(source), 1),
        "give the job's YAML (the file you pass to `az ml job create --file`)",
    )


def _check_output_folder(output: str, root: str) -> None:
    """The Pipefile's paths are the workspace's (the pipeline's folder, or the folder above
    that holds what it reads): written elsewhere, it read none of them (exit 2 at its load)."""
    from ..errors import PipefileError

    target = os.path.realpath(output) if output != "-" else ""
    if not target or (os.path.exists(target) and not os.path.isfile(target)):
        return  # (stdout, a FIFO: the text goes where the caller says)
    if os.path.dirname(target) != os.path.realpath(root):
        name = os.path.basename(output) or "Pipefile"
        raise PipefileError(
            f"-o {output}: a Pipefile for this pipeline must be in its workspace, {os.path.relpath(root)}/ "
            "(its paths, code and outputs are written from there)",
            hint=f"-o {os.path.join(os.path.relpath(root), name)}",
        )


globals()["import"] = _import_group  # (the command's name is a keyword: app.py looks it up by name)
