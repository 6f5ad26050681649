#!/usr/bin/env bash
# Set up .venv (first time only) and run the main job, offline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/latentloom run workflows/txt2img.json "$@"
