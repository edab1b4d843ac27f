"""A local S3 on loopback for the object-storage tests: moto's server, started once per session
on a free port. Sources are read from it through the very code path that reads AWS (s3fs via
botocore, pointed here by AWS_ENDPOINT_URL_S3): no mock stands in for the storage client.

`s3_denied` is a second server with moto's IAM checks on, which refuses the test's made-up
keys (403): the access-denied case as AWS gives it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

ACCESS_KEY = "AKIATESTRECONCILER01"
SECRET_KEY = "s3cr3t-Reconciler-Test-Key-do-not-leak"


@dataclass
class S3Server:
    url: str

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_S3": self.url,
        }

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )


def _start(extra_env: dict[str, str]) -> tuple[subprocess.Popen[bytes], S3Server]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **extra_env},
    )
    server = S3Server(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, server
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("the local S3 server (moto) did not start") from None
            time.sleep(0.05)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    proc, server = _start({})
    try:
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def s3_denied() -> Iterator[S3Server]:
    proc, server = _start({"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
    try:
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=10)
