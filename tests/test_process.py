"""The app process's settings (ui/process.py): replies leave without waiting for the browser's
acknowledgement, matrix products run on one thread, the imports' objects are frozen."""
from __future__ import annotations

import asyncio
import gc
import socket

import numpy as np
import pytest


@pytest.fixture(scope="module")
def setup():
    from ui import process

    process.setup_once()
    yield process
    gc.unfreeze()  # the rest of the test run collects as usual


def _nodelay(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_a_server_socket_bound_as_streamlit_binds_it_replies_without_delay(setup):
    """Streamlit 1.67 binds ``socket.socket(family)`` (protocol 0); asyncio's own rule leaves
    TCP_NODELAY off on what such a socket accepts. After ``setup_once`` every accepted
    connection has it on."""
    listener = socket.socket(family=socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    assert listener.proto == 0  # the case asyncio skips
    seen: list[int] = []

    async def main() -> None:
        async def on_client(reader, writer):
            seen.append(_nodelay(writer.get_extra_info("socket")))
            writer.close()

        server = await asyncio.start_server(on_client, sock=listener)
        async with server:
            port = listener.getsockname()[1]
            for _ in range(2):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                await asyncio.sleep(0.05)
                writer.close()

    asyncio.run(main())
    assert seen and all(v != 0 for v in seen), seen


def test_sockets_already_open_get_nodelay_too(setup):
    """The first visitor's connection is accepted before the first page run makes the settings."""
    listener = socket.socket(family=socket.AF_INET)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    try:
        assert _nodelay(accepted) == 0
        gc.unfreeze()  # the walk looks at tracked objects; these were made after the freeze
        assert setup.nodelay_on_open_sockets() >= 2
        assert _nodelay(accepted) != 0 and _nodelay(client) != 0
    finally:
        for s in (client, accepted, listener):
            s.close()


def test_matrix_products_run_on_one_thread(setup):
    from threadpoolctl import threadpool_info

    blas = [p for p in threadpool_info() if p["user_api"] == "blas"]
    assert blas and all(p["num_threads"] == 1 for p in blas), blas
    a = np.arange(12.0).reshape(4, 3)
    assert (a @ np.ones(3)).tolist() == [3.0, 12.0, 21.0, 30.0]  # still computes


def test_setup_runs_once_and_freezes(setup):
    setup._done = False  # as a new process: the other tests unfroze
    setup.setup_once()
    frozen = gc.get_freeze_count()
    assert frozen > 1000  # the imports' objects
    setup.setup_once()  # a second call changes nothing
    assert gc.get_freeze_count() == frozen
