"""`pipe components list`, `pipe components show NAME`: the std library's components and the
Pipefile's own, with their typed inputs, params and outputs."""

from __future__ import annotations

import click

from .guard import guard
from .options import CONTEXT, echo_notes, file_option


def _pipefile(path, name=None):
    """The Pipefile's spec (its valid part: a step with errors does not hide the components),
    or None outside a workspace when no -f names one. The errors of its components (of the
    one `name` names) are warnings on stderr: a component is shown as far as it loads, and
    one with a bad input or none at all must not pass for a whole one."""
    import os
    import re

    from .. import load
    from ..errors import PipefileError
    from ..load import pymodule

    if path is None:
        try:
            path = load.find_pipefile(".")
        except PipefileError:  # no Pipefile here (nor above): the std library alone
            return None
    try:
        pf, errors = load.load_lenient(path)
    except PipefileError as e:  # (not YAML, a module that crashes ...): the std library stays listed
        file = pymodule.split_ref(path)[0] if pymodule.is_module_ref(path) else path
        if not os.path.isfile(file):  # (-f naming nothing: bad usage, as for every command)
            raise
        left_out = "its own components are left out until it loads (pipe validate)"
        echo_notes([(e.loc, e.message, f"{e.hint}; {left_out}" if e.hint else left_out)], "warning")
        return None
    about = re.compile(r"(^|of )component '" + (re.escape(name) + "'" if name else ""))
    echo_notes([(e.loc, e.message, e.hint) for e in errors if about.search(e.message)], "warning")
    return pf


@click.group(context_settings=CONTEXT)
def components():
    """The components steps can use: std/NAME@MAJOR from the std library, and the Pipefile's own."""


@components.command("list", context_settings=CONTEXT)
@file_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@guard
def list_components(pipefile, as_json):
    """List every component: the std library's (also outside a workspace) and the Pipefile's."""
    from .. import catalog
    from ..report import components as report
    from ..report.text import dump_json

    found = catalog.catalog(_pipefile(pipefile))
    if as_json:
        dump_json({"library": catalog.library_location(), "components": found})
    else:
        report.render_list(found)


@components.command(context_settings=CONTEXT)
@click.argument("name")
@file_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@guard
def show(name, pipefile, as_json):
    """Show one component in full (NAME: a Pipefile component, std/NAME[@MAJOR], or a std NAME),
    with an example step that uses it."""
    from .. import catalog
    from ..report import components as report
    from ..report.text import dump_json

    info = catalog.find(_pipefile(pipefile, name), name)
    example = catalog.example_step(info)
    if as_json:
        dump_json(dict(info, example=example))
    else:
        report.render_show(info, example)
