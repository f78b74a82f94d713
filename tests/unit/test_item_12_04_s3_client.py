"""Issue 12: a worker's slots opening their first S3 store at once build one client between them.

Each boto3 client parses botocore's S3 model (~0.3 s of CPU for the first): 8 slots building
their own at once cost 1.16 s of CPU under the GIL, and a fresh worker's first 10,000-spec run
took 5.7 s where later ones took 2.8 s.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import boto3
import pytest

from scythe.store import S3Store, s3

pytestmark = pytest.mark.unit


def test_stores_opened_at_once_by_many_threads_share_one_client(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[object] = []

    def slow_client(*args: Any, **kwargs: Any) -> object:
        built.append(object())
        time.sleep(0.05)  # as long as a real first client takes: every thread arrives meanwhile
        return built[-1]

    monkeypatch.setattr(boto3, "client", slow_client)
    s3._clients.clear()
    stores: list[S3Store] = []
    threads = [
        threading.Thread(target=lambda: stores.append(S3Store("b", "p", "http://127.0.0.1:9/one-client")))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    s3._clients.clear()
    assert len(built) == 1
    assert {id(store.client) for store in stores} == {id(built[0])}


def test_a_worker_warms_the_client_its_s3_stores_will_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9/warm")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    s3._clients.clear()
    s3.warm_client()
    warmed = s3._clients[("http://127.0.0.1:9/warm", os.environ.get("AWS_ACCESS_KEY_ID"), os.getpid())]
    assert S3Store("b", "later-run").client is warmed
    s3._clients.clear()


def test_children_of_a_fork_server_adopt_its_client_and_it_never_uses_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9/children")
    monkeypatch.setattr(s3, "_for_children", {})
    s3._clients.clear()
    s3.build_for_children()
    ((_, template),) = s3._for_children.values()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child reports whether its store got the server's client, then leaves
        os.write(write, b"adopted" if S3Store("b", "run").client is template else b"built")
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    assert os.read(read, 16) == b"adopted"
    assert S3Store("b", "run").client is not template  # the server itself builds its own
    s3._clients.clear()
