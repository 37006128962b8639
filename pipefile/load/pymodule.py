"""A Python module given with -f (`build.py`, or `build.py:NAME` for another object than
`pipeline`): the module runs in its own folder, and what its object is decides who reads it:
a pipefile.dsl pipeline (docs/dsl.md) gives the text of a Pipefile, read here with each line
placed at the user's code that made it; an azure-ai-ml PipelineJob (docs/azureml.md) goes to
the Azure ML importer. Told apart by what the object does, so this layer never imports the
DSL (which sits above it)."""

from __future__ import annotations

import contextlib
import functools
import importlib.machinery
import os
import sys
import threading
from typing import Any, Iterator, Optional

from .. import lazyre
from ..errors import PipefileError, SourceLoc

DEFAULT_OBJECT = "pipeline"
_REF_RE = lazyre.Pattern(r"(.+\.py):([A-Za-z_][A-Za-z0-9_]*)")
# The user's code runs in its folder (the working folder, sys.path, stdout are the process's):
# one module at a time in a process that loads from several threads (pipe ui).
_RUNNING = threading.RLock()


def display_path(path: str) -> str:
    """reader.display_path, imported when a message needs it: every run asks `is_module_ref`
    of its Pipefile, and a run whose spec is cached imports no reader (start-up)."""
    from .reader import display_path as shown

    return shown(path)


def split_ref(path: str) -> tuple:
    """(the module's file, the object's name) of `build.py` or `build.py:NAME`."""
    m = _REF_RE.fullmatch(path)
    return (m.group(1), m.group(2)) if m else (path, DEFAULT_OBJECT)


def is_module_ref(path: str) -> bool:
    return path.endswith(".py") or _REF_RE.fullmatch(path) is not None


def is_dsl(obj: Any) -> bool:
    return hasattr(obj, "__pipefile_yaml__")


class ModuleExited(BaseException):
    """The user's module called os._exit while pipe loaded it: that would end pipe itself, with
    the module's exit status (0: a run that ran nothing, reported as a success)."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status

    def __str__(self) -> str:
        return f"it called os._exit({self.status}), which would end pipe itself"


@contextlib.contextmanager
def _exit_refused() -> Iterator[None]:
    """While the user's code runs in this process, os._exit raises ModuleExited instead (a
    process forked meanwhile still exits: the refusal is this process's alone)."""
    real, pid = os._exit, os.getpid()

    def refused(status: int) -> None:
        if os.getpid() != pid:
            real(status)
        raise ModuleExited(status)

    os._exit = refused  # type: ignore[assignment]
    try:
        yield
    finally:
        os._exit = real


def _where(tb, folder: str) -> tuple:
    """(the SourceLoc of the deepest frame in the module's folder, else None: the module
    itself, the last frame's text)."""
    import traceback  # (only on this error's path: start-up)

    frames = [f for f in traceback.extract_tb(tb) if f.name != "refused" or f.filename != __file__]
    if not frames:
        return None, ""
    last = frames[-1]
    mine = [f for f in frames if os.path.isfile(f.filename) and os.path.abspath(f.filename).startswith(folder + os.sep)]
    file = last.filename if last.filename.startswith("<") else display_path(os.path.abspath(last.filename))
    shown = f"{file}:{last.lineno} in {last.name}"
    if last.line:
        shown += f": {last.line.strip()}"
    return (SourceLoc(os.path.abspath(mine[-1].filename), mine[-1].lineno or 0) if mine else None), shown


