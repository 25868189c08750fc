"""The suite's route contract, shared by the Flask and FastAPI apps.

Every body here is byte-for-byte what the Rust styles answer (see src/workload/), so
`sabench run` can verify that a Python target does the same work before it measures it:

- /health   -> "ok\\n"
- /null     -> "null\\n"
- /cpu      -> "cpu rounds=R sha256=<hex>\\n": R iterations of SHA-256 over a fixed seed
- /io       -> K sequential waits: a GET of /item/<k> from the mock upstream
               ("io mode=upstream calls=K upstream_bytes=N\\n"), or a timer
               ("io mode=sleep calls=K latency_us=L\\n")
- /db       -> K point lookups in PostgreSQL's `users` table
               ("db lookups=K found=F digest=<16 hex>\\n")

Settings come from the environment `sabench run` gives a target (SABENCH_CPU_ROUNDS,
SABENCH_IO_CALLS, SABENCH_IO_MODE, SABENCH_IO_LATENCY_US, SABENCH_UPSTREAM,
SABENCH_DATABASE, SABENCH_DB_LOOKUPS), with the suite's defaults.
"""

import hashlib
import os

SEED = b"sync-async-bench"
CONTENT_TYPE = "text/plain; charset=utf-8"
WAITED_HEADER = "x-sabench-waited-us"
LOOKUP_SPAN = 10_000
LOOKUP_SQL_PG = "SELECT name, email FROM users WHERE id = %s"
LOOKUP_SQL_ASYNCPG = "SELECT name, email FROM users WHERE id = $1"


def _int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value else default


CPU_ROUNDS = _int("SABENCH_CPU_ROUNDS", 10_000)
IO_CALLS = _int("SABENCH_IO_CALLS", 1)
IO_MODE = os.environ.get("SABENCH_IO_MODE") or "upstream"
IO_LATENCY_US = _int("SABENCH_IO_LATENCY_US", 10_000)
UPSTREAM = (os.environ.get("SABENCH_UPSTREAM") or "").rstrip("/")
DATABASE = os.environ.get("SABENCH_DATABASE") or ""
DB_LOOKUPS = _int("SABENCH_DB_LOOKUPS", 1)
DB_POOL = _int("SABENCH_DB_POOL", 16)


def cpu_body(rounds=None):
    """R iterations of SHA-256: h1 = H(seed), h(n+1) = H(h(n))."""
    rounds = CPU_ROUNDS if rounds is None else rounds
    state = hashlib.sha256(SEED).digest()
    for _ in range(1, rounds):
        state = hashlib.sha256(state).digest()
    return f"cpu rounds={rounds} sha256={state.hex()}\n"


def item_path(index):
    return f"/item/{index}"


def io_body(upstream_bytes):
    if IO_MODE == "sleep":
        return f"io mode=sleep calls={IO_CALLS} latency_us={IO_LATENCY_US}\n"
    return f"io mode=upstream calls={IO_CALLS} upstream_bytes={upstream_bytes}\n"


def lookup_id(k):
    """The id the k-th lookup of a request asks for (as the Rust styles do)."""
    return 1 + (k * 7_919) % LOOKUP_SPAN


def db_body(rows, route="db"):
    """rows: one (name, email) or None per lookup, in lookup order."""
    digest = hashlib.sha256()
    found = 0
    for k, row in enumerate(rows):
        if row is not None:
            found += 1
            name, email = row
            digest.update(f"{lookup_id(k)}:{name}:{email}\n".encode())
    return f"{route} lookups={len(rows)} found={found} digest={digest.digest()[:8].hex()}\n"


def no_upstream():
    return "error: no upstream configured (SABENCH_UPSTREAM)\n"
