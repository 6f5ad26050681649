"""The SQLite queue and history on its own: ordering, recovery after a crash, paging, group commit."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

import server.queue as queue_mod
from server.queue import Job, JobQueue, JobStore, split_sensitive


def job(job_id: str, number: float = 1, **extra: object) -> Job:
    return Job(job_id, number, {"1": {"class_type": "X", "inputs": {}}}, dict(extra), ["1"])


def test_claim_order_is_number_then_submission(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "q.db")
    assert store.add_many([job("a", 2), job("b", 1), job("c", 2), job("d", -5)]) == [None] * 4
    order = []
    while (claimed := store.claim_next()) is not None:
        order.append(claimed.id)
        assert claimed.status == "running" and claimed.attempts == 1 and claimed.started_ms
    assert order == ["d", "b", "a", "c"]


def test_the_database_is_wal_and_synced(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "q.db")
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_duplicate_ids_live_are_refused_finished_are_replaced(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "q.db")
    store.add_many([job("a")])
    assert store.add_many([job("a"), job("b")])[0] == "a job with prompt_id 'a' is already pending"
    store.claim_next()
    store.finish("a", "done", {"1": {"text": ["x"]}}, {"status_str": "success"}, {})
    assert store.add_many([job("a", 7)]) == [None]
    again = store.get("a")
    assert again is not None and again.status == "pending" and again.number == 7 and again.outputs is None


@pytest.mark.parametrize("requeue, expected", [(True, "pending"), (False, "failed")])
def test_recovery_of_a_job_that_was_running(tmp_path: Path, requeue: bool, expected: str) -> None:
    store = JobStore(tmp_path / "q.db")
    store.add_many([job("run"), job("wait", 2)])
    store.claim_next()
    store.close()  # the process "dies" with "run" running
    store = JobStore(tmp_path / "q.db")
    requeued, failed = store.recover(requeue)
    assert (requeued, failed) == ((["run"], []) if requeue else ([], ["run"]))
    run = store.get("run")
    assert run is not None and run.status == expected
    assert store.get("wait").status == "pending"  # type: ignore[union-attr]
    if not requeue:
        message = run.status_info["messages"][0]  # type: ignore[index]
        assert message[0] == "execution_error" and message[1]["exception_type"] == "latentloom.ServerRestarted"
        assert [j.id for j in store.history()] == ["run"]


def test_a_job_is_requeued_only_once(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "q.db")
    store.add_many([job("crashy")])
    store.claim_next()
    assert store.recover(True) == (["crashy"], [])
    assert store.claim_next().attempts == 2  # type: ignore[union-attr]
    assert store.recover(True) == ([], ["crashy"])
    assert store.get("crashy").status == "failed"  # type: ignore[union-attr]


def test_graceful_requeue_does_not_count_the_attempt(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "q.db")
    store.add_many([job("a")])
    store.claim_next()
    store.requeue("a")
    assert store.get("a").attempts == 0  # type: ignore[union-attr]


def test_history_paging_follows_comfyui(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "q.db")
    store.add_many([job(f"h{i}", i) for i in range(5)])
    for i in (3, 1, 4, 0, 2):  # finish order is history order
        claimed = store.claim_next()
        store.finish(claimed.id, "done", {}, {}, {})  # type: ignore[union-attr]
    ids = lambda jobs: [j.id for j in jobs]  # noqa: E731
    assert ids(store.history()) == ["h0", "h1", "h2", "h3", "h4"]
    assert ids(store.history(2)) == ["h3", "h4"]
    assert ids(store.history(2, 1)) == ["h1", "h2"]
    assert ids(store.history(None, 4)) == ["h4"]
    assert ids(store.history(10)) == ["h0", "h1", "h2", "h3", "h4"]


def test_history_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queue_mod, "MAX_HISTORY", 3)
    store = JobStore(tmp_path / "q.db")
    store.add_many([job(f"h{i}", i) for i in range(5)])
    for _ in range(5):
        store.finish(store.claim_next().id, "done", {}, {}, {})  # type: ignore[union-attr]
    assert [j.id for j in store.history()] == ["h2", "h3", "h4"]


def test_cancel_and_delete(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "q.db")
    store.add_many([job("a"), job("b"), job("c")])
    assert store.cancel_pending(["b", "zz"]) == ["b"]
    assert store.cancel_pending(None) == ["a", "c"]
    assert store.counts() == {"cancelled": 3}
    assert store.delete_history(["a"]) == 1
    store.delete_history(None)
    assert store.counts() == {}


def test_sensitive_keys_are_split() -> None:
    public, secret = split_sensitive({"client_id": "c", "auth_token_comfy_org": "t", "api_key_comfy_org": "k"})
    assert public == {"client_id": "c"} and secret == {"auth_token_comfy_org": "t", "api_key_comfy_org": "k"}


async def test_concurrent_submissions_share_commits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    batches: list[int] = []
    original = JobStore.add_many

    def counting(self: JobStore, jobs: list[Job]) -> list[str | None]:
        batches.append(len(jobs))
        return original(self, jobs)

    monkeypatch.setattr(JobStore, "add_many", counting)
    queue = JobQueue(tmp_path / "q.db")
    await queue.open()
    await asyncio.gather(*(queue.submit(job(f"j{i}", i)) for i in range(50)))
    assert sum(batches) == 50 and len(batches) < 50
    assert queue.pending_count == 50
    with pytest.raises(queue_mod.DuplicateJob):
        await queue.submit(job("j0"))
    claimed = await queue.claim()
    assert claimed.id == "j0" and queue.remaining == 50
    await queue.close()
    rows = sqlite3.connect(tmp_path / "q.db").execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    assert rows == 50


async def test_claim_waits_for_a_submission_and_close_wakes_it(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "q.db")
    await queue.open()
    waiter = asyncio.ensure_future(queue.claim())
    await asyncio.sleep(0)
    assert not waiter.done()
    await queue.submit(job("late"))
    assert (await asyncio.wait_for(waiter, 5)).id == "late"
    idle = asyncio.ensure_future(queue.claim())
    await asyncio.sleep(0)
    queue.close_claims()
    with pytest.raises(queue_mod.QueueClosed):
        await asyncio.wait_for(idle, 5)
    await queue.close()
