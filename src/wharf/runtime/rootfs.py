"""The container's filesystem view, built by init inside its new mount namespace.

Order (as runc does it, for the same reasons):
1. ``prepare``: make ``/`` a slave (or the spec's rootfsPropagation) so nothing leaks back to the
   host, and bind the rootfs onto itself so it is a mount point pivot_root accepts.
2. ``mount_all``: the spec's mounts in order, each destination resolved inside the rootfs by
   ``securejoin.open_in_root`` and mounted on through its fd (``InRoot``), so neither a symlink
   in the image nor one swapped in by a container sharing a volume can put a mount on the host.
3. ``create_devices``: the default /dev nodes and symlinks when /dev is not a bind mount, plus
   ``linux.devices`` (bind-mounted from the host inside a user namespace, where mknod is denied).
4. ``pivot``: pivot_root(".", ".") and lazily detach the old root (or MS_MOVE + chroot).
5. ``mask_paths`` / ``readonly_paths`` / ``finalize``: after pivot, in container paths.
"""

from __future__ import annotations

import os
import stat

from wharf.errors import FailedPrecondition, InvalidArgument
from wharf.runtime import mountopts
from wharf.runtime import syscalls as s
from wharf.runtime.securejoin import open_in_root, secure_join

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_LOCKED = s.MS_NOSUID | s.MS_NODEV | s.MS_NOEXEC | s.MS_NOATIME | s.MS_NODIRATIME | s.MS_RELATIME

DEFAULT_DEVICES = (
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
)
DEV_SYMLINKS = (
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
)


def _err(where: str, exc: OSError) -> FailedPrecondition:
    path = f" {exc.filename}" if exc.filename else ""
    return FailedPrecondition(f"{where}:{path}: {exc.strerror}")


def rootfs_path(spec: dict[str, Any], bundle: str) -> str:
    path: str = spec["root"]["path"]
    if not path.startswith("/"):
        path = f"{bundle}/{path}"
    path = os.path.realpath(path)
    if not os.path.isdir(path):
        raise InvalidArgument(f"root.path: rootfs {path} does not exist or is not a directory")
    return path


def prepare(spec: dict[str, Any], rootfs: str) -> None:
    prop = spec.get("linux", {}).get("rootfsPropagation") or "rslave"
    if prop not in mountopts.PROPAGATION:
        raise InvalidArgument(f"linux.rootfsPropagation: unknown propagation {prop!r}")
    try:
        s.mount(None, "/", None, mountopts.PROPAGATION[prop])
        _make_parent_private(rootfs)
        s.mount(rootfs, rootfs, None, s.MS_BIND | s.MS_REC)
    except OSError as exc:
        raise _err("prepare rootfs", exc) from None


