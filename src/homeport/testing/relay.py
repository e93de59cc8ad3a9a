"""A TCP relay on 127.0.0.1 for tests and benchmarks: it counts the bytes that cross it each way
(a benchmark's bytes on the wire) and can cut every connection once some bytes have gone up (a
connection dropped mid-push), or call a hook at that point (a provider killed mid-push).

Blocking sockets, one thread per direction: the copies release the GIL, so it costs little.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

BUFFER = 1024 * 1024


class Relay:
    """127.0.0.1:``port`` → 127.0.0.1:``target``. ``up`` and ``down`` count the bytes relayed
    each way since the last ``take`` (or ``cut_after``)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.up = 0
        self.down = 0
        self.cuts = 0
        self._budget: int | None = None
        self._then: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self._spawn(self._accept)

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def take(self) -> int:
        """Bytes relayed (both ways) since the last call."""
        with self._lock:
            total = self.up + self.down
            self.up = self.down = 0
        return total

    def cut_after(self, budget: int | None, then: Callable[[], None] | None = None) -> None:
        """Once ``budget`` more bytes have gone up, cut every connection, now and from then on
        (``None``: pass everything again); or, with ``then``, call it at that point, once, and
        pass on. Resets the counts."""
        with self._lock:
            self._budget, self._then, self.up, self.down = budget, then, 0, 0

    def stop(self) -> None:
        self._stop.set()
        self._cut_all(counted=False)
        for thread in list(self._threads):
            thread.join(10)
        self._listener.close()

    def _over(self) -> bool:
        return self._budget is not None and self.up >= self._budget

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                refused = self._over()
                self.cuts += refused
            if refused:
                client.close()
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target), timeout=10)
            except OSError:
                client.close()
                continue
            for sock in (client, server):
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = [client, server]
            with self._lock:
                self._open.update(pair)
            self._spawn(self._pump, client, server, True, pair)
            self._spawn(self._pump, server, client, False, pair)

    def _pump(
        self, src: socket.socket, dst: socket.socket, up: bool, pair: list[socket.socket]
    ) -> None:
        buffer = bytearray(BUFFER)
        view = memoryview(buffer)
        cut = False
        try:
            while n := src.recv_into(buffer):
                hook = None
                with self._lock:
                    if up and self._budget is not None and self._then is None:
                        n = min(n, max(0, self._budget - self.up))
                    if up:
                        self.up += n
                        if self._over() and self._then is not None:
                            hook, self._then, self._budget = self._then, None, None
                        cut = self._over()
                    else:
                        self.down += n
                if hook is not None:
                    hook()
                if n:
                    dst.sendall(view[:n])
                if cut:
                    break
        except OSError:
            pass
        if cut:
            self._cut_all()
            return
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
        with self._lock:
            pair.append(src)  # the second direction to finish closes both sockets
            last = len(pair) == 4
            if last:
                self._open.difference_update((src, dst))
        if last:
            src.close()
            dst.close()

    def _cut_all(self, counted: bool = True) -> None:
        with self._lock:
            self.cuts += counted
            victims = list(self._open)
            self._open.clear()
        for sock in victims:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
