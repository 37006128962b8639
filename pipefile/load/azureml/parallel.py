"""An Azure ML `type: parallel` job -> one step that runs pipe's mini-batch driver
(prs_driver.py) in the node's environment and working copy of `task.code`, as Azure's
parallel run does: `init()` once, `run(mini_batch)` per mini-batch of `input_data` (files, or
a pandas DataFrame for tabular MLTable data), retries and `mini_batch_error_threshold`,
what run() returns appended to `task.append_row_to`. Mini-batches run one after another.
A part of `pipeline.Importer`.
"""

from __future__ import annotations

import json
import os
import re
import shlex

from ...errors import PipefileError, did_you_mean
from ..reader import display_path
from . import yamlfile
from .nodes import JobNodes
from .yamlfile import Map

PARALLEL_KEYS = {"type", "component", "inputs", "outputs", "input_data", "mini_batch_size", "task"}
PARALLEL_KEYS |= {"mini_batch_error_threshold", "error_threshold", "retry_settings", "logging_level"}
PARALLEL_KEYS |= {"display_name", "description", "name", "version", "$schema", "is_deterministic", "settings"}
PARALLEL_KEYS |= {"max_concurrency_per_instance"}
_TASK_KEYS = {"type", "code", "entry_script", "environment", "program_arguments", "append_row_to"}
_TASK_KEYS |= {"environment_variables"}
_INPUT = re.compile(r"^\s*\$\{\{\s*inputs\.([A-Za-z_][\w\-]*)\s*\}\}\s*$")
_OUTPUT = re.compile(r"^\s*\$\{\{\s*outputs\.([A-Za-z_][\w\-]*)\s*\}\}\s*$")
_BATCH_SIZE = re.compile(r"(\d{1,15})\s*([kmg]b?|b)?")  # 10, "10", 10kb, 1mb, 12b
_DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "prs_driver.py")


class ParallelNodes(JobNodes):
    """The methods of `pipeline.Importer` that read a parallel job."""

    def parallel_job(self, node: str, job, prefix: str, scope: dict, file: str) -> None:
        what = f"parallel job '{node}'"
        comp, comp_file = self.component_of(job, file)
        inline = comp is job
        self._check_keys(job, PARALLEL_KEYS, what)
        if not inline:
            self._check_keys(comp, PARALLEL_KEYS, f"component of {what}")
        if "partition_keys" in job or "partition_keys" in comp:
            raise PipefileError(
                f"{what} partitions its data by keys (partition_keys), which pipe does not do yet",
                job.at("partition_keys") if "partition_keys" in job else comp.at("partition_keys"),
                "split by mini_batch_size instead, or run it on Azure",
            )
        if "max_concurrency_per_instance" in job:
            self._warn(job.at("max_concurrency_per_instance"), f"{what}: mini-batches run one after another here")
        decls = self._decls(comp, inline, node)
        binds = self.bind_inputs(node, job, decls, prefix, scope, file)
        task = comp.get("task")
        if task is None and ("flow" in comp or "nodes" in comp):
            raise PipefileError(
                f"{what} runs a prompt flow ({display_path(comp_file)}), which pipe does not run",
                job.at("component"),
                "run it on Azure (or with promptflow's `pf run`), or write it as a command component",
            )
        if not isinstance(task, Map) or not isinstance(task.get("entry_script"), str):
            raise PipefileError(
                f"{what} has no task.entry_script",
                comp.at("task"),
                "add task: {type: run_function, code: ./src, entry_script: score.py}",
            )
        self._check_keys(task, _TASK_KEYS, f"task of {what}")
        if task.get("type", "run_function") != "run_function":
            raise PipefileError(
                f"task of {what} is of type '{task['type']}'; pipe runs run_function tasks",
                task.at("type"),
                "use type: run_function with an entry_script that has init() and run(mini_batch)",
            )
        entry = task["entry_script"]
        parts = entry.replace("\\", "/").split("/")
        if entry.startswith(("/", "\\")) or (len(entry) > 1 and entry[1] == ":") or ".." in parts:
            # (Azure ML reads it from the task's code folder, and only that folder is in the
            # step's key here: a script elsewhere would be edited without rerunning the step)
            raise PipefileError(
                f"task.entry_script of {what} is {entry!r}, which is not inside its code folder",
                task.at("entry_script"),
                "move the script into the task's code folder (task.code) and name it from there",
            )
        setting = _Settings(job, comp, what)
        for m in (job,) if comp is job else (job, comp):  # (retry_settings: 3 read as none: 3 retries)
            retry = m.get("retry_settings")
            if retry is not None and not isinstance(retry, Map):
                raise PipefileError(
                    f"retry_settings of {what} must be a mapping",
                    m.at("retry_settings"),
                    "retry_settings: {max_retries: 3, timeout: 60}",
                )
            self._check_keys(retry, {"max_retries", "timeout"}, f"retry_settings of {what}")
        data = setting.get("input_data")
        m = _INPUT.match(data) if isinstance(data, str) else None
        if m is None or m.group(1) not in decls:
            raise PipefileError(
                f"{what}: input_data must be ${{{{inputs.NAME}}}} of one of its inputs",
                setting.at("input_data"),
                did_you_mean(m.group(1), decls, "input") if m else "input_data: ${{inputs.NAME}}",
            )
        out_ref = "-"
        if task.get("append_row_to") is not None:
            o = _OUTPUT.match(str(task["append_row_to"]))
            if o is None:
                raise PipefileError(
                    f"task.append_row_to of {what} must be ${{{{outputs.NAME}}}}", task.at("append_row_to")
                )
            out_ref = task["append_row_to"].strip()
        raw = (comp.get("inputs") or {}).get(m.group(1))
        kind = raw.get("type") if isinstance(raw, Map) else None
        cfg = {
            "entry": task["entry_script"],
            "kind": "mltable" if kind == "mltable" else "files",
            "mini_batch_size": setting.batch_size(kind == "mltable"),
            "error_threshold": setting.number("mini_batch_error_threshold", -1),
            "max_retries": setting.number("retry_settings.max_retries", 3, minimum=0),
            "timeout": setting.number("retry_settings.timeout", 0, minimum=0),
        }
        args = task.get("program_arguments") or ""
        if not isinstance(args, str):
            raise PipefileError(f"task.program_arguments of {what} must be text", task.at("program_arguments"))
        with open(_DRIVER, encoding="utf-8") as f:
            driver = f.read()
        command = (
            f"python -c {shlex.quote(driver)} {shlex.quote(json.dumps(cfg, sort_keys=True))} "
            f"{data.strip()} {out_ref} -- {args}"
        )
        run = _task_component(comp, task, command)
        self.command(node, job, run, comp_file, decls, binds, prefix)