def _failure(e: BaseException, display: str, folder: str) -> PipefileError:
    """What the user's module raised, as an error at its deepest frame in the module's folder
    (a SyntaxError: where Python read it), naming the traceback's last frame."""
    if isinstance(e, ModuleNotFoundError) and (e.name or "").split(".")[0] == "azure":
        return PipefileError(
            "an Azure ML SDK v2 pipeline needs the azure-ai-ml package",
            SourceLoc(display),
            "pip install 'pipefile[azureml]' (or pip install azure-ai-ml), or run the pipeline's YAML "
            '(pipeline.dump("pipeline.yml") writes it)',
        )
    loc, last = _where(e.__traceback__, folder)
    if isinstance(e, SyntaxError) and e.filename and os.path.isfile(e.filename):
        loc, last = SourceLoc(os.path.abspath(e.filename), e.lineno or 0), ""
    message = f"running {display} failed: " + (str(e) if isinstance(e, ModuleExited) else f"{type(e).__name__}: {e}")
    if last:
        message += f" (at {last})"
    hint = f"fix the module; `python {display}` shows the whole traceback"
    if isinstance(e, ModuleExited):  # (its own run as a script keeps it: under `if __name__ == "__main__":`)
        hint = 'end the process only when run as a script, under `if __name__ == "__main__":`'
    error = PipefileError(message, None, hint)
    # where in the module, read back by _relocated from the caller's folder
    error.place = (loc.file, loc.line) if loc else None  # type: ignore[attr-defined]
    error.loc = SourceLoc(display)
    return error


def run_module(path: str, name: str) -> tuple:
    """(the object `name` of the module at `path`, the module's other top-level names). The
    module runs in its own folder (relative paths in it are read from there), with that folder
    on sys.path; what it prints goes to stderr (stdout may carry --json)."""
    with _RUNNING:  # (the path too is read from the working folder, which another load moves)
        return _run(path, name)


def _run(path: str, name: str) -> tuple:
    import runpy

    display = display_path(path)
    if not os.path.isfile(path):
        raise PipefileError("no such file", SourceLoc(display), "check the -f argument")
    # (absolute before the chdir below: `-f sub/build.py` names a file from here, not from sub/)
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    caught: Optional[BaseException] = None
    try:
        with _in_folder(folder):
            namespace = runpy.run_path(path, run_name="__pipe_module__")
    except (KeyboardInterrupt, GeneratorExit):
        raise
    except BaseException as e:  # noqa: BLE001 - the user's module: whatever it raises (SystemExit too) is theirs
        caught = e
    if caught is not None:  # (written once back in the caller's folder, as its other messages are)
        if isinstance(caught, PipefileError):
            raise _relocated(caught, folder) from None
        raise _relocated(_failure(caught, display, folder)) from None
    return namespace.get(name), {k: v for k, v in namespace.items() if not k.startswith("_")}


@contextlib.contextmanager
def _in_folder(folder: str) -> Iterator[None]:
    """The user's code runs in its folder, which is first on sys.path, printing to stderr.
    The modules it imported from that folder are forgotten after (`_one_load`): a process that
    loads the module again (pipe ui) reads them again, as a new process does, never an edited
    one's old code."""
    with _RUNNING, _one_load():
        old = os.getcwd()
        _LOADING[-1].add(folder)
        sys.path.insert(0, folder)
        try:
            os.chdir(folder)
            with contextlib.redirect_stdout(sys.stderr), modules_from_source(folder), _exit_refused():
                yield
        finally:
            os.chdir(old)


# The folders of the load under way (`_one_load`), while one is: under _RUNNING.
_LOADING: list = []


@contextlib.contextmanager
def _one_load() -> Iterator[None]:
    """One load may run the user's code twice (the module, then the @dsl.pipeline function it
    did not call): the second run sees the modules and sys.path of the first, as one process
    running the module would (a package of ../shared importing a submodule when used). When
    the outermost ends, what the load put on sys.path goes and its modules are forgotten: a
    long-lived process (pipe serve loading deployment after deployment) would search each
    one's folders after, and get a module of the same name from the first."""
    with _RUNNING:
        if _LOADING:
            yield
            return
        before = set(sys.modules)
        path_before = list(sys.path)
        _LOADING.append(set())
        try:
            yield
        finally:
            folders = _LOADING.pop()
            sys.path[:] = path_before
            _forget(set(sys.modules) - before, before, folders)


@contextlib.contextmanager
def modules_from_source(*folders: str) -> Iterator[None]:
    """Meanwhile, the modules of these folders load from their source (_SourceOnly): the
    loader's run of the user's module, and a command_component's step (dsl/run.py)."""
    finders = [_FromSource(os.path.abspath(f)) for f in folders]
    at = next((i for i, f in enumerate(sys.meta_path) if f is importlib.machinery.PathFinder), len(sys.meta_path))
    sys.meta_path[at:at] = finders
    try:
        yield
    finally:
        for finder in finders:
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(finder)


