"""The Ray executor's connection to a cluster and its shared store, made once, when first
needed, and watched while the run goes.

Ray keeps a driver waiting (its calls hang, then it ends the process about a minute later)
when the cluster's head (its GCS) goes away. A thread here knocks on the head's port once a
second; when it stays shut for a few seconds the cluster is marked gone, and every step still
on it fails at once with one clear message (nothing of it committed), instead of the caller
hanging and dying uncommitted.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import tempfile
import threading
import time
from typing import Optional

from ..errors import PipefileError, seconds_from_env
from .ray_head import auth_error, auto_address, check_head, probe

_WATCH_EVERY = 1.0  # seconds between two knocks on the head's port
GONE_ENV = "PIPE_RAY_GONE_AFTER"
GONE_AFTER = 5.0  # seconds the head may stay shut, unless GONE_ENV says
UNPLACED_ENV = "PIPE_RAY_UNPLACED_AFTER"
# Seconds a step whose request no live node can hold waits for one to join (an autoscaler
# may be adding it) before it fails, unless UNPLACED_ENV says.
UNPLACED_AFTER = 300.0


def gone_after() -> float:
    """The seconds the head's port may stay shut before the cluster counts as gone."""
    return _seconds(GONE_ENV, GONE_AFTER)


def unplaced_after() -> float:
    return _seconds(UNPLACED_ENV, UNPLACED_AFTER)


def _seconds(name: str, default: float) -> float:
    """Read when the run's cluster is made, so a bad value is a usage error before anything
    starts (not an internal error at import)."""
    return seconds_from_env(name, default)


class Pump:
    """One thread that waits on every running task's stream of results at once and hands each
    piece to the step's thread: a thread per step each polling Ray (`ray.wait`) costed the
    caller more CPU than the steps' own work (docs/benchmarks.md, Ray executor)."""

    def __init__(self, ray):
        self.ray = ray
        self._queues: dict = {}  # streaming generator -> queue.SimpleQueue of ("ref"|"end"|"error", x)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def add(self, gen):
        import queue

        q: queue.SimpleQueue = queue.SimpleQueue()
        with self._lock:
            self._queues[gen] = q
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="pipe-ray-pump", daemon=True)
                self._thread.start()
        self._wake.set()
        return q

    def drop(self, gen) -> None:
        with self._lock:
            self._queues.pop(gen, None)

    def close(self) -> None:
        """Stop the thread and wait for it: one still inside `ray.wait` when Ray shuts down
        makes Ray's core worker end the whole process with an error, after the run succeeded."""
        self._closing.set()
        self._wake.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=10)

    def _loop(self) -> None:
        ray = self.ray
        while not self._closing.is_set():
            with self._lock:
                gens = list(self._queues)
            if not gens:
                self._wake.wait(0.2)
                self._wake.clear()
                continue
            try:
                ready, _ = ray.wait(gens, num_returns=1, timeout=0.05)
                if ready and len(gens) > 1:  # every one ready now, in one call
                    ready, _ = ray.wait(gens, num_returns=len(gens), timeout=0)
            except Exception as e:  # noqa: BLE001 - each step's thread says what it means
                for gen in gens:
                    self._put(gen, ("error", e), last=True)
                continue
            for gen in ready:
                try:
                    self._put(gen, ("ref", next(gen)))
                except StopIteration:
                    self._put(gen, ("end", None), last=True)
                except Exception as e:  # noqa: BLE001
                    self._put(gen, ("error", e), last=True)

    def _put(self, gen, item, last: bool = False) -> None:
        with self._lock:
            q = self._queues.pop(gen, None) if last else self._queues.get(gen)
        if q is not None:
            q.put(item)


class Unplaceable(Exception):
    """No live node could hold a task's request, for the cluster's `unplaced_after` seconds."""


