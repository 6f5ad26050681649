"""The worker: takes jobs from the durable queue and runs them on the engine's one thread.

Threading model
---------------
The engine is synchronous. It runs in exactly one thread, the single worker of ``engine_thread`` (a
``ThreadPoolExecutor(max_workers=1)``), so two runs never overlap and node code never meets the event loop.
Everything else of a job's life happens in :meth:`Worker.run_forever`, a task on the server's event loop:

1. ``claim`` the next pending job (database thread, see ``server/queue.py``); broadcast ``status``;
2. ``await loop.run_in_executor(engine_thread, ...)``: the engine runs, its hook (``RunBridge.hook``) hands
   each event back to the loop with ``call_soon_threadsafe`` (see ``server/events.py``);
3. write history (``finish``), broadcast ``status``, then send the completion signal ``executing`` with
   ``node: null``, and wake anyone waiting on the job (``POST /api/run``).

Step 3 starts only after every event of the run was handled (FIFO hand-over), so the completion signal is
the last message of a run and comes after its history is on disk, for success, error and interrupt alike.

Cancelling: each run has a :class:`~graph.context.CancelToken`; ``interrupt`` and ``cancel`` set it, and the
engine stops at the next node or progress report. ``/free`` requests are honoured between runs, on the
engine thread. On shutdown the running job is interrupted and put back to pending, so it runs again on the
next start.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from graph.context import CancelToken
from graph.errors import GraphError, NodeFailed, ValidationFailed, WorkflowFormatError
from graph.executor import RunResult
from server.events import Message, RunBridge
from server.queue import Job, JobQueue, JobStore, QueueClosed
from server.ws import Hub

#: Queued jobs whose models the model manager is told about before each job (nodes/memory: eviction
#: spares models the next jobs load, which brings the bytes moved close to the offline minimum).
LOOKAHEAD = 4

logger = logging.getLogger(__name__)

CancelOutcome = Literal["running", "pending", "terminal", "unknown"]
_STATUS = {"success": "done", "error": "failed", "interrupted": "cancelled"}


@dataclass
class _Invalid:
    errors: list[GraphError]


@dataclass
class _Running:
    job: Job
    token: CancelToken
    bridge: RunBridge
    done: asyncio.Future[Any] | None = None


@dataclass
class FreeRequest:
    """Pending ``/free`` flags, applied between runs."""

    unload_models: bool = False
    free_memory: bool = False
    applied: list[str] = field(default_factory=list)


class Worker:
    """Runs queued jobs one at a time (see the module docstring).

    Args:
        runtime: the assembled application (``nodes.runtime.Runtime``): its engine runs the jobs.
        queue: the durable queue. hub: the websocket hub.
    """

    def __init__(self, runtime: Any, queue: JobQueue, hub: Hub, *, preview_size: int = 512) -> None:
        self.runtime = runtime
        self.queue = queue
        self.hub = hub
        self.preview_size = preview_size
        self.engine_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="latentloom-engine")
        self.secrets: dict[str, dict[str, Any]] = {}
        self.current: _Running | None = None
        self.free = FreeRequest()
        self.stopping = False
        self.idle = True
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self.task: asyncio.Task[None] | None = None
        self._freeing: asyncio.Future[None] | None = None

    # -- the loop ------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.task = asyncio.ensure_future(self.run_forever())

    async def run_forever(self) -> None:
        while not self.stopping:
            self.idle = True
            try:
                job = await self.queue.claim()
            except QueueClosed:
                return
            self.idle = False
            if self.stopping:  # claimed while shutting down: it did not run
                await self.queue.requeue(job)
                return
            try:
                await self._apply_free()
                await self._run(job)
            except Exception as exc:  # never let one job stop the worker
                logger.exception("the worker failed while handling job %s", job.id)
                await self._abandon(job, exc)

    async def _run(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        client = job.client_id
        token = CancelToken()
        bridge = RunBridge(job.id, client, loop, self.hub.publish,
                           on_node=lambda node: self.hub.set_running(client, node), preview_size=self.preview_size)
        running = self.current = _Running(job, token, bridge)
        self.hub.broadcast_status()
        await self._hint_models()
        running.done = loop.run_in_executor(self.engine_thread, self._execute, job, bridge, token)
        result = await asyncio.shield(running.done)
        if isinstance(result, _Invalid):
            bridge.fail_validation(result.errors)
        elif isinstance(result, NodeFailed):
            bridge.fail(result)
        outcome = bridge.outcome or "error"
        if outcome == "interrupted" and self.stopping:
            await self.queue.requeue(job)
            self.current = None
            return
        await self._record(job, bridge, result, outcome)

    async def _record(self, job: Job, bridge: RunBridge, result: Any, outcome: str) -> None:
        outputs = {k: dict(v) for k, v in result.ui.items()} if isinstance(result, RunResult) else {}
        info = {"status_str": "success" if outcome == "success" else "error", "completed": outcome == "success",
                "messages": bridge.history_messages}
        try:
            await self.queue.finish(job, _STATUS[outcome], outputs, info, bridge.meta(list(outputs)))  # type: ignore[arg-type]
        except Exception:
            logger.exception("could not write the history of job %s", job.id)
        self.current = None
        self.secrets.pop(job.id, None)
        self.hub.set_running(None, None)
        self.hub.broadcast_status()
        if job.client_id is not None:
            self.hub.publish(Message("executing", {"node": None, "prompt_id": job.id}, job.client_id))
        self.notify(job.id)

    async def _abandon(self, job: Job, exc: Exception) -> None:
        """Record a job the worker itself failed on (not the engine), so it does not stay running."""
        self.current = None
        bridge = RunBridge(job.id, job.client_id, asyncio.get_running_loop(), self.hub.publish)
        bridge.fail(NodeFailed("", "", f"latentloom.{type(exc).__name__}", f"the server failed to run the job: {exc}"))
        await self._record(job, bridge, None, "error")

    async def _hint_models(self) -> None:
        """Tell the model manager which models the next queued jobs load, so it does not evict them first."""
        models = self.runtime.services.get("models")
        if hasattr(models, "expect_prompts"):
            pending = await self.queue.call(JobStore.by_status, "pending")
            models.expect_prompts([j.prompt for j in pending[:LOOKAHEAD]])

    def _execute(self, job: Job, bridge: RunBridge, token: CancelToken) -> RunResult | _Invalid | NodeFailed:
        """Engine thread: run one job; problems come back as values."""
        extra = {**job.extra_data, **self.secrets.get(job.id, {})}
        try:
            return self.runtime.engine.run(job.prompt, targets=job.outputs_to_execute or None, prompt_id=job.id,
                                           extra_data=extra, cancel=token, hooks=bridge.hook, strict=False)
        except (ValidationFailed, WorkflowFormatError) as exc:
            return _Invalid(list(exc.errors))
        except Exception as exc:  # an engine bug: report it as the run's error
            logger.exception("the engine failed on job %s", job.id)
            return NodeFailed("", "", f"{type(exc).__module__}.{type(exc).__qualname__}", str(exc))

    # -- control -------------------------------------------------------------------------------------------
    def interrupt(self, prompt_id: str | None = None) -> bool:
        """Interrupt the running job (only if it is ``prompt_id``, when given); True if one was."""
        running = self.current
        if running is None or (prompt_id is not None and running.job.id != prompt_id):
            return False
        running.token.cancel("interrupted")
        return True

    async def cancel(self, job_id: str) -> CancelOutcome:
        """Cancel a job by id whatever its state: interrupt it if it runs, dequeue it if it waits."""
        if self.interrupt(job_id):
            return "running"
        if await self.queue.cancel_pending([job_id]):
            self.hub.broadcast_status()
            self.notify(job_id)
            return "pending"
        if self.interrupt(job_id):  # it started while we looked
            return "running"
        job = await self.queue.call(JobStore.get, job_id)
        return "unknown" if job is None else "terminal"

    def request_free(self, unload_models: bool, free_memory: bool) -> None:
        """Remember ``/free`` flags; they apply before the next run, or now when idle."""
        self.free.unload_models |= unload_models
        self.free.free_memory |= free_memory
        if self.current is None and self.idle:
            self._freeing = asyncio.ensure_future(self._apply_free())

    async def _apply_free(self) -> None:
        request = self.free
        if not (request.unload_models or request.free_memory):
            return
        self.free = FreeRequest()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.engine_thread, self._free_now, request)

    def _free_now(self, request: FreeRequest) -> None:
        """Engine thread: unload models and/or drop cached results (ComfyUI's /free)."""
        models = self.runtime.services.get("models")
        if (request.unload_models or request.free_memory) and hasattr(models, "unload_all"):
            models.unload_all()
            request.applied.append("unload_models")
        if request.free_memory:
            self.runtime.engine.cache.clear()
            self.runtime.engine.executor.forget_instances()
            if hasattr(models, "drop_cached"):  # loaded models kept for reuse: their RAM goes once unreferenced
                models.drop_cached()
            gc.collect()
            request.applied.append("free_memory")
            torch = sys.modules.get("torch")
            if torch is not None and torch.cuda.is_available():
                torch.cuda.empty_cache()

    # -- waiting -------------------------------------------------------------------------------------------
    async def wait_for(self, job_id: str, timeout: float) -> Job | None:
        """The job once it is finished (or cancelled), or None after ``timeout`` seconds."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(job_id, []).append(future)
        try:
            job = await self.queue.call(JobStore.get, job_id)
            if job is not None and job.status not in ("pending", "running"):
                return job
            await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            return None
        finally:
            waiters = self._waiters.get(job_id, [])
            if future in waiters:
                waiters.remove(future)
            if not waiters:
                self._waiters.pop(job_id, None)
        return await self.queue.call(JobStore.get, job_id)

    def notify(self, job_id: str) -> None:
        for future in self._waiters.get(job_id, []):
            if not future.done():
                future.set_result(None)

    # -- shutdown ------------------------------------------------------------------------------------------
    async def stop(self, timeout: float = 10.0) -> None:
        """Stop taking jobs; interrupt the running one (it goes back to pending) and wait for it."""
        self.stopping = True
        self.queue.close_claims()
        running = self.current
        if running is not None:
            running.token.cancel("server shutdown")
        task = self.task
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            except asyncio.TimeoutError:
                task.cancel()
                logger.warning("a node did not stop within %.0f s; its job stays running and is recovered on restart",
                               timeout)
        self.engine_thread.shutdown(wait=False, cancel_futures=True)
