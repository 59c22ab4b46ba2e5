#!/usr/bin/env bash
# Install wharf, build a busybox bundle from the host's busybox-static, and run a container in it,
# offline, end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
bundle=/var/lib/wharf-quickstart/bundle
rm -rf "$bundle"
.venv/bin/python - "$bundle" <<'PY'
import sys
from wharf.fixtures.busybox import base_spec, make_bundle
make_bundle(sys.argv[1], base_spec(["sh", "-c", "echo hello from a wharf container: $(hostname), pid $$; id"]))
PY
.venv/bin/wharf-runtime run --bundle "$bundle" "quickstart-$$"
