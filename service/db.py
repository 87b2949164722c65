"""SQLite from many threads: a small pool of :class:`~judge.store.Store` connections.

The rule the service keeps: **a connection is used by one holder at a time.** Request
handlers borrow a store from :class:`StorePool` for the length of the request (FastAPI may
run the dependency and the endpoint in different threadpool threads, which is fine because
nobody else holds that connection meanwhile); the scoring engine and the job worker each own
a connection of their own. All of them open the same file in WAL mode, so readers never
block the single writer and SQLite's busy timeout (30 s) orders the writers. The CLI and any
``--workers N`` sibling processes are just more connections to the same file.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from judge.errors import StoreError
from judge.store import Store


class StorePool:
    """At most ``size`` stores on ``path``, each lent to one holder at a time."""

    def __init__(self, path: str | Path, size: int = 8, wait_seconds: float = 30.0) -> None:
        self.path = Path(path)
        self.size = size
        self.wait_seconds = wait_seconds
        self._idle: queue.LifoQueue[Store] = queue.LifoQueue()
        self._all: list[Store] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def acquire(self) -> Iterator[Store]:
        """Borrow a store; it goes back to the pool when the block ends."""
        store = self._take()
        try:
            yield store
        finally:
            if self._closed:
                store.close()
            else:
                self._idle.put(store)

    def _take(self) -> Store:
        if self._closed:
            raise StoreError("the store pool is closed (the service is shutting down)")
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if len(self._all) < self.size:
                store = Store.open(self.path)
                self._all.append(store)
                return store
        try:
            return self._idle.get(timeout=self.wait_seconds)
        except queue.Empty:
            raise StoreError(f"no free database connection after {self.wait_seconds:.0f} s") from None

    @property
    def opened(self) -> int:
        """How many connections were opened."""
        return len(self._all)

    def close(self) -> None:
        """Close the idle connections; borrowed ones close when returned."""
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                break
