#!/usr/bin/env bash
# bench/load.py through the project's virtualenv (arguments pass through; see its docstring)
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python bench/load.py "$@"
