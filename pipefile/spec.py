"""The declarations of a Pipefile, as frozen values.

Nothing here touches the file system or runs anything: the loader builds these
from YAML, and every later layer reads them. Runtime state (digests, outcomes)
lives elsewhere, so a spec can be shared freely between threads.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any, Mapping, Optional, Union

from .errors import SourceLoc
from .lazyclass import dataclass

PIPEFILE_VERSION = 1
# In Pipefile.sources, in place of a digest: the file (a nested Pipefile named through a
# link) must still lead to this real path (speccache.sources_unchanged).
REAL_PATH = "realpath:"

# Port types, named as in Azure ML so component definitions read the same.
URI_FILE = "uri_file"
URI_FOLDER = "uri_folder"
NUMBER = "number"
INTEGER = "integer"
STRING = "string"
BOOLEAN = "boolean"

PATH_TYPES = (URI_FILE, URI_FOLDER)
VALUE_TYPES = (NUMBER, INTEGER, STRING, BOOLEAN)
LIST = "list"  # a param's only: values a foreach maps over, one task each
PARAM_TYPES = VALUE_TYPES + (LIST,)
INPUT_TYPES = PATH_TYPES + VALUE_TYPES
OUTPUT_TYPES = PATH_TYPES


class _Missing:
    """Marks a param or input without a default (distinct from an explicit null)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


def type_of_value(value: Any) -> str:
    """The port type a YAML scalar naturally has (a list: a list param's)."""
    if isinstance(value, (list, tuple)):
        return LIST
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return NUMBER
    return STRING


def value_fits(value: Any, typ: str) -> bool:
    """True if a literal `value` may be passed where `typ` is expected."""
    if typ == BOOLEAN:
        return isinstance(value, bool)
    if typ == INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if typ == NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if typ == STRING:
        return isinstance(value, str)
    if typ == LIST:
        return isinstance(value, (list, tuple)) and all(isinstance(x, (bool, int, float, str)) for x in value)
    return False


def type_fits(source: str | None, target: str | None) -> bool:
    """True if something of type `source` may feed a port of type `target`.

    None means "not declared": it fits anything of the same family (paths with
    paths), since the check then happens on disk at plan time.
    """
    if source is None or target is None:
        return True
    if source == target:
        return True
    return source == INTEGER and target == NUMBER


@dataclass(frozen=True)
class Resources:
    """What a step needs while it runs; the scheduler never oversubscribes these."""

    cpus: float = 1.0
    memory: int = 0  # bytes; 0 = not declared
    gpus: int = 0  # whole devices, leased by id (CUDA_VISIBLE_DEVICES)
    # ((name, amount), ...) sorted: a cluster's own resources (`custom:`), asked of the Ray
    # executor's scheduler; the local executor has none of them and ignores them
    custom: tuple = ()


# Environment types.
ENV_LOCAL = "local"
ENV_VENV = "venv"
ENV_CONDA = "conda"
ENV_DOCKER = "docker"
ENV_TYPES = (ENV_LOCAL, ENV_VENV, ENV_CONDA, ENV_DOCKER)
# The built-in environment of the std components (never written as a type in a Pipefile):
# the calling interpreter when it has their requirements, else a venv built with them.
ENV_STD = "std"

# What `key_includes:` may add to a step's key.
KEY_GPU_MODEL = "gpu_model"
KEY_INCLUDES = (KEY_GPU_MODEL,)


@dataclass(frozen=True)
class Mount:
    """An extra Docker bind mount: `source` is absolute, or relative to the workspace."""

    source: str
    target: str  # absolute path inside the container
    read_only: bool = True


@dataclass(frozen=True)
class EnvSpec:
    """A named environment: where a step's command runs (`environments:` in the Pipefile)."""

    name: str
    type: str = ENV_LOCAL
    env: Mapping[str, str] = field(default_factory=dict)  # variables set for the step (every type)
    python: str = ""  # venv: a version ("3.11") or an interpreter; "" = the one running pipe
    requirements: str = ""  # venv: workspace path of a requirements file
    packages: tuple = ()  # venv: requirement strings
    file: str = ""  # conda: workspace path of an environment file
    image: str = ""  # docker: an image name (resolved to its ID; never pulled by `status`)
    build: str = ""  # docker: workspace path of a build context (a folder with a Dockerfile)
    dockerfile: str = ""  # docker build: the Dockerfile's path inside the context (default Dockerfile)
    build_loc: SourceLoc = SourceLoc("")  # docker build: where `build:` is written
    network: str = ""  # docker: "none", or "" for Docker's default network
    mounts: tuple = ()  # docker: tuple[Mount, ...]
    description: str = ""
    loc: SourceLoc = SourceLoc("")
    # The folder (workspace path, "" = the workspace) of the Pipefile that declares it, one used
    # as a component: its paths were written from there, pip runs there, and its identity holds
    # them as written (the same key as when that Pipefile runs on its own).
    home: str = ""


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: Any = MISSING  # MISSING: required, must be given with -p
    description: str = ""
    loc: SourceLoc = SourceLoc("")
    enum: tuple = ()  # `enum: [..]`: the only values it may take; () when any value of its type goes
    limits: tuple = ()  # ParamLimit: what the component inputs it is bound to allow

    @property
    def required(self) -> bool:
        return self.default is MISSING


