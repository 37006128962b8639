"""`pipe report JOB`: a job's page as one self-contained file (HTML, or Markdown for a
pull-request comment), for CI artifacts; no server needed (docs/report.md)."""

from __future__ import annotations

import sys

import click

from .guard import guard
from .options import CONTEXT, file_option, open_workspace

FORMATS = ("html", "markdown")


@click.command(context_settings=CONTEXT)
@click.argument("job")
@file_option
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    help="Where to write it (default: report-ID.html, or .md, in this folder; -: standard output).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="html (the default) or markdown (default when FILE ends in .md).",
)
@guard
def report(job, pipefile, output, fmt):
    """Write the page of a JOB: its graph coloured by outcome, params, metrics and charts, the
    change since the previous job of its experiment, and the end of failed steps' logs.

    JOB: an id, a unique uid prefix, last, or last~N. Prints the path of the file written.
    """
    from ..report import jobpage, jobpage_render
    from ..report.text import write_text_file

    if fmt is None:
        fmt = "markdown" if output and output.lower().endswith((".md", ".markdown")) else "html"
    ws = open_workspace(pipefile)
    try:
        page = jobpage.gather(ws, job)
    finally:
        ws.close()
    text = jobpage_render.render(page, fmt)
    if output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    path = output or jobpage.default_name(page.job, fmt)
    write_text_file(path, text, "a report")
    click.echo(path)
