#!/usr/bin/env bash
# bench/build.py through the project's virtualenv (see its docstring).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python bench/build.py "$@"