@dataclass(frozen=True)
class ParamLimit:
    """What a component input bound to a param allows (Azure ML `enum:`, `min:`, `max:`): a
    value from `-p` is held to it as a value written in the file is."""

    what: str  # "input 'n' of job 'a'"
    loc: SourceLoc  # where the component declares it
    enum: tuple = ()
    low: Optional[float] = None
    high: Optional[float] = None


@dataclass(frozen=True)
class Asset:
    name: str
    path: str  # workspace-relative, normalised
    type: Optional[str] = None  # uri_file, uri_folder, or None: whatever is on disk
    description: str = ""
    loc: SourceLoc = SourceLoc("")
    artifact: str = ""  # `name:`: each new content becomes a new version of this artifact
    input: bool = False  # `input: true`: an endpoint input, given anew by each invocation


@dataclass(frozen=True)
class InputDecl:
    """A typed input port of a component."""

    name: str
    type: Optional[str]
    default: Any = MISSING
    optional: bool = False
    description: str = ""
    loc: SourceLoc = SourceLoc("")
    enum: tuple = ()  # `enum: [..]` of a value input: the only values it takes; () when any of its type goes
    low: Optional[float] = None  # `min:` of a number or integer input (inclusive, as Azure ML's); None: no bound
    high: Optional[float] = None  # `max:`, the same


@dataclass(frozen=True)
class OutputDecl:
    name: str
    type: Optional[str]
    description: str = ""
    loc: SourceLoc = SourceLoc("")


# A command is one shell string, or an argv list run without a shell.
Command = Union[str, tuple]


@dataclass(frozen=True)
class Component:
    name: str
    command: Command
    inputs: Mapping[str, InputDecl]
    outputs: Mapping[str, OutputDecl]
    code: tuple = ()  # tuple[CodeRef, ...]
    resources: Resources = Resources()
    description: str = ""
    loc: SourceLoc = SourceLoc("")
    command_loc: SourceLoc = SourceLoc("")
    environment: str = ""  # the name of an EnvSpec; "" = local
    key_includes: tuple = ()  # of KEY_INCLUDES
    metrics: tuple = ()  # names of its outputs that are metrics files (recorded with the job)
    library: Optional["LibraryRef"] = None  # set for a std component: which one, and its code's digest


@dataclass(frozen=True)
class LibraryRef:
    """A std component a step uses (`component: std/NAME@MAJOR`): its code lives outside the
    workspace, so its version and the digest of its folder (plus the shared `_lib/`) enter
    the step key in place of `code:` paths."""

    name: str  # e.g. "split_data"
    version: str  # MAJOR.MINOR.PATCH, from its component.yaml
    digest: str  # content of the component's folder and of `_lib/`
    folder: str  # absolute path of the component's folder (where it was found)
    library: str  # absolute path of the library (the `stdlib_components` package folder)

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


# Kinds of input binding.
BIND_ASSET = "asset"  # ${{assets.raw}}
BIND_STEP_OUTPUT = "step_output"  # ${{steps.prepare.outputs.clean}}
BIND_PARAM = "param"  # ${{params.lr}}
BIND_PATH = "path"  # a plain repo path: a file or folder dependency
BIND_VALUE = "value"  # a literal number, string or boolean
BIND_NONE = "none"  # explicitly no value (an optional input left empty)
BIND_ARTIFACT = "artifact"  # ${{artifacts.model}} (latest) or ${{artifacts.model:3}}
BIND_PARENT = "parent"  # ${{parent.inputs.X}} inside a pipeline component (replaced when it is used)


@dataclass(frozen=True)
class Binding:
    """What a step connects to one of its inputs."""

    kind: str
    loc: SourceLoc
    ref: str = ""  # asset name, param name, step name or path
    output: str = ""  # output name, for BIND_STEP_OUTPUT
    value: Any = None  # for BIND_VALUE
    type: Optional[str] = None  # the port type it feeds, when declared
    version: str = ""  # for BIND_ARTIFACT: a version number ("3"), or "" for the newest (latest)

    def describe(self) -> str:
        if self.kind == BIND_ASSET:
            return f"asset '{self.ref}'"
        if self.kind == BIND_ARTIFACT:
            return f"artifact '{self.ref}:{self.version or 'latest'}'"
        if self.kind == BIND_STEP_OUTPUT:
            return f"output '{self.output}' of step '{self.ref}'"
        if self.kind == BIND_PARAM:
            return f"param '{self.ref}'"
        if self.kind == BIND_PATH:
            return f"path '{self.ref}'"
        return repr(self.value)