class Placement:
    """Watches a submitted task that has not started: Ray keeps one that no node can hold
    pending, silently and forever (a typo in a custom resource, a GPU on a cluster without
    one), and the run would hang. It stays submitted meanwhile (an autoscaler adds nodes for
    what pending tasks ask), and the wait is said in the step's log (so on the terminal)."""

    def __init__(self, cluster: RayCluster, options: dict, log):
        want = {"CPU": options["num_cpus"], "GPU": options["num_gpus"], "memory": options.get("memory", 0)}
        want.update(options.get("resources") or {})
        self.want = {k: v for k, v in want.items() if v}
        self.placeable = not self.want  # (True once it started: a node holds it)
        self.cluster = cluster
        self.log = log
        self.since: Optional[float] = None  # since when no live node could hold it
        self.next = time.monotonic() + 1.0  # (a task that starts at once, most, never costs a look)
        self.told = False

    def check(self) -> None:
        """Look (once a second) whether a live node could hold the request; raise
        Unplaceable when none could for the cluster's `unplaced_after` seconds."""
        now = time.monotonic()
        if self.placeable or now < self.next:
            return
        self.next = now + 1.0
        try:
            have = self.cluster.unplaceable(self.want)
        except Exception:  # noqa: BLE001 - the head not answering: the watcher tells that; look again later
            return
        if have is None:
            # A node could hold it (busy: it waits its turn, as Ray decides). Looked at again:
            # that node may die before it starts it (its retry after the node died under it),
            # and Ray would leave it pending forever.
            self.since = None
            return
        self.since = self.since or now
        asked = ", ".join(f"{k} {v:g}" for k, v in self.want.items())
        limit = self.cluster.unplaced_after
        if not self.told:
            self.told = True
            self.log.write(
                f"[pipe] no live node of the Ray cluster has what it asks for ({asked}; nodes: {have}): "
                f"waiting up to {limit:g}s for one to join\n".encode()
            )
            self.log.flush()
        if now - self.since >= limit:
            raise Unplaceable(
                f"no node of the Ray cluster can run it: it asks for {asked} (its resources:) and the live "
                f"nodes have {have}, and none that could joined within {limit:g}s: add a node that has them "
                "(ray start --num-gpus N, --resources '{\"NAME\": N}') or ask for less; on a cluster that "
                f"adds nodes as it goes, set {UNPLACED_ENV} to the seconds that takes"
            )


def stops_when(cancelled: threading.Event):
    """A transfer's progress that stops it, chunk by chunk, once `cancelled` is set (Ctrl-C,
    SIGTERM): the upload of a step's inputs or the download of its outputs, gigabytes on a slow
    store, was waited for to the end. What it stops leaves a temp file, never an object."""
    from ..remote.transfer import Progress, RemoteError

    class Stops(Progress):
        def advance(self, nbytes: int) -> None:
            if cancelled.is_set():
                raise RemoteError("transfers stopped (interrupted)")

    return Stops()


def transfer_failed(doing: str, t, cancelled: threading.Event) -> str:
    """Why a step failed when a transfer `t` (to or from the shared store) failed."""
    return "interrupted" if cancelled.is_set() else f"could not {doing} the shared store: {t.failed[0][1].render()}"


class ClusterGone(Exception):
    """The cluster's head stopped answering: not worth trying again in this run."""