class _Settings:
    """A parallel job's settings: on the job, else on its component."""

    def __init__(self, job, comp, what: str):
        self.job, self.comp, self.what = job, comp, what

    def _where(self, key: str):
        first, _, rest = key.partition(".")
        for m in (self.job, self.comp):
            v = m.get(first)
            if rest and isinstance(v, Map) and rest in v:
                return v, rest
            if not rest and first in m:
                return m, first
        return None, key

    def get(self, key: str):
        m, k = self._where(key)
        return m.get(k) if m is not None else None

    def at(self, key: str):
        m, k = self._where(key)
        return m.at(k) if m is not None else self.job.loc

    def batch_size(self, tabular: bool):
        """`mini_batch_size` as written (it is part of the node's key), once checked: a number
        of files, or for an MLTable also a size (10kb, 1mb). Checked here, at its line: the
        driver would split by a bad one (into no mini-batch at all for -3) or fail with a traceback."""
        v = self.get("mini_batch_size")
        if v is None:
            return v
        text = str(v).strip().lower() if not isinstance(v, bool) else ""
        m = _BATCH_SIZE.fullmatch(text)
        if m is None or int(m.group(1)) < 1 or (m.group(2) and not tabular):
            raise PipefileError(
                f"mini_batch_size of {self.what} must be a whole number of files of at least 1"
                + (", or a size such as 10kb or 1mb (tabular data)" if tabular else "")
                + f", not {v!r}",
                self.at("mini_batch_size"),
                "mini_batch_size: 10" + (" (files), or mini_batch_size: 1mb (rows of a table)" if tabular else ""),
            )
        return v

    def number(self, key: str, default: int, minimum: int = -1) -> int:
        v = self.get(key)
        if v is None:
            return default
        if isinstance(v, str) and v.strip().lstrip("-").isascii() and v.strip().lstrip("-").isdigit():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise PipefileError(f"{key} of {self.what} must be a whole number of at least {minimum}", self.at(key))
        return v


def _task_component(comp, task, command: str):
    """The command component the node runs: the parallel component's inputs and outputs,
    the task's code and environment, the driver as its command."""
    out = yamlfile.empty()
    out.loc, out.file = comp.loc, getattr(comp, "file", "")
    for k in ("name", "description", "inputs", "outputs", "is_deterministic"):
        if k in comp:
            out[k], out.locs[k] = comp[k], comp.at(k)
    for k in ("code", "environment"):
        if k in task:
            out[k], out.locs[k] = task[k], task.at(k)
    out["command"], out.locs["command"] = command, task.at("entry_script")
    return out
