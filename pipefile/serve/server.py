"""`pipe serve`: one server per workspace, on uvicorn.

At start it makes `.pipe/` private (served jobs hold every token's uploads, params and
outputs: see `make_private`), takes `.pipe/serve.lock` (a second server on the same
workspace is refused), marks the jobs a previous server was running `interrupted` (and
stops any step process they left behind), and leaves queued jobs queued: the workers
take them up again.
"""

from __future__ import annotations

import fcntl
import os
import stat
import sys
import threading

from ..errors import PipefileError
from ..jobdb.serving import ServeStore
from ..leases import open_file_limit, raise_open_file_limit, share_open_files
from ..workspace import STATE_DIR, Workspace
from . import online, receiving, submission
from .app import ServeConfig, create_app
from .connections import connection_limits, files_held, held_in_check
from .guard import RequestGuard
from .worker import WORK_DIR, Limits, WorkerPool

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def allowed_hosts(config: ServeConfig) -> set:
    hosts = set(LOOPBACK) | {h.lower() for h in config.allowed_hosts}
    if config.host not in ("0.0.0.0", "::", ""):
        hosts.add(config.host.lower())
    return hosts


def _take_lock(root: str) -> int:
    Workspace(root).close()  # a workspace never run in has no .pipe/ yet
    path = os.path.join(root, STATE_DIR, "serve.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise PipefileError(
            "another `pipe serve` is serving this workspace", hint="stop it first, or serve from another workspace"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def make_private(root: str) -> list:
    """Keep other users of this machine out of what the server holds: from now on this
    process creates files 0600 and folders 0700 (umask 077; the steps of served jobs
    inherit it), `.pipe/` itself becomes 0700, and what is already in it loses its group
    and other permissions (the content store's objects aside: read-only by design, and
    out of reach behind `.pipe/`). Returns warnings for what it could not make private."""
    os.umask(0o077)
    state = os.path.join(root, STATE_DIR)
    os.makedirs(state, exist_ok=True)
    warnings = []
    ws = Workspace(root)
    try:
        store_root = os.path.realpath(ws.store_root)
    finally:
        ws.close()
    try:
        os.chmod(state, 0o700)
    except OSError as e:
        raise PipefileError(
            f"cannot make {state} private ({e.strerror})", hint="run pipe serve as the user who owns the workspace"
        ) from None
    real_state = os.path.realpath(state)
    for dirpath, dirnames, filenames in os.walk(state):
        if os.path.realpath(dirpath) == store_root:
            dirnames[:] = []  # objects stay as the store made them; .pipe/ (0700) guards them
            continue
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
                if st.st_mode & 0o077 and not stat.S_ISLNK(st.st_mode):
                    os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)
            except OSError:
                pass  # gone meanwhile, or not ours: the 0700 .pipe/ still guards it
    if not store_root.startswith(real_state + os.sep):
        warnings.append(
            f"the content store ({store_root}) is outside .pipe/ (PIPE_STORE_DIR or a clone's): "
            f"served uploads and outputs are kept there; make its folder private "
            f"(chmod 700) if others use this machine"
        )
    return warnings


def recover(root: str) -> tuple:
    """(interrupted job ids, queued count) after the previous server's end."""
    ws = Workspace(root)
    try:
        serve = ServeStore(ws.jobs)
        from ..envs.docker.containers import left_runs, remove_containers, served_runs_ended

        cut = serve.interrupt_active()
        for job_id in cut:
            work = os.path.join(ws.dir, WORK_DIR, str(job_id))
            if os.path.isdir(os.path.join(work, STATE_DIR)):
                jws = Workspace(work, home=ws)
                try:
                    # Their containers: noted here, before the markers that name their runs go.
                    served_runs_ended(jws.dir, ws.dir, stale=True)
                    jws.stop_orphans()  # steps of a server killed with -9 must not write on
                finally:
                    jws.close()
        import shutil

        shutil.rmtree(os.path.join(ws.dir, WORK_DIR), ignore_errors=True)
        if left_runs(ws.dir):  # (no daemon: they stay noted, for the next run or serve)
            remove_containers(left_runs(ws.dir), ws.dir)
        # What a server killed mid-request left half written (an upload's bytes, up to
        # --max-upload, and the folder it unpacked to; a plan's or a model's scratch):
        # nothing names it, and with the lock held no other server is writing there.
        for scratch in (receiving.SCRATCH, submission.SCRATCH):
            shutil.rmtree(os.path.join(ws.dir, scratch), ignore_errors=True)
        for name in os.listdir(ws.dir):
            if name.startswith(online.SCRATCH_PREFIX):
                shutil.rmtree(os.path.join(ws.dir, name), ignore_errors=True)
        return cut, serve.queued_count()
    finally:
        ws.close()


