"""`pipe publish`, `pipe endpoints`, `pipe serve`, `pipe invoke`, `pipe token`: batch
endpoints (docs/endpoints.md)."""

from __future__ import annotations

import os
import re
import time

import click

from ..errors import PipefileError
from ..jobdb.serving import ServeStore
from ..jobdb.tokens import valid_endpoint_name
from ..load import find_pipefile, parse_size
from ..report import text as report  # report.dump_json
from .guard import guard
from .options import CONTEXT, NUMBER, check_named_file, file_option, hand_down, open_workspace, positive_duration


def _size_option(text: str, what: str) -> int:
    n = parse_size(text)
    if n is None or n <= 0:
        raise PipefileError(f"{what} {text}: not a size", hint="write e.g. 500MB, 2GiB or 1048576")
    return int(n)


def _when(t) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "-"


def _default_endpoint_name(pipefile) -> str:
    from ..load import load

    path = pipefile or find_pipefile(".")
    pf = load(path)
    name = pf.name or os.path.basename(pf.root)
    name = re.sub(r"[^A-Za-z0-9_\-]", "-", name).strip("-") or "pipeline"
    name = name if re.match(r"[A-Za-z_]", name) else f"p-{name}"
    # an endpoint name has at most 64 characters: a longer Pipefile name is cut, not refused
    return name[:64].rstrip("-")


