#!/usr/bin/env bash
# Install everything wharf and its tests need on a Debian bookworm machine (run as root).
# Idempotent: packages already present are not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."
here=$(pwd)

export DEBIAN_FRONTEND=noninteractive
pkgs="busybox-static runc libseccomp2 iproute2 nftables procps uidmap docker-registry skopeo gcc libc6-dev curl tini"
# the test suite also drives wharfd with Debian's docker CLI 20.10 (scripts/test.sh asks for it)
pkgs="$pkgs ${EXTRA_PKGS:-}"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
fi

py=${PYTHON:-$(python3 -c 'import sys; print(sys.executable)')}
if [ ! -x .venv/bin/python ]; then
    "$py" -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.lock
# runtime dependencies of the engine (the OCI runtime itself needs none), pinned
if [ -f requirements.lock ]; then
    .venv/bin/pip install -q --disable-pip-version-check -r requirements.lock
fi
# the editable install needs the build backend from the index: only when this checkout is not
# installed yet (so that a second run works offline, e.g. in a network namespace)
if ! .venv/bin/python -c "import os, sys, wharf; sys.exit(os.path.dirname(wharf.__file__) != '$here/src/wharf')" 2>/dev/null; then
    .venv/bin/pip install -q --disable-pip-version-check --no-deps -e .
fi

# wharf-runtime is started once per container operation, like runc. Its launcher (C, see
# shim/wharf-runtime.c) runs the runtime's Python code (stdlib and src/ only: -I -S) with a sealed
# in-memory copy of the interpreter, never the host's file, so no container can reach that file.
gcc -O2 -Wall -Wextra -Werror -std=gnu11 -DWHARF_PYTHON="\"$here/.venv/bin/python\"" \
    -DWHARF_SRC="\"$here/src\"" -o .venv/bin/wharf-runtime.tmp shim/wharf-runtime.c
mv .venv/bin/wharf-runtime.tmp .venv/bin/wharf-runtime
# wharf-shim: the per-container monitor (C, libc only; see shim/wharf-shim.c)
gcc -O2 -Wall -Wextra -Werror -std=gnu11 -o .venv/bin/wharf-shim.tmp shim/wharf-shim.c
mv .venv/bin/wharf-shim.tmp .venv/bin/wharf-shim
echo "installed: $here/.venv/bin/wharf-runtime $here/.venv/bin/wharf-shim"
