"""Settings of the app's server process, made once, on the first page run (``setup_once``).

``streamlit run app.py`` gives the app no hook before its server starts, so the first run of a page
makes them; each was measured on the Tune weights page at 100,000 accounts (``bench/page_bench.py``)
and each says below what it costs without it.

- **Replies without waiting for an acknowledgement (TCP_NODELAY).** Streamlit 1.67 binds its
  listening socket as ``socket.socket(family)``, protocol 0, and asyncio sets TCP_NODELAY only on
  accepted sockets whose protocol is ``IPPROTO_TCP``, so every connection keeps Nagle's algorithm:
  after the first message of a rerun the server holds the rest until the browser acknowledges, and
  browsers delay acknowledgements (40 ms on Linux). Measured: an empty page reran in 44 ms, 6 ms
  with the delay avoided. ``setup_once`` makes asyncio set TCP_NODELAY on every TCP socket it
  accepts from then on, and on the TCP sockets already open (the first visitor's).
- **One BLAS thread.** NumPy's OpenBLAS starts a thread per core for each matrix-vector product
  (the what-if and the backtest re-score with one per date) and keeps them spinning after it: on
  two cores the server burnt 144 ms of CPU per slider move, 74 ms with one BLAS thread, and the
  move itself was faster (76 -> 66 ms). Products of this size gain nothing from more threads, and
  with many people on one server every core is better spent on another session.
- **The imports' objects out of the collector's reach (``gc.freeze``).** Streamlit runs a full
  ``gc.collect(2)`` after every rerun unless ``runner.postScriptGC`` is off. That collection walks
  about 170k long-lived objects the imports create and cost 60-250 ms (more on a busy machine) per
  slider move, whatever the data size, so it is off in ``.streamlit/config.toml``; Python's own
  collections still run, and with the imports' objects frozen a full one walks only what the pages
  made since. Pages make few reference cycles: their memory is freed by reference counting.
"""
from __future__ import annotations

import asyncio.base_events
import atexit
import gc
import socket
import threading

_done = False
_lock = threading.Lock()


def setup_once() -> None:
    """Make this process's settings (module docstring), once; later calls return at once."""
    global _done
    if _done:
        return
    with _lock:
        if _done:
            return
        reply_without_delay()
        one_blas_thread()
        gc.collect()
        nodelay_on_open_sockets()  # walks the objects, so before they are frozen
        gc.freeze()
        atexit.register(gc.unfreeze)  # at exit everything is collected as usual (DuckDB's objects too)
        _done = True


def _is_tcp(sock: socket.socket) -> bool:
    return sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM


def _nodelay(sock: socket.socket) -> None:
    if _is_tcp(sock):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def reply_without_delay() -> None:
    """asyncio sets TCP_NODELAY on every TCP socket it wraps, whatever the protocol number the
    socket was made with (its own rule skips protocol 0, which is how Streamlit binds)."""
    asyncio.base_events._set_nodelay = _nodelay  # type: ignore[attr-defined]


def nodelay_on_open_sockets() -> int:
    """TCP_NODELAY on the connected TCP sockets open now (the connection of the run that calls
    ``setup_once`` was accepted before it); returns how many were set."""
    count = 0
    for obj in gc.get_objects():
        if isinstance(obj, socket.socket) and obj.fileno() >= 0 and _is_tcp(obj):
            try:
                obj.getpeername()  # connected: a listening socket has no peer
            except OSError:
                continue
            _nodelay(obj)
            count += 1
    return count


def one_blas_thread() -> None:
    """Matrix products on one thread (threadpoolctl: OpenBLAS, MKL or BLIS, whichever NumPy uses)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