@click.command(context_settings=CONTEXT)
@file_option
@click.option(
    "--endpoint",
    "endpoint",
    metavar="NAME",
    help="The endpoint to publish to (default: the Pipefile's name, else the folder's).",
)
@click.option("--description", default="", help="What this deployment is (shown by pipe endpoints show).")
@click.option("--set-default", is_flag=True, help="Make this deployment the endpoint's default.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@guard
def publish(pipefile, endpoint, description, set_default, as_json):
    """Snapshot the pipeline as a new deployment of an endpoint.

    Params and assets marked `input: true` become the endpoint's inputs, outputs
    marked `output: true` its outputs. Publishing never moves the endpoint's
    default unless --set-default is given (the first deployment is the default).
    """
    from ..publish import publish as do_publish

    path = pipefile or find_pipefile(".")
    name = endpoint or _default_endpoint_name(path)
    ws = open_workspace(path, create=True)
    try:
        # A writer of the store that holds no workspace lock, as an upload is: a `pipe gc`
        # meanwhile would delete the snapshot before its deployment names it.
        gate = ws.serve_gate.writer()  # (waits while a gc runs)
        try:
            dep, new = do_publish(ws, path, name, description, set_default)
        finally:
            if gate is not None:
                gate.close()
        ep = ServeStore(ws.jobs).endpoint(name)
    finally:
        ws.close()
    if as_json:
        report.dump_json(dict(dep.to_json(), new=new, default_deployment=ep.default_deployment))
        return
    if new:
        click.echo(f"published endpoint '{name}' deployment {dep.number} ({dep.digest[:12]})")
    else:
        click.echo(f"endpoint '{name}' deployment {dep.number} already holds this snapshot; nothing new published")
    click.echo(
        f"default deployment: {ep.default_deployment}"
        + (
            ""
            if ep.default_deployment == dep.number
            else f" (make this one the default: pipe endpoints set-default {name} {dep.number})"
        )
    )
    if not dep.manifest.get("outputs"):
        click.echo("warning: no output is marked `output: true`: invocations will have nothing to download", err=True)


@click.group(context_settings=CONTEXT, invoke_without_command=True)
@file_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@click.pass_context
@guard
def endpoints(ctx, pipefile, as_json):
    """List the endpoints published from this workspace."""
    if ctx.invoked_subcommand:
        hand_down(ctx, pipefile=pipefile, as_json=as_json)
        return
    ws = open_workspace(pipefile)
    try:
        s = ServeStore(ws.jobs)
        rows = [(e, s.deployments(e.name)) for e in s.endpoints()]
    finally:
        ws.close()
    if as_json:
        report.dump_json({"endpoints": [dict(e.to_json(), deployments=len(d)) for e, d in rows]})
        return
    if not rows:
        click.echo("no endpoint yet: publish one with `pipe publish`")
        return
    click.echo(f"{'ENDPOINT':<24} {'DEFAULT':>7} {'DEPLOYMENTS':>11}  DESCRIPTION")
    for e, d in rows:
        click.echo(f"{e.name:<24} {e.default_deployment or '-':>7} {len(d):>11}  {e.description}")


@endpoints.command("show", context_settings=CONTEXT)
@click.argument("name")
@file_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@guard
def endpoints_show(name, pipefile, as_json):
    """An endpoint's deployments, its default, and its input and output schema."""
    ws = open_workspace(pipefile)
    try:
        s = ServeStore(ws.jobs)
        ep = s.endpoint(name)
        deps = s.deployments(name)
    finally:
        ws.close()
    default = next((d for d in deps if d.number == ep.default_deployment), None)
    if as_json:
        report.dump_json(dict(ep.to_json(), deployments=[d.to_json() for d in deps]))
        return
    click.echo(f"endpoint {ep.name}" + (f": {ep.description}" if ep.description else ""))
    click.echo(f"default deployment: {ep.default_deployment or 'none'}")
    click.echo("deployments:")
    for d in deps:
        flags = " (default)" if d.number == ep.default_deployment else ""
        flags += " (disabled)" if d.disabled else ""
        click.echo(f"  {d.number:>3}  {_when(d.created)}  {d.digest[:12]}{flags}  {d.description}")
    if default is not None:
        click.echo(f"inputs of deployment {default.number}:")
        for n, i in default.manifest.get("inputs", {}).items():
            extra = "required" if i.get("required") else f"default {i.get('default')!r}"
            typ = i.get("type") or "file or folder"
            click.echo(
                f"  {n:<20} {i['kind']:<6} {typ:<11} {extra}"
                + (f"  {i['description']}" if i.get("description") else "")
            )
        click.echo(f"outputs of deployment {default.number}:")
        for n, o in default.manifest.get("outputs", {}).items():
            click.echo(f"  {n:<20} {o.get('type') or 'file or folder':<11} from step '{o['step']}' ({o['path']})")


@endpoints.command("set-default", context_settings=CONTEXT)
@click.argument("name")
@click.argument("number", type=NUMBER)
@file_option
@guard
def endpoints_set_default(name, number, pipefile):
    """Make deployment NUMBER the one invocations of NAME get."""
    ws = open_workspace(pipefile)
    try:
        ServeStore(ws.jobs).set_default(name, number)
    finally:
        ws.close()
    click.echo(f"endpoint '{name}': default deployment is now {number}")


@endpoints.command("disable", context_settings=CONTEXT)
@click.argument("name")
@click.argument("number", type=NUMBER)
@file_option
@guard
def endpoints_disable(name, number, pipefile):
    """Refuse new invocations of deployment NUMBER (its jobs stay)."""
    ws = open_workspace(pipefile)
    try:
        s = ServeStore(ws.jobs)
        s.disable(name, number)
        ep = s.endpoint(name)
    finally:
        ws.close()
    click.echo(
        f"endpoint '{name}': deployment {number} disabled; default deployment: {ep.default_deployment or 'none'}"
    )


@click.command(context_settings=CONTEXT)
@file_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (0.0.0.0: every interface; then list names with --allow-host).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Jobs run at once.")
@click.option(
    "--allow-host",
    multiple=True,
    metavar="NAME",
    help="Also accept requests whose Host is NAME (repeatable; loopback names always are).",
)
@click.option("--max-upload", default="2GiB", show_default=True, help="Largest upload.")
@click.option("--max-unpacked", default="8GiB", show_default=True, help="Largest unpacked tar/zip upload.")
@click.option("--max-body", default="1MiB", show_default=True, help="Largest request body but uploads.")
@click.option(
    "--max-queue",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Queued jobs before new ones are refused (429).",
)
@click.option(
    "--max-log",
    default="100MiB",
    show_default=True,
    help="Largest log a step may write; a job whose step writes more fails.",
)
@click.option("--job-timeout", default="24h", show_default=True, help="Wall time after which a job fails.")
@click.option(
    "--score-timeout",
    default="30s",
    show_default=True,
    help="Time a real-time request's rows may take to score; past it the model's process is stopped (504).",
)
@click.option(
    "--idle-timeout",
    default="60s",
    show_default=True,
    help="Time a request body may send nothing before it is refused (408); a connection on which no request "
    "begins for this long is closed.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Connections held at once; one more is closed as it opens. Default: 3/4 of the open-file limit.",
)
@click.option(
    "--pass-env",
    multiple=True,
    metavar="NAME",
    help="Pass this variable of the server's environment on to steps (repeatable).",
)
@guard
def serve(
    pipefile,
    host,
    port,
    workers,
    allow_host,
    max_upload,
    max_unpacked,
    max_body,
    max_queue,
    max_log,
    job_timeout,
    score_timeout,
    idle_timeout,
    max_connections,
    pass_env,
):
    """Serve this workspace's endpoints over REST (under /v1; OpenAPI at /v1/openapi.json)."""
    import importlib.util

    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None:
        raise PipefileError("pipe serve needs FastAPI and uvicorn", hint="pip install 'pipefile[serve]'")
    from ..serve.app import ServeConfig
    from ..serve.server import serve as run_server

    if not host.strip():
        # (`--host "$HOST"` with HOST unset: an empty address listens on every interface)
        raise PipefileError(
            "--host is empty",
            hint="give the address to listen on: 127.0.0.1 (this machine only, the default) "
            "or 0.0.0.0 (every interface)",
        )
    if pipefile:
        check_named_file(pipefile)  # (a typo served an empty workspace in its folder)
    path = pipefile or find_pipefile(".")
    config = ServeConfig(
        root=os.path.dirname(os.path.abspath(path)),
        host=host,
        port=port,
        workers=workers,
        allowed_hosts=list(allow_host),
        max_upload=_size_option(max_upload, "--max-upload"),
        max_unpacked=_size_option(max_unpacked, "--max-unpacked"),
        max_body=_size_option(max_body, "--max-body"),
        max_queue=max_queue,
        max_log=_size_option(max_log, "--max-log"),
        job_timeout=positive_duration(job_timeout, "--job-timeout"),
        idle_timeout=positive_duration(idle_timeout, "--idle-timeout"),
        score_timeout=positive_duration(score_timeout, "--score-timeout"),
        max_connections=max_connections,
        pass_env=list(pass_env),
    )
    run_server(config, log=lambda m: click.echo(m, err=True))


@click.command(context_settings=CONTEXT)
@click.argument("endpoint")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="A param input (repeatable).")
@click.option(
    "-i",
    "--input",
    "data",
    multiple=True,
    metavar="NAME=PATH",
    help="A data input: a file or folder to upload, artifact:NAME:VERSION or job:JOB/OUTPUT (repeatable).",
)
@click.option("--deployment", type=NUMBER, help="Invoke this deployment (default: the endpoint's default).")
@click.option("--wait", is_flag=True, help="Wait for the job to end, printing its steps as they finish.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Download the outputs here when the job completes (implies --wait).",
)
@click.option(
    "--url", envvar="PIPE_URL", default="http://127.0.0.1:8080", show_default=True, help="The server (or set PIPE_URL)."
)
@click.option("--token", envvar="PIPE_TOKEN", help="The token (or set PIPE_TOKEN).")
@click.option("--force-rerun", is_flag=True, help="Run even if an identical job completed before.")
@click.option("--idempotency-key", metavar="KEY", help="Submitting again with this key returns the same job.")
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON on stdout.")
@guard
def invoke(endpoint, params, data, deployment, wait, out_dir, url, token, force_rerun, idempotency_key, as_json):
    """Run ENDPOINT on a `pipe serve` server with these inputs."""
    from ..load import overridden_params
    from ..printable import printable as pr
    from ..serve.client import Client, parse_inputs
    from ..serve.download import check_out_folder, download_outputs
    from ..serve.remote_logs import failure_report, job_failed
    from .remote_choice import echo_notes

    echo_notes(overridden_params(params), "warning")  # (the last wins, as `pipe run` says: was silent)
    if not valid_endpoint_name(endpoint):  # ('../score' went into the URL: a 404 of no route, the name unsaid)
        raise PipefileError(
            f"'{pr(endpoint)}' is not an endpoint name",
            hint="an endpoint name is letters, digits, '_' and '-', starting with a letter or '_': "
            "pipe endpoints (where the server runs) lists them",
        )
    if out_dir is not None:
        check_out_folder(out_dir)  # before the job runs: never one whose outputs cannot be written
    client = Client(url, token, warn=lambda m: click.echo(m, err=True))
    try:
        ep = client.endpoint(endpoint)
        schema = ep.get("inputs", {})
        if deployment:
            schema = client.request_json(
                "GET", f"/v1/endpoints/{endpoint}/deployments/{deployment}", f"deployment {deployment}"
            ).get("inputs", {})
        inputs = parse_inputs(client, schema, params, data)
        job = client.submit(endpoint, deployment, inputs, force_rerun, idempotency_key)
        what = "reused job" if job.get("reused") else "job"
        click.echo(f"{what} {job['id']} ({pr(job['state'])}): {url.rstrip('/')}{pr(job.get('url', ''))}", err=True)
        if wait or out_dir is not None:

            def show(e):  # what the server says, printed as text (no terminal escapes), missing parts as ?
                d = e["data"]
                if e["kind"] == "step" and d.get("status") == "finished":
                    click.echo(
                        f"  {pr(d.get('outcome', '?')):<9} {pr(d.get('step', '?'))}"
                        + (f"  {pr(d['error'])}" if d.get("error") else ""),
                        err=True,
                    )
                elif e["kind"] == "state":
                    click.echo(
                        f"  state: {pr(d.get('state', '?'))}" + (f" ({pr(d['error'])})" if d.get("error") else ""),
                        err=True,
                    )

            job = (
                client.wait(job["id"], show)
                if job["state"] not in ("completed", "failed", "canceled", "interrupted")
                else job
            )
            failed = job_failed(job, url)
            if failed is None and out_dir is not None:
                for p in download_outputs(client, job, out_dir):
                    click.echo(f"wrote {pr(p)}", err=True)
            elif failed is not None:
                # As a local run shows a failed step's log tail: read from the server.
                for line in failure_report(client, job, url):
                    click.echo(line, err=True)
        if as_json:
            report.dump_json(job)
        if (wait or out_dir is not None) and job_failed(job, url) is not None:
            raise job_failed(job, url)
    finally:
        client.close()