@dataclass(frozen=True)
class CodeRef:
    path: str  # workspace-relative, normalised
    loc: SourceLoc


@dataclass(frozen=True)
class StepOutput:
    name: str
    path: str  # workspace-relative, normalised
    type: Optional[str]  # uri_file, uri_folder, or None: whatever the step writes
    loc: SourceLoc
    artifact: str = ""  # `name:`: each new content becomes a new version of this artifact
    output: bool = False  # `output: true`: an endpoint output, downloadable from each invocation
    # A matrix/sweep output whose path uses the inputs (`build/model-${{inputs.lr}}`): the
    # template, rendered per task by expand_paths.py; `path` is then the template text too.
    template: str = ""


# How a step is expanded into tasks (`matrix:`, `sweep:`, `foreach:`); see expand.py.
EXPAND_MATRIX = "matrix"
EXPAND_SWEEP = "sweep"
EXPAND_FOREACH = "foreach"


@dataclass(frozen=True)
class Expansion:
    """A step's `matrix:`, `sweep:` or `foreach:`: declarations only; the tasks are made
    by expand.py when the graph is built (a foreach lists its folder then)."""

    kind: str  # EXPAND_MATRIX, EXPAND_SWEEP or EXPAND_FOREACH
    loc: SourceLoc
    # matrix: ((axis, (value, ...)), ...) in declaration order; include/exclude: combinations,
    # each ((axis, value), ...)
    axes: tuple = ()
    include: tuple = ()
    exclude: tuple = ()
    # foreach: the input mapped over, and which of its folder's files are items
    over: str = ""
    glob: str = "*"
    # foreach, as in Azure's parallel job: files per task (0: one task per item), how many
    # failed items the step tolerates (-1: any), times a failed task runs again
    batch_size: int = 0
    error_threshold: int = 0
    map_retries: int = 0
    # sweep: search method, trial count, seed, ((input, distribution, (args...)), ...)
    search: str = ""
    trials: int = 0
    seed: int = 0
    space: tuple = ()
    objective_metric: str = ""
    objective_goal: str = ""  # maximize | minimize
    max_parallel: int = 0  # 0: no limit of its own
    # sweep: early termination, (policy, evaluation_interval, delay_evaluation) or ()
    early_termination: tuple = ()
    objective_loc: Optional[SourceLoc] = None  # where `objective:` is written
    # sweep: pick the best trial (the task STEP.best) though no step reads it: an Azure ML sweep
    # job run on its own, whose outputs on Azure are its best trial's
    best: bool = False

    @property
    def names(self) -> tuple:
        """The inputs the expansion gives a value per task."""
        if self.kind == EXPAND_MATRIX:
            return tuple(a for a, _ in self.axes)
        if self.kind == EXPAND_SWEEP:
            return tuple(n for n, _, _ in self.space)
        return (self.over,)

    @property
    def left_out(self) -> frozenset:
        """The axes of a matrix that an `include:` combination gives no value (its task has none)."""
        if self.kind != EXPAND_MATRIX:
            return frozenset()
        return frozenset(a for a, _ in self.axes for combo in self.include if a not in dict(combo))


@dataclass(frozen=True)
class Step:
    """A step with its component (if any) already merged in."""

    name: str
    command: Command
    inputs: Mapping[str, Binding]
    input_decls: Mapping[str, InputDecl]
    outputs: Mapping[str, StepOutput]
    code: tuple = ()  # tuple[CodeRef, ...]
    resources: Resources = Resources()
    component: str = ""
    description: str = ""
    loc: SourceLoc = SourceLoc("")
    command_loc: SourceLoc = SourceLoc("")
    metrics: tuple = ()  # workspace paths of JSON/YAML metrics files among its outputs
    environment: str = ""  # the name of an EnvSpec; "" = local (the calling shell)
    key_includes: tuple = ()  # of KEY_INCLUDES: facts added to the step key
    library: Optional[LibraryRef] = None  # a std component's code (part of the key)
    expand: Optional[Expansion] = None  # matrix, sweep or foreach: the step stands for its tasks
    group: str = ""  # set on a task: the expanded step it belongs to
    # tasks it runs after without reading them (a bayesian trial: the trials of the rounds before)
    after: tuple = ()
    # How the command is rendered and run: "" (a Pipefile's: values quoted for the shell, run
    # in the workspace) or RENDER_AZUREML (an imported Azure ML node: docs/azureml.md).
    render: str = ""
    always_run: bool = False  # never fresh, never restored (Azure's is_deterministic: false)
    # times the step is run again after the executor itself failed under it (a worker or
    # node that died); None: the default (1). Never for a non-zero exit of the command.
    retries: Optional[int] = None
    timeout: Optional[float] = None  # seconds; a step still running then is stopped and fails
    # An inner step of a pipeline used as a step (`STEP/INNER`): the pipeline step it is
    # directly inside ("train", "train/sub"); "" for a step of the Pipefile itself.
    nest: str = ""
    inner_reads: tuple = ()  # names of its inputs that read another inner step's output
    # where its command runs, relative to the workspace ("" = the workspace): the folder of
    # a Pipefile used as a component, so its relative paths mean what they mean there
    workdir: str = ""


