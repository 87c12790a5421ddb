"""A user-space TCP proxy that delays every byte by a fixed time each way.

It stands for a remote host: the test hosts answer on loopback in microseconds, so
without it a tool that makes many round trips looks as fast as one that makes few.
Data keeps its order and is delayed, not throttled; each direction holds at most
QUEUE_CHUNKS chunks in flight (reading stops while the queue is full). Listens on a
loopback address only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import threading
import time

QUEUE_CHUNKS = 1024
CHUNK = 65536


class DelayProxy:
    """`DelayProxy(("10.231.0.2", 22), delay_ms=25).start()`; `.port` is where to connect."""

    def __init__(self, upstream: tuple[str, int], delay_ms: float, listen: str = "127.0.0.1"):
        if not ipaddress.ip_address(listen).is_loopback:
            raise ValueError(f"the proxy listens on loopback only, not {listen}")
        self.upstream = upstream
        self.delay = delay_ms / 1000.0
        self.listen = listen
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="delay-proxy")

    def start(self) -> DelayProxy:
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("the delay proxy did not start")
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._loop.stop()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
            self._thread.join(5)
            self._loop.close()

    def __enter__(self) -> DelayProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.set_exception_handler(_quiet_cancelled)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._client, self.listen, 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        with contextlib.suppress(asyncio.CancelledError):  # stop() ends open connections
            await asyncio.gather(
                self._pipe(reader, up_writer),
                self._pipe(up_reader, writer),
                return_exceptions=True,
            )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUE_CHUNKS)

        async def read() -> None:
            try:
                while data := await reader.read(CHUNK):
                    await queue.put((time.monotonic() + self.delay, data))
            finally:
                await queue.put((time.monotonic() + self.delay, b""))

        async def write() -> None:
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    with contextlib.suppress(OSError):
                        if writer.can_write_eof():
                            writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        reading = asyncio.ensure_future(read())
        try:
            await write()
        finally:
            reading.cancel()
            with contextlib.suppress(OSError):
                writer.close()


def _quiet_cancelled(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    """stop() cancels the open connections: asyncio's stream callback would log each of
    them as an unhandled CancelledError. Anything else is logged as usual."""
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)
