"""Loading a Pipefile into a graph, through the spec cache: the load layer's one entry point.

    .pipe/cache/specs/<key>   pickle {"spec": Pipefile, "graph": (param values' signature, Graph) or None,
                                      "std": the std library's signature, or None when no step uses it}

The key (`_SPEC_CACHE_VERSION`) holds what a loaded spec depends on that is known before
it is read: the Pipefile's bytes and where it is, pipe's version, Python's, and the stat of
pipe's own code that loads it. What only the load finds out is checked on a hit: the other
files it read (`Pipefile.sources`), the paths it looked for in vain (`Pipefile.absent`), the
folders it listed to find a name (`Pipefile.listed`), and where the std library is and the
stat of its files when a step (at any depth of nested Pipefiles) uses a std component.
An entry unpickles as pipe's spec and graph classes or not at all (a miss), and is
checked for their shape. The `_KEPT_ENTRIES` most recently written entries are kept (the
others are removed when one is written). Only a caller that may write in the workspace
(`keep=True`: `pipe run`) writes an entry, never where there is no `.pipe/` yet; every
caller may read one. Reads nothing else of the workspace: artifact versions come from the
caller's `artifacts` resolver.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from dataclasses import field
from typing import Callable, Iterable, Optional

from . import __version__, spec
from . import graph as graph_mod
from . import load as loader
from .digest import hash_bytes, hash_json
from .errors import raise_all
from .filehash import open_regular, racy_stat
from .lazyclass import dataclass
from .load.pymodule import is_module_ref

# 4: Step.render, always_run, timeout; Pipefile.keep_going, sources; 5: Step.nest, workdir, Pipefile.pipelines;
# 6: Pipefile.absent, listed, the entry's "std"
_SPEC_CACHE_VERSION = 6
# The modules whose code decides what a Pipefile loads as, or the shape of what is kept
# (and every module of load/): every pipe module a load imports (tests/test_speccache_deps.py).
_LOADER_SOURCES = (
    "__init__.py",
    "speccache.py",
    "spec.py",
    "template.py",
    "shellquote.py",
    "errors.py",
    "graph.py",
    "bindings.py",
    "landing.py",
    "expand.py",
    "expand_map.py",
    "source_checks.py",
    "outpaths.py",
    "digest.py",
    "filehash.py",
    "names.py",
    "printable.py",
    "filenames.py",
    "lazyclass.py",
    "lazyre.py",
    "outcomes.py",
    "noop_trace.py",
    "noop_record.py",
)


def _loader_sources() -> list:
    """The files whose code decides what a Pipefile loads as: listed, not named one by one,
    so a module added to the load package is covered too."""
    here = os.path.dirname(os.path.abspath(__file__))
    package = os.path.dirname(os.path.abspath(loader.__file__))
    azureml = os.path.join(package, "azureml")  # the importer of Azure ML pipelines (docs/azureml.md)
    return (
        [os.path.join(here, f) for f in _LOADER_SOURCES]
        + [os.path.join(package, f) for f in sorted(os.listdir(package)) if f.endswith(_MODULE_SUFFIXES)]
        + [os.path.join(azureml, f) for f in sorted(os.listdir(azureml)) if f.endswith(_MODULE_SUFFIXES)]
    )


_MODULE_SUFFIXES = (".py", ".pyc")  # (.pyc: a sourceless install, its bytecode beside where the source would be)


def _code_stat(path: str):
    """The stat of a module's file: its source, else its bytecode in a sourceless install; None
    when neither is there (nothing to follow: the version number still is)."""
    try:
        return os.stat(path)
    except OSError:
        pass
    try:
        return os.stat(path + "c")
    except OSError:
        return None


_STATE_DIR = ".pipe"  # (store.STATE_DIR: the store layer sits above this one)
# Entries kept, the most recently written: one per Pipefile and folder it is run from (its
# messages name paths from there), so a run from a subfolder or of another Pipefile beside
# it does not cost the next run of the first its entry.
_KEPT_ENTRIES = 4

# (Pipefile spec, errors list) -> {(name, version as written): graph.ResolvedArtifact}
ArtifactResolver = Callable[[object, list], dict]


def load_graph(
    pipefile_path: Optional[str],
    params: Iterable[str] = (),
    cwd: str = ".",
    freeze: bool = True,
    values: Optional[dict] = None,
    artifacts: Optional[ArtifactResolver] = None,
    keep: bool = False,
    settle=None,
    cached: Optional[bool] = None,
) -> graph_mod.Graph:
    """Load, validate and build the graph, reporting every problem found in one go.

    freeze=False for a long-lived process (the server), whose specs come and go (and
    which never uses the cache). `values`: typed param values (the server's, already
    checked) instead of `params` text. `artifacts` resolves the Pipefile's artifact
    bindings (without one, a binding is an error of the graph). keep=True writes what was
    parsed to the cache. `settle`: see expand.expand. `cached`: whether an entry is read
    (default: as `freeze`; `pipe ui` reads the entry its workspace's last `pipe run` wrote,
    and never writes one)."""
    path = pipefile_path or loader.find_pipefile(cwd)
    # Loading allocates tens of thousands of objects that all live on: the cyclic GC
    # would walk them again and again for nothing, so it waits until they are built.
    # (Not in the server, whose threads load specs side by side and let them go.)
    enabled = gc.isenabled() and freeze
    if enabled:
        gc.disable()
    loaded = _Loaded()
    try:
        _load(path, params, freeze if cached is None else cached, values, artifacts, loaded, settle)
        if loaded.graph is not None and freeze:
            # The spec and graph live as long as the process: keep the GC from walking
            # them while the plan and the run allocate (it made large pipelines quadratic).
            gc.freeze()
    finally:
        # Also when building the graph raised: a valid spec is worth keeping on its own.
        if keep and loaded.keep is not None:
            _cache_spec(path, *loaded.keep)
        if enabled:
            gc.enable()
    if loaded.graph is None:
        raise_all(loaded.errors)  # (never empty when there is no graph)
    here = os.path.relpath(os.path.abspath(cwd), os.path.dirname(os.path.abspath(path)))
    if here != "." and not here.startswith(".."):  # started in a folder below the workspace
        loaded.graph.here = here
    if loaded.graph.groups:
        # Built again: with every task of a map (a settled one's record no longer holds), or
        # once a map's folder has been made (settled=True: settling as this load did).
        loaded.graph.full = lambda settled=False: load_graph(
            pipefile_path, params, cwd, freeze, values, artifacts, settle=settle if settled else None, cached=cached
        )
    return loaded.graph


@dataclass
class _Loaded:
    graph: Optional[graph_mod.Graph] = None
    errors: list = field(default_factory=list)
    keep: Optional[tuple] = None  # (key, spec, (signature, graph) or None, std signature): what the cache may keep


def _load(
    path: str,
    params,
    cached: bool,
    values: Optional[dict],
    resolve: Optional[ArtifactResolver],
    out: _Loaded,
    settle=None,
) -> None:
    # The spec cache serves the one-shot CLI; a served job's workspace is new every time.
    data = loader.read_bytes(path) if cached else None
    # (Not for an SDK v2 module: what it loads is known only by running it.)
    key = _spec_cache_key(path, data) if data is not None and not is_module_ref(path) else None
    pf, built, std = _cached_spec(path, key)
    errors = out.errors
    if pf is not None:  # (a .dockerignore is not in the key: what it leaves out is checked each time)
        errors += loader.check_build_contexts(pf.steps, pf.environments, pf.root)
    if pf is None:
        pf, found = loader.load_lenient(path, data)
        errors += found
        std = _std_used(pf) if key is not None else None
        if not errors and key is not None:
            out.keep = (key, pf, None, std)
    overrides = loader.parse_param_overrides(pf, params, errors) if values is None else values
    values = loader.resolve_params(pf, overrides, errors)
    artifacts = resolve(pf, errors) if resolve is not None else {}
    if errors:
        # Check the graph of what is valid too, so one round of fixes is enough.
        errors += graph_mod.check_partial(pf, values, artifacts)
        return
    # The graph of the same spec and param values is kept beside the spec; only what the
    # file system says (sources exist) is checked again. Not with artifact versions:
    # those are resolved from the job database each time.
    # Nor with a foreach: its tasks follow its folder's listing, read each time.
    mapped = any(st.expand is not None and st.expand.kind == "foreach" for st in pf.steps.values())
    sig = _values_signature(values) if key is not None and not artifacts and not mapped else None
    if sig is not None and built is not None and built[0] == sig and not graph_mod.source_errors(built[1]):
        out.graph = built[1]
        return
    out.graph = graph_mod.build(pf, values, artifacts=artifacts, settle=settle if mapped else None)
    if sig is not None:
        out.keep = (key, pf, (sig, out.graph), std)


def _spec_cache_key(path: str, text: bytes) -> str:
    """Everything the loaded spec depends on that is known before reading it: the text,
    where it is, who reads it."""
    code = [s for s in map(_code_stat, _loader_sources()) if s is not None]
    parts = [
        _SPEC_CACHE_VERSION,
        __version__,
        sys.version,
        os.path.abspath(path),
        os.path.relpath(path),
        # (the ctime too: an mtime set back by cp -p, tar or rsync -t keeps the rest)
        [(s.st_size, s.st_mtime_ns, s.st_ctime_ns) for s in code],
        hash_bytes(text),
    ]
    now = time.time_ns()
    if any(racy_stat(now, s) for s in code):
        # Code changed within the racy window may change again unseen by its stat: a key
        # that no later run computes (the entry is a miss next time, and written again).
        parts.append(now)
    if b"jobs:" in text:
        # An Azure ML pipeline is read with the --azureml-* options (environment variables);
        # the files it names are checked on a hit (`spec.Pipefile.sources`).
        from .load.azureml.options import signature as azureml_options

        parts.append(azureml_options())
    return hash_json(parts)


def _values_signature(values: dict) -> Optional[str]:
    try:
        return hash_json(values)
    except (TypeError, ValueError):
        return None


def _spec_cache_dir(path: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(path)), _STATE_DIR, "cache", "specs")


def _cached_spec(path: str, key: Optional[str]) -> tuple:
    """(the validated spec of the Pipefile whose bytes give `key`, (param values' signature,
    its graph) or None, the std library's signature or None), without parsing YAML again;
    (None, None, None) when there is none."""
    if key is None:
        return None, None, None
    try:
        with open_regular(os.path.join(_spec_cache_dir(path), key)) as f:  # (a FIFO there: no entry)
            entry = _unpickle(f)
        pf, built, std = entry["spec"], entry["graph"], entry["std"]
        if not _well_formed(pf, built) or not sources_unchanged(pf) or not _std_unchanged(std):
            return None, None, None
        return pf, built, std
    except Exception:  # noqa: BLE001 - any problem: parse the file as usual
        return None, None, None


def _well_formed(pf, built) -> bool:
    """Whatever unpickles (a hand-made file, a layout of another version) is checked for what
    it must be: a wrong one is a miss, never a crash further on."""
    if not isinstance(pf, spec.Pipefile):
        return False
    return built is None or (
        type(built) is tuple
        and len(built) == 2
        and isinstance(built[1], graph_mod.Graph)
        and isinstance(built[1].pipefile, spec.Pipefile)  # (of a matrix: `pf` expanded, another object)
    )


def _std_used(pf) -> Optional[list]:
    """The signature of the std library, taken before any of its files was read, when a step
    of `pf` uses one of its components (at any depth: a nested Pipefile's steps are `pf`'s)."""
    if not any(st.library is not None for st in pf.steps.values()):
        return None
    from .load import stdlib

    return stdlib.library().signature  # (the one this process read them from)


def _std_unchanged(std: Optional[list]) -> bool:
    if std is None:
        return True
    from .load.stdlib import signature  # (only for a spec that uses the library)

    return signature() == std


# The modules of the classes an entry holds (spec, graph, its inputs and groups, locations):
# an entry names nothing else, and only classes (tests/test_speccache_deps.py).
_ENTRY_MODULES = frozenset(
    ("pipefile.spec", "pipefile.graph", "pipefile.bindings", "pipefile.expand", "pipefile.errors")
)
_unpickler = None


def _unpickle(f):
    """pickle.load restricted to the classes of pipe's spec and graph: an entry is data, and
    one that names anything else (a function to call: a hostile file would run code as it is
    read) fails to read, a miss. The C unpickler `pickle` itself hands out, without importing
    the module's Python half (its Pickler and Unpickler classes: ~2% of a no-op's start-up)."""
    global _unpickler
    if _unpickler is None:
        try:
            from _pickle import Unpickler
        except ImportError:  # (an interpreter without the C accelerator)
            from pickle import Unpickler

        class _Entry(Unpickler):  # type: ignore[misc, valid-type]
            def find_class(self, module: str, name: str):
                found = None
                if module in _ENTRY_MODULES:
                    __import__(module)  # (expand: not imported yet where an entry is read)
                    found = getattr(sys.modules[module], name, None)
                if not isinstance(found, type):
                    raise ValueError(f"not in a spec cache entry: {module}.{name}")
                return found

        _unpickler = _Entry
    return _unpickler(f).load()


def sources_unchanged(pf) -> bool:
    """The other files a spec was read from (components, nested Pipefiles, an imported
    pipeline's components, data and environment definitions) hold what they held then, and
    no file has appeared where one was looked for in vain."""
    if any(os.path.isfile(path) for path in pf.absent):
        return False
    if pf.listed:  # (only a pipeline that found a component or asset by its name)
        from .load.azureml.resolve import listed_unchanged

        if not listed_unchanged(pf.listed):
            return False
    for path, digest in pf.sources:
        if digest.startswith(spec.REAL_PATH):  # a nested Pipefile named through a link: where it leads
            if os.path.realpath(path) != digest[len(spec.REAL_PATH) :]:
                return False
            continue
        try:
            with open(path, "rb") as f:
                if hash_bytes(f.read()) != digest:
                    return False
        except OSError:
            return False
    return True


def _cache_spec(path: str, key: str, pf, graph: Optional[tuple] = None, std: Optional[list] = None) -> None:
    """Keep `pf` (parsed from the bytes that give `key`) and its graph for the next run."""
    d = _spec_cache_dir(path)
    if not os.path.isdir(os.path.dirname(os.path.dirname(d))):
        return  # no .pipe/ yet: only a workspace that exists gets a cache
    import pickle
    import tempfile  # here, not at the top: a no-op run writes nothing, nor does a first run (start-up)

    tmp = None
    try:
        os.makedirs(d, exist_ok=True)
        others = []
        for old in os.listdir(d):
            p = os.path.join(d, old)
            if old.startswith(".") or old == key or not os.path.isfile(p):
                _remove(p)  # (a folder there too: it would stop every write)
            else:
                others.append((os.stat(p).st_mtime_ns, p))
        for _, p in sorted(others)[: max(0, len(others) - (_KEPT_ENTRIES - 1))]:
            _remove(p)  # (the oldest written)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            pickle.dump({"spec": pf, "graph": graph, "std": std}, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, os.path.join(d, key))
    except Exception:  # noqa: BLE001 - the cache is a saving: keeping it never fails a run
        if tmp is not None:
            _remove(tmp)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except IsADirectoryError:
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    except OSError:
        pass