def _make_parent_private(rootfs: str) -> None:
    """pivot_root refuses a new root whose parent mount is shared: make that mount private."""
    best = ""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split(" ", 5)[4]
            if (rootfs == point or rootfs.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
                best = point
        if "shared:" in _mountinfo_line(best):
            s.mount(None, best, None, s.MS_PRIVATE)


def _mountinfo_line(point: str) -> str:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            if line.split(" ", 5)[4] == point:
                return line
    return ""


def _locked_flags(path: str) -> int:
    return os.statvfs(path).f_flag & _LOCKED


class InRoot:
    """A path naming ``destination`` as resolved inside ``rootfs`` right now: /proc/self/fd/N
    of an fd the walk of ``securejoin.open_in_root`` opened (missing components made as its
    ``create`` says). mount(2) on it lands on what was resolved, whatever a container sharing a
    volume swaps meanwhile (CVE-2021-30465); what it names is checked to be inside the root.
    (A class, not contextlib's decorator: the runtime's start-up imports no more than it must.)"""

    __slots__ = ("fd",)

    def __init__(self, rootfs: str, destination: str, create: str = "") -> None:
        root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self.fd = open_in_root(root_fd, destination, create)
        finally:
            os.close(root_fd)
        real = os.readlink(f"/proc/self/fd/{self.fd}")
        if real != rootfs and not real.startswith(rootfs.rstrip("/") + "/"):
            os.close(self.fd)
            raise FailedPrecondition(
                f"mount destination {destination} resolved to {real}, outside the container's root"
                " -- possible container breakout detected"
            )

    def __enter__(self) -> str:
        return f"/proc/self/fd/{self.fd}"

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def _check_ordinary_dir(rootfs: str, m: dict[str, Any], typ: str) -> None:
    """proc and sysfs go on a real directory, never through a symlink the image (or a volume)
    planted there (runc's check; the masked and read-only paths are applied under them by
    path after pivot_root, CVE-2019-19921)."""
    if typ not in ("proc", "sysfs"):
        return
    try:
        st = os.lstat(f"{rootfs.rstrip('/')}/{m['destination'].strip('/')}")
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        raise FailedPrecondition(f'filesystem "{typ}" must be mounted on ordinary directory')


def mount_all(
    spec: dict[str, Any], rootfs: str, bundle: str, in_userns: bool, cgroups: Callable[[], CgroupView]
) -> None:
    """Mount the spec's mounts in order. ``cgroups`` gives the host's view of the container's
    cgroups, noted before a new cgroup namespace hides it."""
    for i, m in enumerate(spec.get("mounts") or ()):
        where = f"mounts[{i}] ({m['destination']})"
        try:
            _mount_one(m, rootfs, bundle, in_userns, where, cgroups)
        except OSError as exc:
            raise _err(where, exc) from None
        except FailedPrecondition as exc:
            raise FailedPrecondition(f"{where}: {exc}") from None


def _mount_one(
    m: dict[str, Any],
    rootfs: str,
    bundle: str,
    in_userns: bool,
    where: str,
    cgroups: Callable[[], CgroupView],
) -> None:
    """One mount, on its destination resolved in the root (``InRoot``); the remounts that
    follow (flags, propagation, attributes) resolve it again, so they reach the new mount."""
    typ = m.get("type") or ""
    opts = mountopts.parse(m.get("options") or [], f"{where}.options")
    src = m.get("source") or ""
    destination = m["destination"]
    if typ == "bind" or opts.is_bind:
        src = src if src.startswith("/") else f"{bundle}/{src}"
        try:
            st = os.stat(src)
        except FileNotFoundError:
            raise FailedPrecondition(f"bind source {src} does not exist") from None
        with InRoot(rootfs, destination, "dir" if stat.S_ISDIR(st.st_mode) else "file") as dest:
            s.mount(src, dest, None, s.MS_BIND | (opts.flags & s.MS_REC))
        extra = opts.flags & ~(s.MS_BIND | s.MS_REC | s.MS_REMOUNT)
        if extra:
            with InRoot(rootfs, destination) as dest:
                locked = _locked_flags(dest) if in_userns else 0
                s.mount(None, dest, None, s.MS_BIND | s.MS_REMOUNT | extra | locked)
    elif typ == "cgroup":
        _mount_cgroup(rootfs, destination, opts, cgroups())
    else:
        _check_ordinary_dir(rootfs, m, typ)
        data = ",".join(opts.data) or None
        with InRoot(rootfs, destination, "dir") as dest:
            try:
                s.mount(src or typ, dest, typ, opts.flags, data)
            except PermissionError:
                if typ != "sysfs":
                    raise
                # sysfs needs a network namespace owned by our user namespace; fall back as runc does
                s.mount("/sys", dest, None, s.MS_BIND | s.MS_REC)
                sysfs_bound = True
            else:
                sysfs_bound = False
        if sysfs_bound:
            with InRoot(rootfs, destination) as dest:
                s.mount(None, dest, None, s.MS_BIND | s.MS_REMOUNT | s.MS_RDONLY | _locked_flags(dest))
    if opts.propagation or opts.attr_set or opts.attr_clr:
        with InRoot(rootfs, destination) as dest:
            _apply_after(dest, opts)


def _apply_after(dest: str, opts: mountopts.MountOptions) -> None:
    for prop in opts.propagation:
        s.mount(None, dest, None, prop)
    if opts.attr_set or opts.attr_clr:
        s.mount_setattr_recursive(dest, opts.attr_set, opts.attr_clr)


def _cgroup_mounts() -> list[tuple[str, str, str, str]]:
    """(mount point, root, fstype, super options) of the host's cgroup hierarchies."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            head, _, tail = line.partition(" - ")
            fields = head.split(" ")
            fstype, _src, sopts = tail.split(" ", 2)
            if fstype in ("cgroup", "cgroup2"):
                out.append((fields[4], fields[3], fstype, sopts.strip()))
    return out


def _own_cgroups() -> dict[str, str]:
    """hierarchy key ("" for v2, else its controller list) -> our cgroup path in it."""
    out = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _id, ctrls, path = line.rstrip("\n").split(":", 2)
            out[ctrls] = path
    return out


class CgroupView:
    """This process's cgroups as the host sees them, read before any cgroup namespace hides them."""

    __slots__ = ("mounts", "own")

    def __init__(self, with_v2: bool = True) -> None:
        self.own = _own_cgroups()
        # on a hybrid host a container outside cgroup2 would see the host's root cgroup there
        self.mounts = [m for m in _cgroup_mounts() if with_v2 or m[2] != "cgroup2"]


def _mount_cgroup(rootfs: str, destination: str, opts: mountopts.MountOptions, view: CgroupView) -> None:
    """Show the container its own cgroups at ``destination``, read-only unless the mount says rw.

    On a v2-only host this is a bind of our cgroup2 directory; on v1 and hybrid hosts a tmpfs
    holding one bind per hierarchy (named as on the host, e.g. ``memory``, ``systemd``, ``unified``).
    """
    flags = opts.flags & (s.MS_RDONLY | s.MS_NOSUID | s.MS_NODEV | s.MS_NOEXEC)
    own, mounts = view.own, view.mounts
    if all(m[2] == "cgroup2" for m in mounts):
        for point, root, _t, _o in mounts:
            with InRoot(rootfs, destination, "dir") as dest:
                s.mount(point + own.get("", "/")[len(root.rstrip("/")) :], dest, None, s.MS_BIND | s.MS_REC)
            with InRoot(rootfs, destination) as dest:
                _remount_cgroup(dest, flags)
        return
    with InRoot(rootfs, destination, "dir") as dest:
        s.mount("tmpfs", dest, "tmpfs", s.MS_NOSUID | s.MS_NODEV | s.MS_NOEXEC, "mode=755")
    with InRoot(rootfs, destination) as dest:  # the new tmpfs, private to this container
        for point, root, fstype, sopts in mounts:
            key = "" if fstype == "cgroup2" else _v1_key(sopts, own)
            if key is None or key not in own:
                continue
            sub = own[key][len(root.rstrip("/")) :] if root != "/" else own[key]
            target = f"{dest}/{os.path.basename(point)}"
            os.makedirs(target, 0o755, exist_ok=True)
            s.mount(point + sub, target, None, s.MS_BIND | s.MS_REC)
            _remount_cgroup(target, flags)
        if flags & s.MS_RDONLY:
            s.mount(None, dest, None, s.MS_REMOUNT | s.MS_NOSUID | s.MS_NODEV | s.MS_NOEXEC | s.MS_RDONLY)


def _v1_key(sopts: str, own: dict[str, str]) -> str | None:
    names = set(sopts.split(","))
    for key in own:
        if key and set(key.split(",")) <= names:
            return key
    return None


def _remount_cgroup(target: str, flags: int) -> None:
    s.mount(None, target, None, s.MS_BIND | s.MS_REMOUNT | flags | _locked_flags(target))


def needs_default_dev(spec: dict[str, Any]) -> bool:
    for m in spec.get("mounts") or ():
        if m["destination"].rstrip("/") == "/dev":
            return m.get("type") != "bind" and "bind" not in (m.get("options") or ())
    return False


def create_devices(spec: dict[str, Any], rootfs: str, in_userns: bool) -> None:
    default = needs_default_dev(spec)
    devices: list[dict[str, Any]] = []
    if default:
        devices += [
            {
                "path": f"/dev/{n}",
                "type": "c",
                "major": ma,
                "minor": mi,
                "fileMode": 0o666,
                "uid": 0,
                "gid": 0,
            }
            for n, ma, mi in DEFAULT_DEVICES
        ]
    devices += spec.get("linux", {}).get("devices") or []
    for i, dev in enumerate(devices):
        try:
            _make_device(dev, rootfs, in_userns)
        except OSError as exc:
            raise _err(f"linux.devices[{i}] ({dev['path']})", exc) from None
    if default:
        dev_dir = secure_join(rootfs, "/dev")
        for target, name in DEV_SYMLINKS:
            _symlink(target, f"{dev_dir}/{name}")
        if os.path.exists("/proc/kcore"):
            _symlink("/proc/kcore", f"{dev_dir}/core")
        ptmx = f"{dev_dir}/ptmx"
        if os.path.isdir(f"{dev_dir}/pts"):
            if os.path.lexists(ptmx):
                os.unlink(ptmx)
            os.symlink("pts/ptmx", ptmx)


def _symlink(target: str, path: str) -> None:
    try:
        os.symlink(target, path)
    except FileExistsError:
        pass


_DEV_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def _make_device(dev: dict[str, Any], rootfs: str, in_userns: bool) -> None:
    kind = _DEV_TYPES.get(dev["type"])
    if kind is None:
        raise InvalidArgument(f"linux.devices: {dev['path']}: unknown device type {dev['type']!r}")
    if in_userns:
        with InRoot(rootfs, dev["path"], "file") as dest:
            s.mount(dev["path"], dest, None, s.MS_BIND)
        return
    parent, _, name = dev["path"].rstrip("/").rpartition("/")
    with InRoot(rootfs, parent or "/", "dir") as pdir:
        pfd = os.open(pdir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            os.unlink(name, dir_fd=pfd)
        except FileNotFoundError:
            pass
        mode = dev.get("fileMode", 0o666) & 0o7777
        os.mknod(name, mode | kind, os.makedev(dev.get("major", 0), dev.get("minor", 0)), dir_fd=pfd)
        os.chmod(name, mode, dir_fd=pfd, follow_symlinks=False)
        os.chown(name, dev.get("uid", 0), dev.get("gid", 0), dir_fd=pfd, follow_symlinks=False)
    finally:
        os.close(pfd)


def pivot(rootfs: str, no_pivot: bool) -> None:
    try:
        if no_pivot:
            os.chdir(rootfs)
            s.mount(rootfs, "/", None, s.MS_MOVE)
            os.chroot(".")
            os.chdir("/")
            return
        old = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
        new = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fchdir(new)
            s.pivot_root(".", ".")
            os.fchdir(old)
            s.mount(None, ".", None, s.MS_SLAVE | s.MS_REC)
            s.umount2(".", s.MNT_DETACH)
            os.chdir("/")
        finally:
            os.close(old)
            os.close(new)
    except OSError as exc:
        raise _err("pivot_root", exc) from None


def chroot_only(rootfs: str) -> None:
    """Without a mount namespace of its own the container can only be chrooted."""
    os.chdir(rootfs)
    os.chroot(".")
    os.chdir("/")


def make_cwd(cwd: str) -> None:
    """Create process.cwd if missing (as runc does), inside the new root: called after pivot_root,
    so a symlink in the path cannot lead outside the container."""
    if not os.path.isdir(cwd):
        try:
            os.makedirs(cwd, 0o755, exist_ok=True)
        except OSError as exc:
            raise _err("process.cwd", exc) from None


def mask_paths(paths: list[str]) -> None:
    """Hide each path: /dev/null over a file, an empty read-only tmpfs over a directory."""
    for path in paths:
        try:
            try:
                s.mount("/dev/null", path, None, s.MS_BIND)
            except NotADirectoryError:
                s.mount("tmpfs", path, "tmpfs", s.MS_RDONLY, None)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise _err("linux.maskedPaths", exc) from None


def readonly_paths(paths: list[str]) -> None:
    for path in paths:
        try:
            s.mount(path, path, None, s.MS_BIND | s.MS_REC)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise _err("linux.readonlyPaths", exc) from None
        flags = s.MS_BIND | s.MS_REMOUNT | s.MS_RDONLY | s.MS_REC | _locked_flags(path)
        s.mount(None, path, None, flags)


def finalize(spec: dict[str, Any]) -> None:
    if spec["root"].get("readonly"):
        try:
            s.mount(None, "/", None, s.MS_BIND | s.MS_REMOUNT | s.MS_RDONLY | _locked_flags("/"))
        except OSError as exc:
            raise _err("root.readonly", exc) from None
