#!/usr/bin/env bash
# Install wharf, start wharfd (if it is not running), give it a busybox image made from the host's
# busybox-static, and run a container through the wharf CLI: offline, end to end.
# wharfd keeps running afterwards (log: /var/log/wharfd.log); stop it with: kill "$(cat /run/wharfd.pid)"
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export PATH="$PWD/.venv/bin:$PATH"
sock=/run/wharf/wharf.sock
if ! wharf version >/dev/null 2>&1; then
    echo "starting wharfd (data root /var/lib/wharf, socket $sock)"
    nohup wharfd -H "unix://$sock" >>/var/log/wharfd.log 2>&1 </dev/null &
    echo $! >/run/wharfd.pid
    for _ in $(seq 100); do wharf version >/dev/null 2>&1 && break; sleep 0.1; done
fi
if ! wharf image inspect busybox:latest >/dev/null 2>&1; then
    echo "importing busybox:latest from the host's busybox-static"
    python - <<'PY' | wharf import -c 'CMD ["sh"]' - busybox:latest
import io, os, sys, tarfile, tempfile
from wharf.fixtures.busybox import make_rootfs
with tempfile.TemporaryDirectory() as tmp:
    root = make_rootfs(os.path.join(tmp, "rootfs"))
    with tarfile.open(fileobj=sys.stdout.buffer, mode="w|") as tar:
        for name in sorted(os.listdir(root)):
            tar.add(os.path.join(root, name), arcname=name)
PY
fi
wharf run --rm busybox sh -c 'echo hello from a wharf container: $(hostname), pid $$; id'
wharf ps -a
