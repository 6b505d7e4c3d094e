"""Serve an emulator's ASGI app with uvicorn: in a background thread (tests) or in the foreground (CLI)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

__all__ = ["bind_socket", "make_server", "serve_in_thread"]


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets that say so, and
    # without it every keep-alive response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def make_server(
    app: ASGIApp,
    *,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    log_level: str = "warning",
) -> uvicorn.Server:
    """A uvicorn server for ``app`` without lifespan, websockets or access log (quiet and fast)."""
    config = uvicorn.Config(
        app,
        lifespan="off",
        ws="none",
        log_level=log_level,
        access_log=False,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=3,
    )
    return uvicorn.Server(config)


def base_url(sock: socket.socket, *, tls: bool) -> str:
    """The URL clients use to reach a server listening on ``sock``."""
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}"


@contextlib.contextmanager
def serve_in_thread(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    startup_timeout: float = 10.0,
) -> Iterator[str]:
    """Run ``app`` on a loopback port in a background thread; yields the base URL.

    The server stops (open connections closed, thread joined) when the ``with`` block ends.

    Example:
        >>> with serve_in_thread(emulator.app) as url:  # doctest: +SKIP
        ...     httpx.get(f"{url}/services/data/")
    """
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise ValueError("give both ssl_certfile and ssl_keyfile, or neither")
    sock = bind_socket(host, port)
    server = make_server(app, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile)
    failure: list[BaseException] = []
    control: dict[str, object] = {}

    async def main() -> None:
        stop = asyncio.Event()
        control["loop"], control["stop"] = asyncio.get_running_loop(), stop
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not serving.done():
            server.should_exit = True
            await asyncio.wait({serving}, timeout=0.5)
            if not serving.done():
                # A TLS client that went away without close_notify keeps its connection open and
                # uvicorn waiting; the caller is done with the server, so cut such connections.
                for connection in list(server.server_state.connections):
                    transport = getattr(connection, "transport", None)
                    if transport is not None:
                        transport.abort()
        stopping.cancel()
        await serving

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced to the caller below
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"emulator-{sock.getsockname()[1]}", daemon=True)
    thread.start()
    try:
        waited = 0.0
        while not server.started:
            if failure or not thread.is_alive():
                raise RuntimeError(
                    f"the emulator server did not start: {failure[0] if failure else 'exited'}"
                )
            if waited >= startup_timeout:
                raise RuntimeError(f"the emulator server did not start within {startup_timeout} s")
            thread.join(0.01)
            waited += 0.01
        yield base_url(sock, tls=ssl_certfile is not None)
    finally:
        loop, stop = control.get("loop"), control.get("stop")
        if (
            isinstance(loop, asyncio.AbstractEventLoop)
            and isinstance(stop, asyncio.Event)
            and thread.is_alive()
        ):
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5)
        sock.close()
