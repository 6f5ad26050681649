"""Jobs as the ``/api/jobs`` routes show them (comfyui-reference 1.6).

A job dict has ``id``, ``status`` (``pending``, ``in_progress``, ``completed``, ``failed``, ``cancelled``),
``priority``, ``create_time``, ``execution_start_time``, ``execution_end_time``, ``execution_error``,
``outputs_count``, ``preview_output`` and ``workflow_id``; keys whose value is None are left out. The
single-job view adds ``outputs``, ``execution_status`` and ``workflow: {prompt, extra_data}``.

An interrupted run is ``cancelled`` (as in ComfyUI's jobs API), and so is a job cancelled before it
started (latentloom keeps those; ComfyUI forgets them).
"""

from __future__ import annotations

from typing import Any

from server.queue import Job

#: Queue status -> API status.
API_STATUS = {"pending": "pending", "running": "in_progress", "done": "completed", "failed": "failed",
              "cancelled": "cancelled"}
#: API status -> queue status.
QUEUE_STATUS = {v: k for k, v in API_STATUS.items()}
_PREVIEWABLE = ("images", "video", "audio", "3d", "gifs")


def outputs_summary(outputs: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
    """(number of output items, the item to preview: a saved ``output`` first, else any previewable one)."""
    count, best, fallback = 0, None, None
    for node_id, node_outputs in outputs.items():
        if not isinstance(node_outputs, dict):
            continue
        for media, items in node_outputs.items():
            if media == "animated" or not isinstance(items, list):
                continue
            for item in items:
                if not isinstance(item, dict):
                    continue
                count += 1
                if media not in _PREVIEWABLE:
                    continue
                enriched = {**item, "nodeId": node_id, "mediaType": media}
                if item.get("type") == "output" and best is None:
                    best = enriched
                elif fallback is None:
                    fallback = enriched
    return count, best or fallback


def _execution_error(job: Job) -> dict[str, Any] | None:
    for entry in (job.status_info or {}).get("messages", []):
        if isinstance(entry, list) and len(entry) == 2 and entry[0] == "execution_error":
            return entry[1]
    return None


def job_dict(job: Job, detail: bool = False) -> dict[str, Any]:
    """The API view of one job (see the module docstring)."""
    outputs = job.outputs or {}
    count, preview = outputs_summary(outputs)
    view: dict[str, Any] = {
        "id": job.id,
        "status": API_STATUS[job.status],
        "priority": job.priority,
        "create_time": job.extra_data.get("create_time", job.created_ms),
        "execution_start_time": job.started_ms,
        "execution_end_time": job.finished_ms if job.started_ms is not None else None,
        "execution_error": _execution_error(job),
        "outputs_count": count,
        "preview_output": preview,
        "workflow_id": job.workflow_id,
    }
    view = {k: v for k, v in view.items() if v is not None}
    if detail:
        view["outputs"] = outputs
        if job.status_info is not None:
            view["execution_status"] = job.status_info
        view["workflow"] = {"prompt": job.prompt, "extra_data": job.extra_data}
    return view


def output_files(outputs: dict[str, Any]) -> list[dict[str, Any]]:
    """Every file reference (``{"filename", "subfolder", "type"}``) in a run's outputs, with its node."""
    files = []
    for node_id, node_outputs in outputs.items():
        if not isinstance(node_outputs, dict):
            continue
        for media, items in node_outputs.items():
            if not isinstance(items, list):
                continue
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("filename"), str):
                    files.append({"node_id": node_id, "media": media, "filename": item["filename"],
                                  "subfolder": str(item.get("subfolder", "")), "type": str(item.get("type", "output"))})
    return files
