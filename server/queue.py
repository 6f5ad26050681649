"""The durable job queue and history: one SQLite file in the user directory.

Every job is a row of ``jobs``; its ``status`` moves ``pending -> running -> done | failed | cancelled``
(or ``pending -> cancelled`` when it is cancelled before it starts). History is the set of rows that ran
and finished, in the order they finished (``history_seq``), which is the order ComfyUI's in-memory history
dict has.

Durability
----------
The database runs in WAL mode with ``synchronous=FULL`` by default: a commit returns after the WAL is synced
to disk, so a job is on disk, and survives a crash or a power cut, before ``POST /prompt`` answers. A synced
commit costs milliseconds, so submissions arriving together share one transaction (group commit, see
:meth:`JobQueue.submit`): fifty concurrent clients cost one sync, not fifty.

On start (:meth:`JobStore.recover`), pending jobs stay pending and run in their order; a job found
``running`` was interrupted by a crash: it is re-queued once (``attempts`` counts how often a job was
started), or marked failed with an ``execution_error`` in its history when it was already re-queued or
when the server was started with ``on_restart="fail"``. A graceful shutdown puts the running job back to
pending without counting the attempt.

Threads
-------
:class:`JobStore` is plain synchronous code around one connection. :class:`JobQueue`, the async facade the
server uses, confines that connection to one dedicated thread (a single-worker executor), so SQLite is only
ever touched from that thread and the event loop never blocks on disk. It keeps the two numbers the server
needs synchronously (pending and running counts, for ``status`` messages) in memory.

Sensitive ``extra_data`` keys (``auth_token_comfy_org``, ``api_key_comfy_org``) are never written: the
server keeps them in memory for the run, so they never appear in /queue or /history (nor on disk; a job
re-run after a restart runs without them).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, TypeVar

from server.events import dumps, now_ms

T = TypeVar("T")
Status = Literal["pending", "running", "done", "failed", "cancelled"]
SENSITIVE_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")
MAX_HISTORY = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    number REAL NOT NULL,
    number_is_float INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed', 'cancelled')),
    created_ms INTEGER NOT NULL,
    started_ms INTEGER,
    finished_ms INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    client_id TEXT,
    workflow_id TEXT,
    prompt TEXT NOT NULL,
    extra_data TEXT NOT NULL,
    outputs_to_execute TEXT NOT NULL,
    outputs TEXT,
    status_info TEXT,
    meta TEXT,
    history_seq INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, number, seq);
CREATE INDEX IF NOT EXISTS jobs_by_history ON jobs (history_seq) WHERE history_seq IS NOT NULL;
"""

_COLUMNS = ("id, number, number_is_float, status, created_ms, started_ms, finished_ms, attempts, client_id, "
            "workflow_id, prompt, extra_data, outputs_to_execute, outputs, status_info, meta, history_seq")


@dataclass
class Job:
    """One row of the queue. ``extra_data`` never holds the sensitive keys."""

    id: str
    number: float
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    outputs_to_execute: list[str]
    status: Status = "pending"
    created_ms: int = field(default_factory=now_ms)
    number_is_float: bool = False
    started_ms: int | None = None
    finished_ms: int | None = None
    attempts: int = 0
    outputs: dict[str, Any] | None = None
    status_info: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    history_seq: int | None = None

    @property
    def client_id(self) -> str | None:
        cid = self.extra_data.get("client_id")
        return None if cid is None else str(cid)

    @property
    def workflow_id(self) -> str | None:
        info = self.extra_data.get("extra_pnginfo")
        workflow = info.get("workflow") if isinstance(info, dict) else None
        wid = workflow.get("id") if isinstance(workflow, dict) else None
        return None if wid is None else str(wid)

    @property
    def priority(self) -> float | int:
        return self.number if self.number_is_float else int(self.number)

    def queue_item(self) -> list[Any]:
        """ComfyUI's 5-element queue item ``[number, prompt_id, prompt, extra_data, outputs_to_execute]``."""
        return [self.priority, self.id, self.prompt, self.extra_data, self.outputs_to_execute]

    def history_item(self) -> dict[str, Any]:
        """ComfyUI's history entry ``{prompt, outputs, status, meta}``."""
        return {"prompt": self.queue_item(), "outputs": self.outputs or {}, "status": self.status_info or {},
                "meta": self.meta or {}}


