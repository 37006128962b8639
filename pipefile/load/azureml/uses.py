"""The pipeline nodes of an Azure ML pipeline (`type: pipeline` jobs) as `spec.PipelineUse`s:
their inner command nodes are flattened into steps (`outer/inner`), but what the node itself
declares (its component's inputs and outputs, what the job binds to them, where each output
lands) is kept, so the designer draws a folded pipeline node with typed, connected ports as it
does for a Pipefile's pipeline step."""

from __future__ import annotations

from typing import Any, Optional

from ... import spec
from ...errors import PipefileError
from .nodes import PORT_TYPES, JobRef
from .yamlfile import Map


class PipelineNode:
    """What `job()` saw of one pipeline node, kept until the steps exist."""

    def __init__(self, node: str, comp, comp_file: str, decls: dict, binds: dict, loc, description: str):
        self.node = node
        self.comp = comp
        self.comp_file = comp_file
        self.decls = decls  # input name -> spec.InputDecl (the component's)
        self.binds = binds  # input name -> spec.Binding, JobRef or None (what the node gets)
        self.loc = loc
        self.description = description


def pipeline_uses(importer: Any, seen: dict, steps: dict) -> dict:
    """node path -> spec.PipelineUse for each pipeline node `seen` (node -> PipelineNode)."""
    uses = {}
    for node, p in seen.items():
        inputs = {}
        for name, b in p.binds.items():
            b = _binding(importer, b)
            if b is not None:
                inputs[name] = b
        outs = p.comp.get("outputs")
        out_decls, placed = {}, {}
        for oname, o in outs.items() if isinstance(outs, Map) else ():
            t = o.get("type") if isinstance(o, Map) else None
            out_decls[oname] = spec.OutputDecl(oname, PORT_TYPES.get(t or "uri_folder", spec.URI_FOLDER))
            path = _placed(importer, importer.exports.get(node, {}).get(oname), steps)
            if path is not None:
                placed[oname] = spec.StepOutput(oname, path, out_decls[oname].type, p.loc)
        name = p.comp.get("name") if isinstance(p.comp.get("name"), str) else ""
        component = spec.PipelineComponent(
            name=name or p.comp_file,
            inputs=p.decls,
            outputs=out_decls,
            steps={},
            binds={},
            description=str(p.comp.get("description") or ""),
            source=p.comp_file,
        )
        uses[node] = spec.PipelineUse(node, component, inputs, placed, p.loc, p.description)
    return uses


def _binding(importer: Any, b) -> Optional[spec.Binding]:
    """A spec.Binding for what a node input gets (a job's output, resolved to the step writing it)."""
    if not isinstance(b, JobRef):
        return b
    try:
        step, out = importer._resolve(b)
    except PipefileError:  # said already where the inner steps read it
        return None
    draft = importer.drafts[step]
    if draft.expand is not None:  # a sweep's output: its best trial's, as the steps read it
        step = f"{step}.best"
    return spec.Binding(spec.BIND_STEP_OUTPUT, b.loc, ref=step, output=out, type=draft.outputs[out].type)


def _placed(importer: Any, target, steps: dict) -> Optional[str]:
    """The workspace path of the inner output a pipeline node's output is bound to."""
    if target is None:
        return None
    try:
        step, out = importer._resolve(target)
    except PipefileError:
        return None
    for name in (f"{step}.best", step):  # a sweep's: what its best trial gives
        s = steps.get(name)
        if s is not None and out in s.outputs:
            return s.outputs[out].path
    return None
