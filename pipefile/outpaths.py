"""Per-task output paths: a matrix or sweep output whose path uses the step's inputs.

`outputs: {model: build/model-${{inputs.lr}}}` on a matrix step: each task writes the path
rendered with its own values (`build/model-0.01`, `build/model-0.1`), spelt as in the task's
label (so a value never adds a path separator), instead of an entry below a declared folder.
Only the inputs the expansion sets may appear (any other input has one value for every task,
so the tasks would clash). Two tasks rendering one path is a located error.

Such an output has no folder of its own to gather into: `${{steps.STEP.outputs.NAME}}` is a
task `STEP.gathered` (gather_step) that copies each task's output into
`.pipe/gathered/STEP/NAME/LABEL`, one entry per task, as an ordinary gathered folder has.
The loader's side (which paths may be templates, located errors) is load/outpaths.py.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Optional

from . import spec, template
from .errors import PipefileError
from .filenames import MAX_BYTES, file_name, long_part


def parts_of(text: str) -> Optional[tuple]:
    """The parsed template when every `${{ }}` in it is an input (None otherwise)."""
    try:
        parts = template.parse(text)
    except template.TemplateError:
        return None
    refs = [p for p in parts if not isinstance(p, str)]
    if not refs or any(not isinstance(p, template.Ref) or p.scope != "inputs" for p in refs):
        return None
    return parts


def input_names(tpl: str) -> list:
    parts = parts_of(tpl) or ()
    return [p.name for p in parts if isinstance(p, template.Ref)]


def render(tpl: str, values: Mapping, spell) -> str:
    """The template with each input written as `spell(value)` (the label's spelling)."""
    parts = parts_of(tpl) or ()
    path = "".join(p if isinstance(p, str) else spell(values[p.name]) for p in parts)
    return "/".join(file_part(x) for x in path.split("/"))


def file_part(text: str) -> str:
    """A value's spelling where it is a whole part of a path: '.' and '..' would be the
    folder itself or its parent (a task writing outside its place), so they are spelt
    %2E (a value's own '%' is escaped: no other value is spelt so)."""
    return {".": "%2E", "..": "%2E%2E"}.get(text, text)


def clash_errors(st: spec.Step, labels: tuple, rendered: list) -> list:
    """Two tasks of `st` writing one rendered path (rendered[k]: {output: path} of task k)."""
    errors: list = []
    seen: dict = {}
    for label, paths in zip(labels, rendered):
        for oname, path in paths.items():
            if path in seen:
                other, oother = seen[path]
                errors.append(
                    PipefileError(
                        f"tasks '{st.name}[{other}]' and '{st.name}[{label}]' of step '{st.name}' both write "
                        f"'{path}' ("
                        + (f"output '{oname}'" if oname == oother else f"outputs '{oother}' and '{oname}'")
                        + ")",
                        st.outputs[oname].loc,
                        "use in the path every input whose values tell the tasks apart",
                    )
                )
                return errors
            seen.setdefault(path, (label, oname))
    return errors


_STATE_DIR = ".pipe"  # pipe's own folder in the workspace (load.paths.STATE_DIR)


def state_dir_errors(st: spec.Step, labels: tuple, rendered: list) -> list:
    """A task whose rendered path is pipe's own .pipe/ or lies in it (a value `.pipe`): the
    template's check saw only a sample value, and the run refused it late, exit 1, as a
    step that wrote there."""
    for label, paths in zip(labels, rendered):
        for oname, path in paths.items():
            if path == _STATE_DIR or path.startswith(_STATE_DIR + "/"):
                return [
                    PipefileError(
                        f"task '{st.name}[{label}]' would write output '{oname}' at '{path}', inside "
                        f"{_STATE_DIR}/, which belongs to pipe",
                        st.outputs[oname].loc,
                        "start the output path with a folder of your own (e.g. build/${{inputs.X}}), "
                        f"or give the input another value than '{_STATE_DIR}'",
                    )
                ]
    return []


def per_task_paths(st: spec.Step, labels, combos, errors: list, spell) -> Optional[dict]:
    """{output: each task's rendered path, in task order} for the outputs of `st` whose path
    uses the inputs; None (and an error) when two tasks would write one path."""
    tpls = {o.name: o.template for o in st.outputs.values() if o.template}
    if not tpls:
        return {}
    rendered = [{n: render(t, dict(combo), spell) for n, t in tpls.items()} for combo in combos]
    inside = state_dir_errors(st, tuple(labels), rendered)
    if inside:
        errors.extend(inside)
        return None
    clash = clash_errors(st, tuple(labels), rendered)
    if clash:
        errors.extend(clash)
        return None
    return {n: tuple(r[n] for r in rendered) for n in tpls}


def long_path_errors(task: spec.Step, kind: str) -> list:
    """A task's output whose path (rendered from its inputs, or its entry in the declared
    folder, named by its label) has a part no file system takes: the user's to shorten."""
    for oname, o in task.outputs.items():
        part = long_part(o.path) if len(o.path) > 63 else None
        if part is not None:
            n = len(part.encode("utf-8", "surrogatepass"))
            shown = part if len(part) <= 60 else part[:40] + "..." + part[-12:]
            return [
                PipefileError(
                    f"task '{task.name}' would write output '{oname}' at a path with a part of {n} bytes "
                    f"('{shown}'), longer than a file name can be ({MAX_BYTES} bytes)",
                    o.loc,
                    "shorten the values that name the task"
                    + (
                        ", or name the output path with the inputs that tell the tasks apart "
                        "(e.g. out/${{inputs.seed}}.txt)"
                        if kind != spec.EXPAND_FOREACH
                        else ""
                    ),
                )
            ]
    return []


def render_metric(templates: Mapping, rendered: Mapping, m: str) -> str:
    """A metrics path inside a per-task output (templates: output -> its template), rendered
    for one task (rendered: output -> its path); '' when it is not inside one."""
    for name, path in rendered.items():
        tpl = templates.get(name, "")
        if not tpl:
            continue
        if m == tpl:
            return path
        if m.startswith(tpl + "/"):
            return path + m[len(tpl) :]
    return ""


GATHERED_ROOT = ".pipe/gathered"
GATHER_SUFFIX = ".gathered"

# The task STEP.gathered: copies each task's per-task output into the gathered folder as the
# entry named by the task's label. argv: then per output DEST, then (LABEL, SOURCE) pairs, "--".
_GATHER = """\
import os, shutil, sys
args = sys.argv[1:]
while args:
    dest, rest = args[0], args[1:]
    end = rest.index("--")
    pairs, args = rest[:end], rest[end + 1 :]
    os.makedirs(dest, exist_ok=True)
    for label, src in zip(pairs[::2], pairs[1::2]):
        if not os.path.lexists(src):
            continue  # a trial left out (stopped early, or failed): pipe checked it, its key says so
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(dest, label), dirs_exist_ok=True)
        else:
            shutil.copyfile(src, os.path.join(dest, label))
"""


def gathered_path(step: str, output: str) -> str:
    return f"{GATHERED_ROOT}/{file_name(step)}/{file_name(output)}"


def gather_step(st: spec.Step, labels: tuple, per_task: Mapping) -> spec.Step:
    """The task `STEP.gathered` of a step with per-task output paths: after every task, one
    folder per such output with one entry per task label. Its key holds each task's output
    (an input each), so it runs again only when one of them, or the set of tasks, changes."""
    inputs: dict = {}
    outputs: dict = {}
    argv = ["python3", "-c", _GATHER]
    for name, paths in per_task.items():
        o = st.outputs[name]
        outputs[name] = dataclasses.replace(
            o, path=gathered_path(st.name, name), type=spec.URI_FOLDER, template="", artifact="", output=False
        )
        argv.append("${{outputs.%s}}" % name)
        for label, path in zip(labels, paths):
            inputs[f"{name}/{label}"] = spec.Binding(spec.BIND_PATH, o.loc, path, type=o.type)
            argv += [file_name(label), path]  # (an entry per task: bounded, as a log's name is)
        argv.append("--")
    return helper_task(st, st.name + GATHER_SUFFIX, argv, inputs, outputs)


def helper_task(st: spec.Step, name: str, argv: list, inputs: dict, outputs: dict) -> spec.Step:
    """A task of pipe's own made from expanded step `st` (STEP.gathered, STEP.best): its
    `python3` command, inputs and outputs only, nothing of the step's own command, code,
    environment or resources (so its key holds what it reads and how, nothing else)."""
    return dataclasses.replace(
        st,
        name=name,
        command=tuple(argv),
        inputs=inputs,
        input_decls={},
        outputs=outputs,
        code=(),
        metrics=(),
        environment="",
        library=None,
        key_includes=(),
        resources=spec.Resources(),
        expand=None,
        group="",
    )


def gathered_wanted(steps: Mapping, groups: Mapping) -> list:
    """The expanded steps whose per-task outputs some step reads gathered."""
    return sorted(
        {
            b.ref
            for st in steps.values()
            for b in st.inputs.values()
            if b.kind == spec.BIND_STEP_OUTPUT and b.ref in groups and b.output in groups[b.ref].per_task
        }
    )


def stale_rendered(root: str, groups: Mapping, records: Mapping, made: Optional[Callable] = None) -> list:
    """Per-task output paths that a task now gone wrote, or a task of today that now renders
    them elsewhere (a sweep's trial-K given other values: its label stays, its path moves),
    from the workspace's step records, still there and written by no task of today: removed
    as a gathered folder's stale entries are. `made(path)`: whether a step of today writes
    the path, inside it or around it (another step may write a path a gone task wrote)."""
    import os

    current = {p for g in groups.values() for paths in g.per_task.values() for p in paths}
    out = []
    for g in groups.values():
        if not g.per_task:
            continue
        prefix = g.name + "["
        for name, rec in records.items():
            if not name.startswith(prefix):
                continue
            for oname, orec in rec.outputs.items():
                path = orec.path
                if oname in g.per_task and path not in current and os.path.lexists(os.path.join(root, path)):
                    if made is None or not made(path):
                        out.append(path)
    return out


def per_task_records(ws, groups: Mapping) -> Optional[Mapping]:
    """The workspace's step records, where some step has per-task output paths (else None)."""
    return ws.state.steps() if any(g.per_task for g in groups.values()) else None


# The script of the task STEP.best (expand.best_step): picks the trial with the best objective
# among the entries of the gathered metrics folder and copies its entry of each output.
PICK_BEST = """\
import json, math, os, shutil, stat, sys
metric, goal, folder, rest = sys.argv[1:5]
pairs = sys.argv[5:]
LIMIT = 64 << 20  # as pipe reads a metrics file (load.yamlsafe.MAX_FILE_BYTES): a trial's 2 GB file is not read
class Refused(Exception):
    pass
def read_bounded(path):
    # O_NONBLOCK: a FIFO left as the file must not hang the pick waiting for a writer
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Refused(f"its metrics file {path!r} is not a regular file")
        chunks, size = [], 0
        while size <= LIMIT:
            chunk = os.read(fd, min(1 << 20, LIMIT + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > LIMIT:
            raise Refused(f"its metrics file {path!r} is larger than {LIMIT >> 20} MiB, the most pipe reads of one")
        return b"".join(chunks).decode("utf-8")
    finally:
        os.close(fd)
def read(path):
    # As pipe reads a metrics file (metrics_files.load_data): JSON by its name, else YAML with
    # its keys as written (`null:`, `yes:` name the metrics null and yes, not None and True)
    text = read_bounded(path)
    text = text[1:] if text.startswith("\ufeff") else text
    try:
        data = json.loads(text)
    except ValueError:
        if path.endswith(".json"):
            raise
        # YAML only through pipe's bounded reader (an alias bomb must not hang the pick)
        try:
            from pipefile.load import yamlsafe
        except ImportError:
            raise ValueError("not JSON, and YAML needs pipefile importable by python3: write the metrics as JSON")
        data = getattr(yamlsafe, "load_written_keys", yamlsafe.load)(text, path)
    v = value_at(data, metric.split("."))
    if not isinstance(v, (int, float)):  # (text, a list, null: no number, as pipe sweep show reads it)
        raise ValueError(f"it is {json.dumps(v)[:40]}, not a number")
    return float(v)
def value_at(node, rest):
    # as metrics_files.value_at: nested keys joined by '.', a key holding a '.', list indices
    if not rest:
        return node
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    keys = {str(k): v for k, v in items}
    for i in range(len(rest), 0, -1):  # (the longest key first)
        if ".".join(rest[:i]) in keys:
            try:
                return value_at(keys[".".join(rest[:i])], rest[i:])
            except LookupError:
                continue
    raise KeyError(".".join(rest))
values = {}
nonfinite = []  # the trials that gave NaN or an infinity: they ran, and are no best
# In trial order (trial-2 before trial-10): a tie goes to the earlier trial, as `pipe sweep show` ranks
# (a dotfile, Finder's .DS_Store, is no trial's entry: not removed as stale, not read here)
# (no folder: no trial has an entry, each failed or was stopped early)
names = os.listdir(folder) if os.path.isdir(folder) else []
for label in sorted((n for n in names if not n.startswith(".")), key=lambda n: (len(n), n)):
    try:
        v = read(os.path.join(folder, label) + rest)
    except Refused as e:
        sys.exit(f"trial {label}: {e}: keep the metrics file to numbers, and write large results to another output")
    except Exception as e:
        sys.exit(f"trial {label}: no value for {metric!r} in its metrics ({type(e).__name__}: {e})")
    if math.isfinite(v):
        values[label] = v
    else:
        nonfinite.append(f"{label} ({v})")
if not values and nonfinite:
    shown = ", ".join(nonfinite[:5]) + (" ..." if nonfinite[5:] else "")
    sys.exit(f"no trial has a finite value for {metric!r}: {shown}; make each trial write it as a finite number")
if not values:
    sys.exit(f"no trial has a value for {metric!r} (each failed or was stopped early, or none ran)")
# What was picked from, in the job's log of this task (a failed or stopped trial has no entry)
print(f"considered {len(values)} trials: {', '.join(values)}")
best = (max if goal == "maximize" else min)(values, key=values.get)
print(f"best trial: {best} ({metric} = {values[best]})")
for src, dest in zip(pairs[::2], pairs[1::2]):
    entry = os.path.join(src, best)
    if os.path.isdir(entry):
        shutil.copytree(entry, dest, dirs_exist_ok=True)
    else:
        shutil.copyfile(entry, dest)
"""


def best_path(step: str, output: str, tpl: str) -> str:
    """Where STEP.best copies the best trial's output `output` whose path is the template
    `tpl`: beside its gathered folder, `.pipe/gathered/STEP/NAME.best`, keeping the file
    extension the template ends with (`model-${{inputs.lr}}.txt` -> `model.best.txt`) for a
    reader that goes by it. A fixed path: a reader's key is known before the trials run."""
    tail = tpl.rsplit("/", 1)[-1].rsplit("}}", 1)[-1]
    ext = "." + tail.rsplit(".", 1)[1] if "." in tail and tail.rsplit(".", 1)[1] else ""
    return gathered_path(step, output) + ".best" + ext


def shown_command(command: str) -> str:
    """`command` as a person reads it: the script of a task of pipe's own (STEP.best,
    STEP.gathered, run as `python3 -c SCRIPT`) named, not printed: a failed STEP.best showed
    its hundred lines twice (command and ran), and its lineage one line of thousands."""
    import shlex

    for script, what in ((PICK_BEST, "picks the best trial"), (_GATHER, "gathers each task's output")):
        quoted = shlex.quote(script)
        if quoted in command:
            command = command.replace(quoted, f"<pipe's script that {what}>")
    return command