def split_sensitive(extra_data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(extra_data without the sensitive keys, the sensitive keys)."""
    public = {k: v for k, v in extra_data.items() if k not in SENSITIVE_KEYS}
    secret = {k: extra_data[k] for k in SENSITIVE_KEYS if k in extra_data}
    return public, secret


def _row_to_job(row: sqlite3.Row | tuple[Any, ...]) -> Job:
    (jid, number, is_float, status, created, started, finished, attempts, _client, _wid, prompt, extra, outs,
     outputs, status_info, meta, hseq) = row
    return Job(jid, number, json.loads(prompt), json.loads(extra), json.loads(outs), status, created, bool(is_float),
               started, finished, attempts, _maybe(outputs), _maybe(status_info), _maybe(meta), hseq)


def _maybe(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class DuplicateJob(ValueError):
    """A job with this id is still pending or running."""


class QueueClosed(Exception):
    """The queue hands out no more jobs (the server is shutting down)."""


class JobStore:
    """Synchronous access to the jobs table. Use it from one thread (see :class:`JobQueue`)."""

    def __init__(self, path: str | Path, *, synchronous: Literal["FULL", "NORMAL"] = "FULL") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={synchronous}")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def _tx(self) -> _Transaction:
        return _Transaction(self.db)

    # -- writing -------------------------------------------------------------------------------------------
    def add_many(self, jobs: Sequence[Job]) -> list[str | None]:
        """Insert jobs in one transaction; per job None, or why it was refused (a live duplicate id).

        A finished job with the same id is replaced, as ComfyUI overwrites its history entry."""
        outcome: list[str | None] = []
        with self._tx():
            for job in jobs:
                row = self.db.execute("SELECT status FROM jobs WHERE id = ?", (job.id,)).fetchone()
                if row is not None and row[0] in ("pending", "running"):
                    outcome.append(f"a job with prompt_id {job.id!r} is already {row[0]}")
                    continue
                if row is not None:
                    self.db.execute("DELETE FROM jobs WHERE id = ?", (job.id,))
                self.db.execute(
                    "INSERT INTO jobs (id, number, number_is_float, status, created_ms, attempts, client_id, "
                    "workflow_id, prompt, extra_data, outputs_to_execute) VALUES (?, ?, ?, 'pending', ?, 0, ?, ?, ?, ?, ?)",
                    (job.id, job.number, int(job.number_is_float), job.created_ms, job.client_id, job.workflow_id,
                     dumps(job.prompt), dumps(job.extra_data), dumps(job.outputs_to_execute)),
                )
                outcome.append(None)
        return outcome

    def claim_next(self) -> Job | None:
        """Mark the first pending job (lowest number, then oldest) running and return it."""
        with self._tx():
            row = self.db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE status = 'pending' ORDER BY number, seq LIMIT 1").fetchone()
            if row is None:
                return None
            job = _row_to_job(row)
            job.status, job.started_ms, job.attempts = "running", now_ms(), job.attempts + 1
            self.db.execute("UPDATE jobs SET status = 'running', started_ms = ?, attempts = ? WHERE id = ?",
                            (job.started_ms, job.attempts, job.id))
        return job

    def finish(self, job_id: str, status: Status, outputs: dict[str, Any], status_info: dict[str, Any],
               meta: dict[str, Any]) -> None:
        """Write a finished run to history (this is ComfyUI's ``task_done``)."""
        with self._tx():
            seq = self._next_history_seq()
            self.db.execute(
                "UPDATE jobs SET status = ?, finished_ms = ?, outputs = ?, status_info = ?, meta = ?, history_seq = ? "
                "WHERE id = ?", (status, now_ms(), dumps(outputs), dumps(status_info), dumps(meta), seq, job_id))
            self._trim_history()

    def requeue(self, job_id: str) -> None:
        """Put a running job back to pending without counting the attempt (graceful shutdown)."""
        with self._tx():
            self.db.execute("UPDATE jobs SET status = 'pending', started_ms = NULL, attempts = MAX(attempts - 1, 0) "
                            "WHERE id = ? AND status = 'running'", (job_id,))

    def cancel_pending(self, ids: Iterable[str] | None = None) -> list[str]:
        """Cancel pending jobs (all of them when ``ids`` is None); returns the ids cancelled."""
        with self._tx():
            if ids is None:
                found = [r[0] for r in self.db.execute("SELECT id FROM jobs WHERE status = 'pending'")]
            else:
                wanted = list(dict.fromkeys(str(i) for i in ids))
                found = [i for i in wanted if self.db.execute(
                    "SELECT 1 FROM jobs WHERE id = ? AND status = 'pending'", (i,)).fetchone()]
            stamp = now_ms()
            self.db.executemany("UPDATE jobs SET status = 'cancelled', finished_ms = ? WHERE id = ?",
                                [(stamp, i) for i in found])
        return found

    def delete_history(self, ids: Iterable[str] | None = None) -> int:
        """Forget finished jobs (all when ``ids`` is None); pending and running jobs are untouched."""
        with self._tx():
            if ids is None:
                cur = self.db.execute("DELETE FROM jobs WHERE status IN ('done', 'failed', 'cancelled')")
            else:
                cur = self.db.executemany(
                    "DELETE FROM jobs WHERE id = ? AND status IN ('done', 'failed', 'cancelled')",
                    [(str(i),) for i in ids])
            return cur.rowcount

    def recover(self, requeue: bool) -> tuple[list[str], list[str]]:
        """After a restart: re-queue (once) or fail the jobs that were running. Returns (requeued, failed)."""
        requeued, failed = [], []
        rows = self.db.execute("SELECT id, attempts FROM jobs WHERE status = 'running' ORDER BY seq").fetchall()
        for job_id, attempts in rows:
            if requeue and attempts <= 1:
                with self._tx():
                    self.db.execute("UPDATE jobs SET status = 'pending', started_ms = NULL WHERE id = ?", (job_id,))
                requeued.append(job_id)
            else:
                why = ("the server stopped while this job was running, and it had already been re-queued once"
                       if requeue else "the server stopped while this job was running")
                stamp = now_ms()
                error = {"prompt_id": job_id, "node_id": None, "node_type": None, "executed": [],
                         "exception_message": why, "exception_type": "latentloom.ServerRestarted", "traceback": [],
                         "current_inputs": {}, "current_outputs": [], "timestamp": stamp}
                info = {"status_str": "error", "completed": False, "messages": [["execution_error", error]]}
                self.finish(job_id, "failed", {}, info, {})
                failed.append(job_id)
        return requeued, failed

    def _next_history_seq(self) -> int:
        row = self.db.execute("SELECT MAX(history_seq) FROM jobs").fetchone()
        return (row[0] or 0) + 1

    def _trim_history(self) -> None:
        count = self.db.execute("SELECT COUNT(*) FROM jobs WHERE history_seq IS NOT NULL").fetchone()[0]
        if count > MAX_HISTORY:
            self.db.execute("DELETE FROM jobs WHERE history_seq IS NOT NULL AND history_seq <= ("
                            "SELECT history_seq FROM jobs WHERE history_seq IS NOT NULL ORDER BY history_seq "
                            "LIMIT 1 OFFSET ?)", (count - MAX_HISTORY - 1,))

    # -- reading -------------------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _row_to_job(row)

    def by_status(self, status: Status) -> list[Job]:
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE status = ? ORDER BY number, seq", (status,))
        return [_row_to_job(r) for r in rows]

    def counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())

    def max_number(self) -> int:
        row = self.db.execute("SELECT MAX(ABS(number)) FROM jobs").fetchone()
        return int(row[0] or 0)

    def history(self, max_items: int | None = None, offset: int = -1) -> list[Job]:
        """History oldest first; ComfyUI's paging: without ``offset`` (-1) the newest ``max_items``,
        otherwise ``max_items`` (or all) after skipping ``offset`` from the oldest."""
        if offset < 0 and max_items is not None:
            total = self.db.execute("SELECT COUNT(*) FROM jobs WHERE history_seq IS NOT NULL").fetchone()[0]
            offset = max(total - max_items, 0)
        offset = max(offset, 0)
        limit = -1 if max_items is None else max_items
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE history_seq IS NOT NULL ORDER BY history_seq "
                               "LIMIT ? OFFSET ?", (limit, offset))
        return [_row_to_job(r) for r in rows]

    def list_jobs(self, statuses: Sequence[Status], workflow_id: str | None, sort_by: str, descending: bool,
                  limit: int | None, offset: int) -> tuple[list[Job], int]:
        """Jobs for /api/jobs: filtered, sorted (``created_at`` or ``execution_duration``), paged, with the total."""
        where = f"status IN ({', '.join('?' for _ in statuses)})"
        args: list[Any] = list(statuses)
        if workflow_id is not None:
            where += " AND workflow_id = ?"
            args.append(workflow_id)
        total = self.db.execute(f"SELECT COUNT(*) FROM jobs WHERE {where}", args).fetchone()[0]
        key = "COALESCE(finished_ms - started_ms, 0)" if sort_by == "execution_duration" else "created_ms"
        order = "DESC" if descending else "ASC"
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE {where} ORDER BY {key} {order}, seq {order} "
                               "LIMIT ? OFFSET ?", [*args, -1 if limit is None else limit, offset])
        return [_row_to_job(r) for r in rows], total


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error); reentrant within one thread."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.outer = False

    def __enter__(self) -> None:
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")
            self.outer = True

    def __exit__(self, kind: Any, *_: Any) -> None:
        if not self.outer:
            return
        self.db.execute("ROLLBACK" if kind is not None else "COMMIT")