class _SourceOnly(importlib.machinery.SourceFileLoader):
    """Loads a module from its source, never from __pycache__: bytecode is trusted while the
    source keeps its size and its mtime in whole seconds, so an edit of the same size within
    the second that wrote it (N = 1 -> N = 7) ran the old code: a stale pipeline."""

    def get_code(self, fullname: str) -> Any:
        path = self.get_filename(fullname)
        return self.source_to_code(self.get_data(path), path)


class _FromSource:
    """A finder before PathFinder while the user's code runs: the modules it finds in the
    user's folder (a file there, a package there and its submodules) load with _SourceOnly."""

    def __init__(self, folder: str):
        self.folder = folder

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or type(spec.loader) is not importlib.machinery.SourceFileLoader or not spec.origin:
            return spec
        top = name.partition(".")[0]
        if top != name:  # (a submodule: of a package of the folder?)
            mine = _imported_from(sys.modules.get(top), self.folder)
        elif spec.submodule_search_locations:
            mine = any(os.path.dirname(os.path.abspath(p)) == self.folder for p in spec.submodule_search_locations)
        else:
            mine = os.path.dirname(os.path.abspath(spec.origin)) == self.folder
        if mine:
            spec.loader = _SourceOnly(name, spec.origin)
        return spec


def _forget(new: set, before: set, folders: set) -> None:
    """Drop the modules of `new` that are the user's code: imported from one of `folders` (a module
    there, or a package there and its submodules), or from any other folder that is not the
    interpreter's own (a module of ../shared the pipeline put on sys.path). Kept: a package
    imported before (pipefile's own, whatever the folder), the standard library and installed
    packages (a C extension is not imported twice). pipe serve loads one deployment after
    another in one process: a module of the same name kept from the first was what the next
    one got, however its file had changed since."""
    tops = {n.partition(".")[0] for n in new} - before
    gone = {
        t
        for t in tops
        if any(_imported_from(sys.modules.get(t), f) for f in folders) or _users_elsewhere(sys.modules.get(t))
    }
    for name in new:
        if name.partition(".")[0] in gone:
            sys.modules.pop(name, None)


