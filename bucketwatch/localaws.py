"""A local AWS endpoint: moto in server mode on 127.0.0.1, as a child process.

Used by the tests (a pytest fixture), the demo and the benchmarks. The server is always
stopped on exit, on errors and on Ctrl-C, so no process is left behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT_REGION = "us-east-1"
# moto's default account; ARNs in tests and the demo use it.
MOTO_ACCOUNT_ID = "123456789012"

# Credentials and settings that keep boto3 away from any real account or config file.
LOCAL_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": DEFAULT_REGION,
    "AWS_REGION": DEFAULT_REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """Linux: have the kernel stop the server if our process dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux/glibc: `stop()` and context managers still clean up


class MotoServer:
    """Start and stop `moto.server` on a free loopback port."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def localhost_url(self) -> str:
        """The same endpoint by host name; the CDK CLI needs `localhost` to talk to moto."""
        return f"http://localhost:{self.port}"

    def start(self, timeout: float = 30.0) -> MotoServer:
        env = {**os.environ, **LOCAL_AWS_ENV}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto server exited with code {self._process.returncode} on start")
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1):
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto server did not answer on {self.endpoint_url} within {timeout:.0f}s")

    def reset(self) -> None:
        """Forget every resource: a clean account for the next test."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def env(self, use_localhost: bool = False) -> dict[str, str]:
        """Environment for boto3 and the AWS CLIs to use this endpoint."""
        url = self.localhost_url if use_localhost else self.endpoint_url
        return {**LOCAL_AWS_ENV, "AWS_ENDPOINT_URL": url}

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def local_aws_environment(server: MotoServer) -> Iterator[dict[str, str]]:
    """Point this process's boto3 at `server` for the duration of the block."""
    updates = server.env()
    saved = {key: os.environ.get(key) for key in updates}
    os.environ.update(updates)
    try:
        yield updates
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
