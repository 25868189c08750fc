"""The suite's routes in FastAPI under uvicorn (the articles' "async" stack).

One event loop per worker process: the upstream is awaited with one shared
`httpx.AsyncClient`, PostgreSQL with an asyncpg pool (SABENCH_DB_POOL connections, as
the article pools them). `/io-blocking` is the articles' mistake: `requests` called
inside an `async def` handler, which stops the whole event loop for every wait.
`/io-aiohttp` is `/io` with one shared `aiohttp.ClientSession` instead of httpx: the
same stack with another client, to tell the cost of the stack from that of its client.

    uvicorn --workers 1 --host 127.0.0.1 --port 8000 app_fastapi:app
"""

import asyncio
import contextlib
import time

import aiohttp
import asyncpg
import httpx
import requests
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

import contract

state = {}


@contextlib.asynccontextmanager
async def lifespan(_app):
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    state["client"] = httpx.AsyncClient(timeout=10.0, limits=limits)
    state["blocking"] = requests.Session()
    state["aiohttp"] = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=256),
        timeout=aiohttp.ClientTimeout(total=10.0),
    )
    if contract.DATABASE:
        state["db"] = await asyncpg.create_pool(
            contract.DATABASE, min_size=1, max_size=contract.DB_POOL
        )
    yield
    await state["client"].aclose()
    await state["aiohttp"].close()
    if "db" in state:
        await state["db"].close()


app = FastAPI(lifespan=lifespan)


def _text(body, waited_s=None, status=200):
    headers = {}
    if waited_s is not None:
        headers[contract.WAITED_HEADER] = str(int(waited_s * 1_000_000))
    return PlainTextResponse(body, status_code=status, headers=headers)


@app.get("/health")
async def health():
    return _text("ok\n")


@app.get("/null")
async def null():
    return _text("null\n")


@app.get("/cpu")
async def cpu():
    return _text(contract.cpu_body())


@app.get("/io")
async def io():
    started = time.perf_counter()
    received = 0
    if contract.IO_MODE == "sleep":
        for _ in range(contract.IO_CALLS):
            await asyncio.sleep(contract.IO_LATENCY_US / 1_000_000)
    else:
        if not contract.UPSTREAM:
            return _text(contract.no_upstream(), status=500)
        client = state["client"]
        for k in range(contract.IO_CALLS):
            reply = await client.get(contract.UPSTREAM + contract.item_path(k))
            if reply.status_code // 100 != 2:
                return _text(f"error: upstream answered {reply.status_code}\n", status=502)
            received += len(reply.content)
    return _text(contract.io_body(received), time.perf_counter() - started)


@app.get("/io-aiohttp")
async def io_aiohttp():
    """`/io` with aiohttp as the upstream client instead of httpx."""
    started = time.perf_counter()
    received = 0
    if contract.IO_MODE == "sleep":
        return await io()
    if not contract.UPSTREAM:
        return _text(contract.no_upstream(), status=500)
    session = state["aiohttp"]
    for k in range(contract.IO_CALLS):
        async with session.get(contract.UPSTREAM + contract.item_path(k)) as reply:
            body = await reply.read()
            if reply.status // 100 != 2:
                return _text(f"error: upstream answered {reply.status}\n", status=502)
            received += len(body)
    return _text(contract.io_body(received), time.perf_counter() - started)


@app.get("/io-blocking")
async def io_blocking():
    """The mistake: a blocking client inside `async def` holds the event loop."""
    started = time.perf_counter()
    received = 0
    if not contract.UPSTREAM:
        return _text(contract.no_upstream(), status=500)
    session = state["blocking"]
    for k in range(contract.IO_CALLS):
        reply = session.get(contract.UPSTREAM + contract.item_path(k), timeout=10)
        if reply.status_code // 100 != 2:
            return _text(f"error: upstream answered {reply.status_code}\n", status=502)
        received += len(reply.content)
    return _text(contract.io_body(received), time.perf_counter() - started)


@app.get("/db")
async def db():
    started = time.perf_counter()
    rows = []
    async with state["db"].acquire() as connection:
        for k in range(contract.DB_LOOKUPS):
            row = await connection.fetchrow(contract.LOOKUP_SQL_ASYNCPG, contract.lookup_id(k))
            rows.append(None if row is None else (row["name"], row["email"]))
    return _text(contract.db_body(rows), time.perf_counter() - started)