class RayCluster:
    """The connection to the cluster and the shared store, made once, when first needed."""

    def __init__(self, address: str = "", store=None, default_store=None):
        """`address`: the cluster ("" = one running on this machine, else a local instance
        started for the run and stopped after it); `store`: the shared store's RemoteSpec
        given for it; `default_store`: the workspace's default remote, used when no store
        is given and the cluster has nodes other than this machine (and what later runs
        consult). With neither, a
        temporary folder, which only a cluster of this machine alone can share."""
        self.address = address
        self.store_spec = store
        self.default_store = default_store
        # Outputs left on the store are restored by later runs only if they consult it: they
        # consult the workspace's default remote where it has one (session.py), else the store.
        self.later_runs_see_store = store is None or default_store is None or _same(store, default_store)
        self.ray = None
        self.task = None
        self.pump: Optional[Pump] = None
        self.remote = None
        self.temporary_store = False  # the store is a folder removed after the run
        self.gone: Optional[str] = None  # why the cluster is taken for gone, once it is
        self._started = False  # this run started the Ray instance: it stops it
        self._temp_store: Optional[str] = None
        self._lock = threading.Lock()
        self._lock_nodes = threading.Lock()
        self._nodes: list = []
        self._nodes_at: Optional[float] = None
        self._error: Optional[PipefileError] = None
        self._closing = threading.Event()
        self.gone_after = gone_after()
        self.unplaced_after = unplaced_after()

    def connect(self) -> None:
        """Reach the cluster (once); raises PipefileError when it cannot be used."""
        with self._lock:
            if self._error is not None:
                raise self._error
            if self.gone is not None:
                raise PipefileError(self.gone, hint=GONE_HINT)
            if self.ray is not None:
                return
            try:
                self._connect()
            except PipefileError as e:
                self._error = e
                self.close()
                raise

    def _connect(self) -> None:
        try:
            import ray
        except ImportError:
            raise PipefileError(
                "the ray executor needs Ray, which is not installed",
                hint="pip install 'pipefile[ray]' (or pip install 'ray[default]'), or run with --executor local",
            ) from None
        from .ray_worker import run_step

        # ray.init puts its own SIGTERM handling in (the process aborts, Ray's core printing a
        # stack): pipe would end without stopping its steps on the cluster nor recording the
        # job interrupted. Pipe's own (cli/guard: as Ctrl-C) is put back.
        main = threading.current_thread() is threading.main_thread()
        before = signal.getsignal(signal.SIGTERM) if main else None
        _cluster_news_to_stderr()
        try:
            self._init(ray)
        finally:
            if before is not None:
                signal.signal(signal.SIGTERM, before)
        self.ray = ray
        self.task = ray.remote(num_returns="streaming", max_retries=0)(run_step)
        self.pump = Pump(ray)
        self._open_store()
        if not self._started:  # (an instance of this run's own goes only with it)
            head = self.address if self.address and self.address != "auto" else _gcs_address(ray)
            if head:
                self._head = head
                threading.Thread(target=self._watch, args=(head,), name="pipe-ray-head", daemon=True).start()

    def _init(self, ray) -> None:
        quiet = {"log_to_driver": False, "logging_level": "warning"}
        if "://" in self.address:  # Ray Client (ray://) streams no results; http:// is the dashboard's
            raise PipefileError(
                f"cannot run steps on the Ray cluster at {self.address}: pipe connects to a head directly, "
                "not through Ray Client (ray://) nor the dashboard (http://)",
                hint="give --address (or RAY_ADDRESS, settings: executor: address) as the head's HOST:PORT, the "
                "port `ray start --head --port` names (6379 by default)",
            )
        if self.address:
            try:
                probe(self.address, head=True)  # Ray itself would try for minutes
                check_head(self.address)  # (a refused token: Ray's own retries tell nothing)
                ray.init(address=self.address, **quiet)
            except ray.exceptions.AuthenticationError as e:
                raise auth_error(e) from None
            except (OSError, RuntimeError, ValueError) as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise PipefileError(
                    f"cannot reach the Ray cluster at {self.address}: {first}",
                    hint="check --address (or RAY_ADDRESS, settings: executor: address): the head's HOST:PORT, the "
                    "port `ray start --head --port` names (6379 by default); and `ray status` there",
                ) from None
        else:
            here = auto_address()
            if here:  # a cluster running on this machine that refuses the token: said, not
                with contextlib.suppress(OSError):  # passed over for a local instance after Ray's retries
                    check_head(here)
            try:
                ray.init(address="auto", **quiet)  # a cluster running on this machine
            except ray.exceptions.AuthenticationError as e:
                raise auth_error(e) from None
            except ConnectionError:
                try:
                    ray.init(address="local", include_dashboard=False, **quiet)
                except ray.exceptions.AuthenticationError as e:
                    raise auth_error(e) from None
                self._started = True

    def unplaceable(self, want: dict) -> Optional[str]:
        """None when a live node has in all (free or not) every resource of `want` (Ray's
        names: CPU, GPU, memory, custom ones -> amounts), else what the live nodes have of
        them, for the message."""
        nodes = self._live_nodes()
        for n in nodes:
            have = n.get("Resources") or {}
            if all(have.get(k, 0) + 1e-9 >= v for k, v in want.items()):
                return None
        shown = []
        for n in nodes[:4]:
            have = n.get("Resources") or {}
            shown.append(f"{n.get('NodeManagerHostname', '?')}: " + ", ".join(f"{k} {have.get(k, 0):g}" for k in want))
        more = f" (and {len(nodes) - 4} more)" if len(nodes) > 4 else ""
        return "; ".join(shown) + more if shown else "no live node"

    def _live_nodes(self) -> list:
        """The cluster's live nodes, asked of the head at most once a second for all the tasks
        watched (a sweep's trials waiting their turn each look once a second)."""
        with self._lock_nodes:
            now = time.monotonic()
            if self._nodes_at is None or now - self._nodes_at >= _WATCH_EVERY:
                self._nodes = [n for n in self.ray.nodes() if n.get("Alive")]
                self._nodes_at = now
            return self._nodes

    def confirm_gone(self) -> Optional[str]:
        """After a task was lost: the cluster's "went away" message if its head stays shut for
        the watcher's `gone_after` seconds (Ray may report the dead node first), else None: a
        worker died and the cluster is there, worth another try."""
        head = getattr(self, "_head", None)
        if head is None:
            return self.gone
        deadline = time.monotonic() + self.gone_after + 1.0
        while time.monotonic() < deadline:
            if self.gone is not None:
                return self.gone
            try:
                probe(head, seconds=1.0)
                return None
            except OSError:
                time.sleep(0.5)
        self.gone = self.gone or self._gone_message(head)
        return self.gone

    def _watch(self, head: str) -> None:
        """Mark the cluster gone once its head's port has stayed shut for `gone_after` seconds."""
        shut_since = None
        while not self._closing.wait(_WATCH_EVERY):
            try:
                probe(head, seconds=2.0)
                shut_since = None
            except OSError:
                now = time.monotonic()
                shut_since = shut_since or now
                if now - shut_since >= self.gone_after:
                    self.gone = self._gone_message(head)
                    return

    def _gone_message(self, head: str) -> str:
        return f"the Ray cluster went away: its head at {head} has not answered for {self.gone_after:g}s"

    def _open_store(self) -> None:
        from ..remote.config import RemoteSpec
        from ..remote.transport import Remote

        spec = self.store_spec
        if spec is None:
            nodes = [n for n in self.ray.nodes() if n.get("Alive")]
            alone = len(nodes) == 1 and nodes[0].get("NodeManagerHostname") == socket.gethostname()
            if self._started or alone:
                # Every node is this machine: a folder here is shared by all of them.
                self._temp_store = tempfile.mkdtemp(prefix="pipe-ray-store-")
                self.temporary_store = True
                spec = RemoteSpec("ray-scratch", self._temp_store)
            elif self.default_store is not None:
                spec = self.default_store
            else:
                raise PipefileError(
                    f"the Ray cluster at {self.address or 'this machine'} has {len(nodes)} node(s) and no shared "
                    "store was given: its workers could not get the steps' inputs",
                    hint="pass --store NAME|URL (a remote: pipe remote add NAME s3://... ; or a path every node "
                    "sees), or set PIPE_RAY_STORE, or settings: {executor: {type: ray, store: ...}}",
                )
            self.store_spec = spec
        self.remote = Remote(spec)
        try:
            self.remote.ensure_layout()
        except OSError as e:  # (a folder that cannot be made there: /proc/..., no permission)
            raise PipefileError(
                f"cannot use the shared store {spec.describe()}: {e.strerror or e}: {e.filename or spec.url}",
                hint="pass --store (or PIPE_RAY_STORE) as a folder this machine and every node can write, or a "
                "remote's name or URL (pipe remote add NAME s3://...)",
            ) from None

    def close(self) -> None:
        self._closing.set()
        if self.pump is not None:
            self.pump.close()
        if self.ray is not None:
            try:
                self.ray.shutdown()  # a local instance started for the run stops with it
            except Exception:  # noqa: BLE001 - the run's result stands
                pass
            self.ray = None
        if self.remote is not None:
            self.remote.close()
            self.remote = None
        if self._temp_store is not None:
            import shutil

            shutil.rmtree(self._temp_store, ignore_errors=True)
            self._temp_store = None


def _cluster_news_to_stderr() -> None:
    """Ray's driver prints what the cluster reports (a node's raylet that died, with the last
    20 lines of its log) on stdout, in the middle of pipe's output: `pipe run --json`'s
    summary there was no JSON any more. Those lines go to stderr, with pipe's own messages."""
    try:
        from ray._private import worker
    except ImportError:  # (another Ray's internals: left as they are)
        return
    show = getattr(worker, "print_to_stdstream", None)
    if show is None or getattr(show, "pipe_stderr", False):
        return

    def to_stderr(data, *args, **kwargs):
        return show(dict(data, is_err=True), *args, **kwargs)

    to_stderr.pipe_stderr = True  # type: ignore[attr-defined]
    worker.print_to_stdstream = to_stderr


def _same(a, b) -> bool:
    return a.url.rstrip("/") == b.url.rstrip("/")


GONE_HINT = (
    "start the cluster again (ray start --head ...) and run again: the steps committed before are fresh, "
    "only the others run"
)


def _gcs_address(ray) -> str:
    try:
        return ray.get_runtime_context().gcs_address or ""
    except Exception:  # noqa: BLE001 - unwatched, as before
        return ""