@click.group(context_settings=CONTEXT)
def token():
    """Create, list and revoke the tokens `pipe serve` accepts."""


@token.command("create", context_settings=CONTEXT)
@file_option
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    metavar="SCOPE",
    help="admin, read, or invoke:ENDPOINT (repeatable; default: admin).",
)
@click.option("--expires", metavar="DURATION", help="Expire after e.g. 30d, 12h (default: never).")
@click.option("--name", default="", help="A label for `pipe token list`.")
@click.option(
    "--share-cache",
    is_flag=True,
    help="Every token's jobs may restore the steps this token's jobs run (default: only its own).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with the token) on stdout.")
@guard
def token_create(pipefile, scopes, expires, name, share_cache, as_json):
    """Make a token; it is shown this once (only its SHA-256 is kept)."""
    # Checked before the workspace is opened: a refused token leaves nothing behind.
    lifetime = positive_duration(expires, "--expires") if expires is not None else None
    ws = open_workspace(pipefile, create=True)
    try:
        tok, text = ServeStore(ws.jobs).create_token(
            list(scopes) or ["admin"], name, time.time() + lifetime if lifetime else None, share_cache
        )
    finally:
        ws.close()
    if as_json:
        report.dump_json(dict(tok.to_json(), token=text))
        return
    click.echo(text)
    click.echo(
        f"token {tok.id} ({', '.join(tok.scopes)}; expires {_when(tok.expires) if tok.expires else 'never'}"
        f"{'; shares its run cache' if tok.share_cache else ''}): copy it now, it is not shown again",
        err=True,
    )