class JobQueue:
    """The async facade over :class:`JobStore`: one database thread, group commit, a wake-up for the worker.

    Args:
        path: the database file. synchronous: ``FULL`` (default; every commit is synced) or ``NORMAL``.
    """

    def __init__(self, path: str | Path, *, synchronous: Literal["FULL", "NORMAL"] = "FULL") -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="latentloom-db")
        self._store: JobStore | None = None
        self._batch: list[tuple[Job, asyncio.Future[None]]] = []
        self._committing = False
        self._committer: asyncio.Future[None] | None = None
        self._wake = asyncio.Event()
        self.pending_count = 0
        self.running_count = 0
        self._counter = 0
        self._closed = False

    @property
    def remaining(self) -> int:
        """ComfyUI's ``queue_remaining``: pending plus running."""
        return self.pending_count + self.running_count

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(store, *args)`` on the database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, lambda: fn(self._require(), *args))

    def _require(self) -> JobStore:
        if self._store is None:
            raise RuntimeError("the job queue is not open; call await queue.open() first")
        return self._store

    async def open(self, *, requeue_running: bool = True) -> tuple[list[str], list[str]]:
        """Open the database and recover jobs left by a previous process; returns (requeued, failed)."""
        loop = asyncio.get_running_loop()
        self._store = await loop.run_in_executor(self._thread, lambda: JobStore(self.path, synchronous=self.synchronous))
        recovered = await self.call(JobStore.recover, requeue_running)
        await self.refresh_counts()
        self._counter = await self.call(JobStore.max_number)
        if self.pending_count:
            self._wake.set()
        return recovered

    async def close(self) -> None:
        if self._store is not None:
            await self.call(JobStore.close)
            self._store = None
        self._thread.shutdown(wait=True)

    async def refresh_counts(self) -> None:
        counts = await self.call(JobStore.counts)
        self.pending_count, self.running_count = counts.get("pending", 0), counts.get("running", 0)

    def next_number(self, front: bool = False) -> int:
        """ComfyUI's priority counter for requests without ``number`` (negated for ``front``)."""
        self._counter += 1
        return -self._counter if front else self._counter

    async def submit(self, job: Job) -> None:
        """Make ``job`` durable, sharing the commit with concurrent submissions (group commit).

        Raises:
            DuplicateJob: a pending or running job has the same id.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batch.append((job, future))
        if not self._committing:
            self._committing = True
            self._committer = asyncio.ensure_future(self._commit_batches())  # keep a reference: loops hold tasks weakly
        await future

    async def _commit_batches(self) -> None:
        try:
            while self._batch:
                batch, self._batch = self._batch, []
                try:
                    outcome = await self.call(JobStore.add_many, [job for job, _ in batch])
                except Exception as exc:  # a disk error: every submitter of the batch gets it
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (_, fut), refused in zip(batch, outcome):
                    if fut.done():
                        continue
                    if refused is None:
                        self.pending_count += 1
                        fut.set_result(None)
                    else:
                        fut.set_exception(DuplicateJob(refused))
                self._wake.set()
        finally:
            self._committing = False

    def close_claims(self) -> None:
        """Make :meth:`claim` raise :class:`QueueClosed` from now on (and wake a waiting one)."""
        self._closed = True
        self._wake.set()

    async def claim(self) -> Job:
        """Wait for the next pending job and mark it running.

        Raises:
            QueueClosed: after :meth:`close_claims`.
        """
        while True:
            if self._closed:
                raise QueueClosed()
            self._wake.clear()
            job = await self.call(JobStore.claim_next)
            if job is not None:
                self.pending_count = max(self.pending_count - 1, 0)
                self.running_count += 1
                return job
            await self._wake.wait()

    async def finish(self, job: Job, status: Status, outputs: dict[str, Any], status_info: dict[str, Any],
                     meta: dict[str, Any]) -> None:
        await self.call(JobStore.finish, job.id, status, outputs, status_info, meta)
        self.running_count = max(self.running_count - 1, 0)

    async def requeue(self, job: Job) -> None:
        await self.call(JobStore.requeue, job.id)
        self.running_count = max(self.running_count - 1, 0)
        self.pending_count += 1

    async def cancel_pending(self, ids: Iterable[str] | None = None) -> list[str]:
        found = await self.call(JobStore.cancel_pending, None if ids is None else list(ids))
        self.pending_count = max(self.pending_count - len(found), 0)
        return found
