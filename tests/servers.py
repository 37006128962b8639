"""Real servers on 127.0.0.1 for the remote tests, started and stopped by the tests:
an OpenSSH sshd (SFTP, key auth, its own config in a temp dir) and moto's S3 server.

A missing server program skips the test, unless PIPE_CI_REQUIRE_SERVICES=1 (CI), where
it fails: CI installs them (.ci/sftp.sh, the test extra)."""

from __future__ import annotations

import getpass
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)


def need(ok: bool, why: str) -> None:
    if ok:
        return
    if os.environ.get("PIPE_CI_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{why} (PIPE_CI_REQUIRE_SERVICES=1: CI must provide it)")
    pytest.skip(why)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} (its log is in the test's temp folder)")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout}s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Sftp:
    port: int
    user: str
    key: str  # the authorised client key
    wrong_key: str  # a key the server does not know
    base: str  # a folder on the server side, writable

    def url(self, sub: str) -> str:
        return f"sftp://{self.user}@127.0.0.1:{self.port}{self.base}/{sub}"

    def options(self, key: str = "") -> list:
        return ["-o", f"key_filename={key or self.key}", "-o", "look_for_keys=false", "-o", "allow_agent=false"]


def start_sshd(tmp: str):
    """sshd -D on a random port with a generated host key and client key (for the current user)."""
    need(
        SSHD is not None and shutil.which("ssh-keygen") is not None,
        "OpenSSH server not installed (apt-get install -y openssh-server)",
    )
    need(importlib.util.find_spec("paramiko") is not None, "paramiko (fsspec's sftp) not installed")
    for name in ("host_key", "client_key", "wrong_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(tmp, name)], check=True)
    shutil.copy(os.path.join(tmp, "client_key.pub"), os.path.join(tmp, "authorized_keys"))
    port = free_port()
    config = os.path.join(tmp, "sshd_config")
    with open(config, "w") as f:
        f.write(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {tmp}/host_key
PidFile {tmp}/sshd.pid
AuthorizedKeysFile {tmp}/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
MaxStartups 64
MaxSessions 64
Subsystem sftp internal-sftp
LogLevel ERROR
""")
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    log = open(os.path.join(tmp, "sshd.log"), "w")
    proc = subprocess.Popen([os.path.abspath(SSHD), "-D", "-e", "-f", config], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    wait_for_port(port, proc, "sshd")
    base = os.path.join(tmp, "srv")
    os.makedirs(base)
    return proc, Sftp(port, getpass.getuser(), os.path.join(tmp, "client_key"), os.path.join(tmp, "wrong_key"), base)


@dataclass
class S3:
    endpoint: str
    key: str
    secret: str

    def env(self, with_credentials: bool = True) -> dict:
        env = {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ACCESS_KEY_ID": self.key if with_credentials else "",
            "AWS_SECRET_ACCESS_KEY": self.secret if with_credentials else "",
        }
        return env

    def options(self) -> list:
        return ["-o", f"endpoint_url={self.endpoint}"]


def start_moto(tmp: str):
    """moto's S3 server. (Its signature checks, INITIAL_NO_AUTH_ACTION_COUNT, reject valid
    listings with a prefix, so credentials are tested as absent, which is checked client-side.)"""
    need(
        importlib.util.find_spec("moto") is not None and importlib.util.find_spec("flask") is not None,
        "moto[server] not installed (pip install 'moto[server]')",
    )
    need(importlib.util.find_spec("s3fs") is not None, "s3fs not installed")
    port = free_port()
    log = open(os.path.join(tmp, "moto.log"), "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp,
    )
    log.close()
    wait_for_port(port, proc, "moto server")
    return proc, S3(f"http://127.0.0.1:{port}", "AKIAPIPETESTKEY00001", "pipe/test+Secret0000000000000000000000000")