@dataclass(frozen=True)
class PipelineComponent:
    """A pipeline used as a component: `type: pipeline` under `components:`, or another
    Pipefile (`component: ./train/Pipefile`). Its inner steps' outputs have no path (""):
    each use places them (see load/flatten.py)."""

    name: str
    inputs: Mapping[str, InputDecl]
    outputs: Mapping[str, OutputDecl]
    steps: Mapping[str, Any]  # inner name -> Step, or PipelineUse for a pipeline inside it
    binds: Mapping[str, tuple]  # its output -> (inner step, that step's output) writing it
    loc: SourceLoc = SourceLoc("")
    description: str = ""
    source: str = ""  # a Pipefile used as a component: its absolute path
    # A Pipefile used as a component: its environments, named `PATH:NAME` (its steps use those
    # names), paths relative to the workspace; the Pipefile that uses it declares them too.
    environments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineUse:
    """A step that uses a pipeline component: it stands for the pipeline's inner steps,
    named `STEP/INNER` once flattened."""

    name: str
    pipeline: PipelineComponent
    inputs: Mapping[str, Binding]  # bindings of the pipeline's inputs
    outputs: Mapping[str, StepOutput]  # the outputs it gives a workspace path (others: store only)
    loc: SourceLoc = SourceLoc("")
    description: str = ""
    # inner: its outputs bound to the enclosing pipeline's outputs (output -> parent output)
    binds: Mapping[str, str] = field(default_factory=dict)


# Rendering modes of a step (Step.render).
RENDER_AZUREML = "azureml"  # plain text substitution, str() of values, run in a fresh copy of its code


@dataclass(frozen=True)
class ExecutorSettings:
    """`settings: {executor: ...}`: what runs the steps unless the command line says."""

    type: str = "local"  # local | ray
    address: str = ""  # ray: the cluster's address ("" = RAY_ADDRESS, else a local instance)
    store: str = ""  # ray: the shared store (a remote's name, a URL or a path)
    loc: SourceLoc = SourceLoc("")


EXECUTOR_TYPES = ("local", "ray")


@dataclass(frozen=True)
class Pipefile:
    path: str  # absolute path of the file
    root: str  # absolute workspace root: the folder holding the Pipefile
    version: int = PIPEFILE_VERSION
    name: str = ""
    description: str = ""
    params: Mapping[str, Param] = field(default_factory=dict)
    assets: Mapping[str, Asset] = field(default_factory=dict)
    components: Mapping[str, Component] = field(default_factory=dict)
    steps: Mapping[str, Step] = field(default_factory=dict)
    environments: Mapping[str, EnvSpec] = field(default_factory=dict)
    executor: Optional[ExecutorSettings] = None  # `settings: {executor: ...}`
    # (SourceLoc, message, hint) of what loads but is likely a mistake (`pipe validate` and
    # `pipe run` print them)
    warnings: tuple = ()
    keep_going: bool = False  # run what does not depend on a failed step (Azure's continue_on_step_failure)
    # (absolute path, digest) of the other files it was read from (an imported pipeline's
    # components, environments, data definitions): the spec cache checks them
    sources: tuple = ()
    # Absolute paths looked for and not there (a used folder's Pipefile names before the one
    # read): a file created at one would be read instead, so the spec cache checks them too
    absent: tuple = ()
    # (absolute path, stat mark) of the folders listed and the files looked into to find a
    # name (an Azure ML `azureml:NAME@latest`): a file added, removed or changed there may
    # change what the name is, so the spec cache compares their stat too
    listed: tuple = ()
    # Steps that use a pipeline component, by full name ("train", "train/sub"): their inner
    # steps are in `steps`, flattened (`pipe dag` and `pipe status` group them again).
    pipelines: Mapping[str, PipelineUse] = field(default_factory=dict)
    # Its own `type: pipeline` components, by name (`pipe components list` shows them).
    pipeline_components: Mapping[str, PipelineComponent] = field(default_factory=dict)

    @property
    def display_path(self) -> str:
        import os

        return os.path.relpath(self.path) if not os.path.relpath(self.path).startswith("..") else self.path
