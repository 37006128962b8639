"""A step's input after binding: `${{...}}` and plain bindings resolved to a workspace path,
a value, or nothing (`Input`). Assets, other steps' outputs, artifact versions and paths
become paths; params and literals become values; an unbound input takes its default."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from . import spec
from .errors import PipefileError, SourceLoc
from .lazyclass import dataclass
from .spec import BIND_ARTIFACT, BIND_ASSET, BIND_NONE, BIND_PARAM, BIND_PATH, BIND_STEP_OUTPUT, BIND_VALUE

IN_PATH = "path"
IN_VALUE = "value"
IN_NONE = "none"


@dataclass(frozen=True)
class Input:
    """A step input after binding: a workspace path, a value, or nothing."""

    name: str
    kind: str  # IN_PATH, IN_VALUE or IN_NONE
    path: str = ""
    value: Any = None
    type: Optional[str] = None  # expected uri_file / uri_folder, when known
    param: str = ""  # the param it came from, if any
    loc: SourceLoc = SourceLoc("")
    artifact: str = ""  # the artifact version it reads ("model:3"), if bound to ${{artifacts...}}


def resolve_binding(iname, b: spec.Binding, pf, params, decl, artifacts: Mapping, as_written: bool = False) -> Input:
    """`as_written`: a param's value is taken as it is (an Azure ML step renders a whole
    number given to a number input as 1, as Azure does), not as the input's type (1.0)."""
    dtype = decl.type if decl else None
    if b.kind == BIND_ARTIFACT:
        art = artifacts.get((b.ref, b.version))
        if art is None:
            raise PipefileError(
                f"input '{iname}' reads {b.describe()}, which was not resolved to a stored version",
                b.loc,
                "load the graph with session.load, which resolves artifact versions",
            )
        return Input(
            iname,
            IN_PATH,
            path=art.path,
            type=b.type or (dtype if dtype in spec.PATH_TYPES else None),
            loc=b.loc,
            artifact=art.ref,
        )
    if b.kind == BIND_ASSET:
        a = pf.assets[b.ref]
        return Input(
            iname, IN_PATH, path=a.path, type=a.type or (dtype if dtype in spec.PATH_TYPES else None), loc=b.loc
        )
    if b.kind == BIND_STEP_OUTPUT:
        out = pf.steps[b.ref].outputs[b.output]
        return Input(iname, IN_PATH, path=out.path, type=out.type, loc=b.loc)
    if b.kind == BIND_PATH:
        return Input(iname, IN_PATH, path=b.ref, type=b.type, loc=b.loc)
    if b.kind == BIND_PARAM and params[b.ref] is not None:
        v = params[b.ref]
        if dtype == spec.NUMBER and isinstance(v, int) and not isinstance(v, bool) and not as_written:
            v = float(v)
        return Input(iname, IN_VALUE, value=v, param=b.ref, loc=b.loc)
    if b.kind == BIND_VALUE:
        return Input(iname, IN_VALUE, value=b.value, loc=b.loc)
    # (a param left None: an Azure ML pipeline input given no value, which -p may set, is unbound)
    assert b.kind in (BIND_NONE, BIND_PARAM)
    if decl is not None and decl.default is not spec.MISSING:
        if decl.type in spec.PATH_TYPES:
            return Input(iname, IN_PATH, path=decl.default, type=decl.type, loc=b.loc)
        return Input(iname, IN_VALUE, value=decl.default, loc=b.loc)
    return Input(iname, IN_NONE, loc=b.loc)