@functools.lru_cache(maxsize=1)
def _interpreter_folders() -> tuple:
    """(Once per process: they do not move, and each load asks for every module it made.)"""
    import site
    import sysconfig

    # By the library and package folders, not by the prefix: a workspace may lie under it
    # (/usr/src/app with a system Python, prefix /usr), and its ../shared modules are the user's.
    paths = sysconfig.get_paths()
    folders = {paths.get(k, "") for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    folders.add(os.path.dirname(os.__file__))
    try:
        folders |= set(site.getsitepackages()) | {site.getusersitepackages()}
    except AttributeError:  # (a virtualenv's old site module)
        pass
    return tuple(os.path.join(os.path.realpath(f), "") for f in folders if f)


def _users_elsewhere(module: Any) -> bool:
    """Whether a top-level module is a source file (or a package of them) outside the
    interpreter's folders: user code, read again by a new process, so by a new load too."""
    if module is None or module.__name__ in _OWN_PACKAGES:
        return False
    paths = list(getattr(module, "__path__", None) or [])
    file = getattr(module, "__file__", None)
    if not paths and not (isinstance(file, str) and file.endswith(".py")):
        return False  # (built in, frozen, or an extension module)
    ours = _interpreter_folders()
    where = [os.path.realpath(p) for p in paths] or [os.path.realpath(file)]  # type: ignore[arg-type]
    # (an installed package found through PYTHONPATH, as HPC modules put torch there, is not
    # the user's code: importing such a package twice in one process can break it)
    return not any(w.startswith(ours) or _INSTALLED.search(w) for w in where)


_INSTALLED = lazyre.Pattern(r"[/\\](site|dist)-packages([/\\]|$)")


_OWN_PACKAGES = ("pipefile", "stdlib_components")


def _imported_from(module: Any, folder: str) -> bool:
    """Whether a top-level module is a file in `folder`, or a package there."""
    paths = list(getattr(module, "__path__", None) or [])
    if paths:
        return any(os.path.dirname(os.path.abspath(p)) == folder for p in paths)
    file = getattr(module, "__file__", None)
    return isinstance(file, str) and os.path.dirname(os.path.abspath(file)) == folder


def _relocated(e: PipefileError, folder: Optional[str] = None) -> PipefileError:
    """A DSL error raised from the module's folder, its file written from the caller's folder;
    `folder`: where the module ran, which a relative file of an error raised there is read from."""
    for one in getattr(e, "errors", None) or [e]:
        place = getattr(one, "place", None)
        if place:
            one.loc = SourceLoc(display_path(place[0]), place[1])
        elif folder and one.loc is not None and one.loc.file and not os.path.isabs(one.loc.file):
            at = display_path(os.path.join(folder, one.loc.file))
            one.loc = SourceLoc(at, one.loc.line, one.loc.column)
    return e


def pipeline_object(path: str) -> tuple:
    """(the pipeline object of `build.py[:NAME]`, its file, its name); a located error when
    the module defines none, naming what it does define."""
    with _RUNNING:  # (its relative paths are read from the working folder, which another load moves)
        return _pipeline_object(path)


def _pipeline_object(path: str) -> tuple:
    file, name = split_ref(path)
    with _one_load():  # (the function below runs with what the module imported)
        obj, others = run_module(file, name)
        if obj is not None and hasattr(obj, "__wrapped__") and callable(obj) and not is_dsl(obj):
            obj = _call(obj, file)  # a @dsl.pipeline function not called: its defaults
    if obj is None or not (is_dsl(obj) or hasattr(obj, "_to_dict")):
        display = display_path(file)
        found = [k for k, v in others.items() if is_dsl(v) or hasattr(v, "_to_dict")]
        found += [k for k, v in others.items() if _is_pipeline_function(v)]  # (built ones first)
        what = f"`{name}` is a {type(obj).__name__}" if obj is not None else f"no `{name}`"
        names = ", ".join(sorted(k for k, v in others.items() if not isinstance(v, type(os))))[:300]
        hint = (
            f"it defines the pipeline(s) {', '.join(found)}: run one with -f {display}:{found[0]}"
            if found
            else f"it defines: {names or 'nothing'}; end the module with: {name} = my_pipeline(...) "
            "(a function decorated with @dsl.pipeline of pipefile.dsl, or of azure.ai.ml)"
        )
        raise PipefileError(
            f"defines {what} (an azure-ai-ml PipelineJob) nor a pipefile.dsl pipeline"
            if obj is None
            else f"{what}, not a pipeline (an azure-ai-ml PipelineJob or a pipefile.dsl pipeline)",
            SourceLoc(display),
            hint,
        )
    return obj, file, name


def _is_pipeline_function(v: Any) -> bool:
    return callable(v) and hasattr(v, "__wrapped__") and type(v).__name__ == "PipelineFunction"


def _call(func, file: str):
    """A @dsl.pipeline function the module did not call, called with its defaults."""
    if not _is_pipeline_function(func):
        return func
    folder = os.path.dirname(os.path.abspath(file))
    try:
        with _in_folder(folder):  # (as the module's own code ran)
            return func()
    except PipefileError as e:
        raise _relocated(e, folder) from None
    except (KeyboardInterrupt, GeneratorExit):
        raise
    except BaseException as e:  # noqa: BLE001 - the user's pipeline function
        raise _relocated(_failure(e, display_path(file), folder)) from None


def dsl_text(obj: Any, file: str) -> tuple:
    """(the Pipefile text of a pipefile.dsl pipeline, line -> the SourceLoc of the Python
    that made it): the text is read as a Pipefile is, its errors placed in the module."""
    try:
        with _RUNNING:  # (`file` is read from the working folder, which another load moves)
            root = os.path.dirname(os.path.abspath(file))
        text, places = obj.__pipefile_yaml__(root)
    except PipefileError as e:
        raise _relocated(e) from None
    return text, _placer(places)


def _placer(places: list):
    def at(line: int) -> Optional[SourceLoc]:
        if 0 < line <= len(places) and places[line - 1] is not None:
            place = places[line - 1]
            return SourceLoc(display_path(place[0]), place[1])
        return None

    return at
