"""The suite's routes in Flask, for gunicorn's sync workers (the articles' "sync" stack).

Each worker process serves one request at a time; it waits on the upstream with
`requests` (one keep-alive session per worker) and on PostgreSQL with psycopg (one
connection per worker: a sync worker never needs two at once).

    gunicorn -w 4 -b 127.0.0.1:8000 app_flask:app
"""

import time

# Imported here, not on first use: each gunicorn worker imports the app as it starts,
# so this cost is start-up, never a measured request's.
import psycopg
import requests
from flask import Flask, Response

import contract

app = Flask(__name__)
_session = None
_db = None


def _text(body, waited_s=None, status=200):
    response = Response(body, status=status, content_type=contract.CONTENT_TYPE)
    if waited_s is not None:
        response.headers[contract.WAITED_HEADER] = str(int(waited_s * 1_000_000))
    return response


def _upstream_session():
    global _session
    if _session is None:
        _session = requests.Session()
    return _session


def _database():
    global _db
    if _db is None:
        _db = psycopg.connect(contract.DATABASE, autocommit=True)
    return _db


def warm():
    """Opens this worker's upstream session and database connection now."""
    _upstream_session()
    if contract.DATABASE:
        _database()


@app.get("/health")
def health():
    return _text("ok\n")


@app.get("/null")
def null():
    return _text("null\n")


@app.get("/cpu")
def cpu():
    return _text(contract.cpu_body())


@app.get("/io")
def io():
    started = time.perf_counter()
    received = 0
    if contract.IO_MODE == "sleep":
        for _ in range(contract.IO_CALLS):
            time.sleep(contract.IO_LATENCY_US / 1_000_000)
    else:
        if not contract.UPSTREAM:
            return _text(contract.no_upstream(), status=500)
        session = _upstream_session()
        for k in range(contract.IO_CALLS):
            reply = session.get(contract.UPSTREAM + contract.item_path(k), timeout=10)
            if reply.status_code // 100 != 2:
                return _text(f"error: upstream answered {reply.status_code}\n", status=502)
            received += len(reply.content)
    return _text(contract.io_body(received), time.perf_counter() - started)


@app.get("/db")
def db():
    started = time.perf_counter()
    rows = []
    with _database().cursor() as cursor:
        for k in range(contract.DB_LOOKUPS):
            cursor.execute(contract.LOOKUP_SQL_PG, (contract.lookup_id(k),))
            rows.append(cursor.fetchone())
    return _text(contract.db_body(rows), time.perf_counter() - started)