@token.command("list", context_settings=CONTEXT)
@file_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@guard
def token_list(pipefile, as_json):
    """The tokens (never their secret): id, scopes, state, last use."""
    ws = open_workspace(pipefile)
    try:
        toks = ServeStore(ws.jobs).tokens()
    finally:
        ws.close()
    if as_json:
        report.dump_json({"tokens": [t.to_json() for t in toks]})
        return
    if not toks:
        click.echo("no token yet: pipe token create --scope admin")
        return
    click.echo(f"{'ID':<14} {'STATE':<8} {'CREATED':<16} {'EXPIRES':<16} {'LAST USED':<16} SCOPES")
    for t in toks:
        click.echo(
            f"{t.id:<14} {t.state():<8} {_when(t.created):<16} {_when(t.expires):<16} "
            f"{_when(t.last_used):<16} {', '.join(t.scopes)}"
            + (f"  ({t.name})" if t.name else "")
            + ("  [shares run cache]" if t.share_cache else "")
        )


@token.command("revoke", context_settings=CONTEXT)
@click.argument("token_id")
@file_option
@guard
def token_revoke(token_id, pipefile):
    """Refuse TOKEN_ID from now on (takes effect at once, on running servers too)."""
    ws = open_workspace(pipefile)
    try:
        ServeStore(ws.jobs).revoke(token_id)
    finally:
        ws.close()
    click.echo(f"token {token_id} revoked")
