"""A TCP proxy that adds a delay to every request and counts them, as a network between a client and an
object store would (benchmarks and tests put it in front of moto_server or the GCS emulator).

It runs in a process of its own (a proxy thread in the client's process would wait for the GIL while
ArcticDB holds it). Each request is delayed by ``delay_ms`` before the server sees it. moto and the GCS
emulator answer every request with ``Connection: close``, so a connection is a request: the count of
connections is the count of requests.

    with LatencyProxy(target_port, delay_ms=20) as proxy:
        uri = moto.arctic_uri(bucket, port=proxy.port)
        ...
        proxy.requests            # requests so far;  proxy.reset() starts counting again
        proxy.data_requests       # of which for ArcticDB data segments (keys under tdata/)
"""

from __future__ import annotations

import asyncio
import multiprocessing


def _serve(target_port: int, delay: float, ready, count, data_count, every_chunk: bool) -> None:
    async def pipe(reader, writer, wait: float, requests=None) -> None:
        try:
            first = True
            while data := await reader.read(1 << 16):
                if first and requests is not None and b"/tdata/" in data.split(b"\r\n", 1)[0]:
                    with requests.get_lock():
                        requests.value += 1
                if wait and (first or every_chunk):
                    await asyncio.sleep(wait)
                first = False
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(client_reader, client_writer) -> None:
        with count.get_lock():
            count.value += 1
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, server_writer, delay, data_count),
                             pipe(server_reader, client_writer, 0))

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        ready.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


class LatencyProxy:
    def __init__(self, target_port: int, delay_ms: float = 20.0, *, every_chunk: bool = False) -> None:
        """``every_chunk``: delay each chunk the client sends, not only a connection's first (for clients
        that keep connections alive, such as the GCS client: then each request is delayed)."""
        context = multiprocessing.get_context("spawn")
        self._count = context.Value("q", 0)
        self._data = context.Value("q", 0)
        ready = context.Queue()
        self._process = context.Process(target=_serve, args=(target_port, delay_ms / 1000, ready, self._count,
                                                             self._data, every_chunk), daemon=True)
        self._process.start()
        self.port = ready.get(timeout=60)

    @property
    def requests(self) -> int:
        return self._count.value

    @property
    def data_requests(self) -> int:
        return self._data.value

    def reset(self) -> None:
        with self._count.get_lock():
            self._count.value = 0
        with self._data.get_lock():
            self._data.value = 0

    def close(self) -> None:
        self._process.kill()
        self._process.join()

    def __enter__(self) -> LatencyProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
