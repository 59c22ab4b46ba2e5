#!/usr/bin/env bash
# bench/pull.py through the project's virtualenv (arguments pass through; see its docstring)
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python bench/pull.py "$@"
