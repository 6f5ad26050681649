#!/usr/bin/env bash
# Create (or reuse) the local virtual environment .venv and install latentloom into it:
# torch first (the local CPU build), then everything else under constraints.txt so nothing replaces it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

pip_install() {
    # pip's notes about local index folders that do not exist are noise; real failures still stop us.
    local log status=0
    log=$(mktemp)
    .venv/bin/python -m pip install -q -c constraints.txt "$@" >"$log" 2>&1 || status=$?
    grep -v "is ignored: it is neither a file nor a directory" "$log" >&2 || true
    rm -f "$log"
    return "$status"
}

if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.latentloom-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setting up .venv (torch $(grep '^torch==' constraints.txt | cut -d= -f3), diffusers, transformers, aiohttp ...)" >&2
    pip_install torch==2.13.0
    pip_install -e ".[test]"
    echo "$want" > "$stamp"
fi