def serve(config: ServeConfig, log=lambda m: print(m, file=sys.stderr, flush=True)) -> None:
    import uvicorn

    for warning in make_private(config.root):
        log(f"warning: {warning}")
    lock_fd = _take_lock(config.root)
    try:
        cut, queued = recover(config.root)
        if cut:
            log(f"marked {len(cut)} job(s) the previous server was running as interrupted: {', '.join(map(str, cut))}")
        if queued:
            log(f"resuming {queued} queued job(s)")
        ws = Workspace(config.root)
        try:
            if not ServeStore(ws.jobs).tokens():
                log(
                    "no token exists yet: every request but /v1/health will be refused; "
                    "create one with `pipe token create --scope admin`"
                )
        finally:
            ws.close()
        # One budget of the open-file limit, shared out before any job starts: each worker's
        # job and its steps, and the connections held and accepted at once.
        raise_open_file_limit()  # its share-out below is of the raised limit
        cap, backlog = connection_limits(config.max_connections, config.workers)
        if share_open_files(files_held(cap, backlog), config.workers) < 1:
            log(
                f"warning: the open-file limit (ulimit -n {open_file_limit()}) leaves the jobs too little room "
                f"for their steps beside {cap} connections: steps may fail for want of files; raise "
                f"the limit{', or lower --max-connections' if config.max_connections else ''}"
            )
        # The CPUs are shared out between the jobs that run at once.
        slots = max(1, (os.cpu_count() or 1) // config.workers)
        pool = WorkerPool(
            config.root, config.workers, Limits(config.job_timeout, config.max_log, slots), config.pass_env
        )
        app = create_app(config, pool)
        guarded = RequestGuard(app, allowed_hosts(config), config.max_body, config.max_upload, config.idle_timeout)
        if config.host in ("0.0.0.0", "::"):
            log(
                "warning: listening on every network interface; requests are still refused unless their Host "
                "is allowed (--allow-host)"
            )
        serving = (
            f"serving {os.path.basename(config.root)} at http://{_url_host(config.host)}:{config.port}/v1 "
            f"({config.workers} worker{'s' if config.workers != 1 else ''}); API: /v1/openapi.json"
        )

        class Server(uvicorn.Server):
            async def startup(self, sockets=None):
                await super().startup(sockets=sockets)
                if self.started:  # (said once it listens: a port in use is an error, never "serving")
                    log(serving)

            def handle_exit(self, sig, frame):
                # SIGTERM / Ctrl-C: stop the jobs at once (they end interrupted), so that
                # clients following them see that and the open streams end, instead of
                # uvicorn waiting out its grace period for them.
                threading.Thread(target=pool.stop, name="pool-stop", daemon=True).start()
                super().handle_exit(sig, frame)

        uv_config = uvicorn.Config(
            guarded,
            http=held_in_check(config.idle_timeout, cap),
            backlog=backlog,
            host=config.host,
            port=config.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=10,
            server_header=False,
        )
        server = Server(uv_config)
        try:
            server.run()
        except KeyboardInterrupt:
            pass
        except SystemExit as e:  # uvicorn exits when it cannot bind: answered below
            if server.started or e.code in (None, 0):
                raise
        if not server.started:
            # uvicorn has logged why it could not start (address in use, ...).
            raise PipefileError(
                f"pipe serve could not listen on {_url_host(config.host)}:{config.port}",
                hint="is another program using that port? choose another with --port; "
                "--host must be an address of this machine",
            )
    finally:
        os.close(lock_fd)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
