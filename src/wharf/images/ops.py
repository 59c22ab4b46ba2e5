"""Docker's image operations over the store, in the Engine API's shapes.

tag, list (`docker images` filters), inspect (/images/{name}/json), history, remove (untag
vs delete, in-use refusal with Docker's messages) and prune. ``in_use`` callables give, for an
image ID, the containers made from it as (container id, running) pairs: the store does not know
about containers, the engine does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wharf.base.times import now_rfc3339, parse_rfc3339, parse_time_arg
from wharf.errors import Conflict, InvalidArgument
from wharf.oci.reference import parse_reference

if TYPE_CHECKING:
    from wharf.images.store import ImageRecord, ImageStore

InUse = Callable[[str], list[tuple[str, bool]]]
LIST_FILTERS = {"dangling", "label", "before", "since", "reference", "until"}


def _no_users(_: str) -> list[tuple[str, bool]]:
    return []


def _rfc3339(ts: float) -> str:
    return now_rfc3339(ts)


def _created(config: dict[str, Any]) -> tuple[str, int]:
    created = config.get("created") or "1970-01-01T00:00:00Z"
    try:
        return created, int(parse_rfc3339(created))
    except ValueError:
        return created, 0


def _size(store: ImageStore, record: ImageRecord) -> int:
    try:
        return sum(int(layer["size"]) for layer in store.manifest(record).get("layers") or [])
    except Exception:
        return 0


def _repo_tags_digests(store: ImageStore, image_id: str) -> tuple[list[str], list[str]]:
    tags: list[str] = []
    digests: list[str] = []
    for r in store.names_of(image_id):
        ref = r.reference()
        if ref is None:
            continue
        if ref.digest is None:
            tags.append(ref.familiar())
        else:  # a name@digest record: what a pull or push by that repository recorded
            digests.append(ref.familiar())
    return sorted(set(tags)), sorted(set(digests))


def tag(store: ImageStore, source: str, target: str) -> None:
    record = store.resolve(source)
    ref = parse_reference(target)
    if ref.digest is not None:
        raise InvalidArgument("refusing to create a tag with a digest reference")
    store.set_image(str(ref), record.target, labels=record.labels)


PARENT_LABEL = "org.wharf.parent"  # the image a commit was made from (Docker's local "parent")


def parent_of(store: ImageStore, image_id: str) -> str:
    """The ID of the image ``image_id`` was committed from, as its names' labels record it."""
    for r in store.list_images():
        if r.id == image_id and r.labels.get(PARENT_LABEL):
            return r.labels[PARENT_LABEL]
    return ""


def _by_id(store: ImageStore) -> dict[str, list[ImageRecord]]:
    out: dict[str, list[ImageRecord]] = {}
    for r in store.list_images():
        out.setdefault(r.id, []).append(r)
    return out


def summary(store: ImageStore, image_id: str, records: list[ImageRecord]) -> dict[str, Any]:
    config = store.config(records[0])
    created_s, created = _created(config)
    tags, digests = _repo_tags_digests(store, image_id)
    size = _size(store, records[0])
    return {
        "Id": image_id,
        "ParentId": next((r.labels[PARENT_LABEL] for r in records if r.labels.get(PARENT_LABEL)), ""),
        "RepoTags": tags,
        "RepoDigests": digests,
        "Created": created,
        "Size": size,
        "SharedSize": -1,
        "VirtualSize": size,
        "Labels": (config.get("config") or {}).get("Labels") or {},
        "Containers": -1,
    }


def list_images(store: ImageStore, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
    for key in filters:
        if key not in LIST_FILTERS and key != "all":
            raise InvalidArgument(f"invalid filter '{key}'")
    groups = _by_id(store)
    if "all" not in filters:  # build steps are intermediate images: shown by `images -a` only
        groups = {iid: recs for iid, recs in groups.items() if not all(r.build_step() for r in recs)}
    out = [summary(store, iid, recs) for iid, recs in groups.items()]
    for key, values in filters.items():
        if key == "dangling":
            want = values[0].lower() in ("true", "1")
            out = [i for i in out if (not i["RepoTags"]) == want]
        elif key == "label":
            for v in values:
                k, _, val = v.partition("=")
                out = [i for i in out if k in i["Labels"] and (not val or i["Labels"][k] == val)]
        elif key in ("before", "since"):
            ref = store.resolve(values[0])
            ref_created = summary(store, ref.id, groups[ref.id])["Created"]
            if key == "before":
                out = [i for i in out if i["Created"] < ref_created]
            else:
                out = [i for i in out if i["Created"] > ref_created]
        elif key == "until":
            t = parse_time_arg(values[0])
            if t is not None:
                out = [i for i in out if i["Created"] < t]
        elif key == "reference":
            import fnmatch

            def matching(i: dict[str, Any], patterns: list[str]) -> list[str]:
                found = []
                for t in i["RepoTags"]:
                    name = t.rsplit(":", 1)[0] if ":" in t.split("/")[-1] else t
                    if any(fnmatch.fnmatchcase(t, p) or fnmatch.fnmatchcase(name, p) for p in patterns):
                        found.append(t)
                return found

            kept = []
            for i in out:
                tags = matching(i, values)
                if tags:
                    # as dockerd: only the matching names
                    digests = [
                        d for d in i["RepoDigests"] if d.split("@")[0] in {t.rsplit(":", 1)[0] for t in tags}
                    ]
                    kept.append({**i, "RepoTags": tags, "RepoDigests": digests})
            out = kept
    out.sort(key=lambda i: i["Created"], reverse=True)
    return out


def inspect(store: ImageStore, name: str) -> dict[str, Any]:
    record = store.resolve(name)
    config = store.config(record)
    created_s, _ = _created(config)
    tags, digests = _repo_tags_digests(store, record.id)
    size = _size(store, record)
    last_tag = max((r.updated_at for r in store.names_of(record.id)), default=0.0)
    graph: dict[str, Any] = {"Name": store.snapshots.driver, "Data": {}}
    try:
        chain = store.top_chain_id(record)
        if chain and store.snapshots.exists(chain):
            graph["Data"] = {"LowerDir": ":".join(store.snapshots.lower_dirs(chain))}
    except Exception:
        pass
    return {
        "Id": record.id,
        "RepoTags": tags,
        "RepoDigests": digests,
        "Parent": parent_of(store, record.id),
        "Comment": config.get("comment") or "",
        "Created": created_s,
        "Container": config.get("container") or "",
        "ContainerConfig": {},
        "DockerVersion": config.get("docker_version") or "",
        "Author": config.get("author") or "",
        "Config": config.get("config") or {},
        "Architecture": config.get("architecture") or "",
        "Variant": config.get("variant") or "",
        "Os": config.get("os") or "",
        "Size": size,
        "VirtualSize": size,
        "GraphDriver": graph,
        "RootFS": {"Type": "layers", "Layers": list((config.get("rootfs") or {}).get("diff_ids") or [])},
        "Metadata": {"LastTagTime": _rfc3339(last_tag) if last_tag else "0001-01-01T00:00:00Z"},
    }


def history(store: ImageStore, name: str) -> list[dict[str, Any]]:
    record = store.resolve(name)
    config = store.config(record)
    layers = list(store.manifest(record).get("layers") or [])
    entries = list(config.get("history") or [])
    out: list[dict[str, Any]] = []
    li = 0
    for h in entries:
        empty = bool(h.get("empty_layer"))
        size = 0
        if not empty and li < len(layers):
            size = int(layers[li]["size"])
            li += 1
        _, created = _created({"created": h.get("created")}) if h.get("created") else ("", 0)
        out.append(
            {
                "Id": "<missing>",
                "Created": created,
                "CreatedBy": h.get("created_by") or "",
                "Tags": None,
                "Size": size,
                "Comment": h.get("comment") or "",
            }
        )
    out.reverse()
    if out:
        tags, _ = _repo_tags_digests(store, record.id)
        out[0]["Id"] = record.id
        out[0]["Tags"] = tags or None
    return out


def _short(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


def remove(
    store: ImageStore, name: str, force: bool = False, noprune: bool = False, in_use: InUse = _no_users
) -> list[dict[str, str]]:
    """`docker rmi`: untag a name; delete the image when its last name goes (or when asked by ID)."""
    record = store.resolve(name)
    image_id = record.id
    names = [r.name for r in store.names_of(image_id)]
    users = in_use(image_id)
    by_id = _looks_like_id(name, image_id)
    result: list[dict[str, str]] = []
    if not by_id and record.name in names:
        going = _untagged_with(record.name, names)
        if len(going) < len(names):  # other names remain: only these go
            for n in going:
                store.delete_name(n)
                result.append({"Untagged": _familiar(n)})
            return result
    if by_id and len(_repos(names)) > 1 and not force:
        raise Conflict(
            f"conflict: unable to delete {_short(image_id)} (must be forced) - image is referenced in"
            " multiple repositories"
        )
    running = [cid for cid, up in users if up]
    if running:
        if by_id:
            raise Conflict(
                f"conflict: unable to delete {_short(image_id)} (cannot be forced) - image is being used"
                f" by running container {running[0][:12]}"
            )
        if not force:
            raise Conflict(
                f'conflict: unable to remove repository reference "{name}" (must force) - container'
                f" {running[0][:12]} is using its referenced image {_short(image_id)}"
            )
    stopped = [cid for cid, up in users if not up]
    if stopped and not force:
        if by_id:
            raise Conflict(
                f"conflict: unable to delete {_short(image_id)} (must be forced) - image is being used by"
                f" stopped container {stopped[0][:12]}"
            )
        raise Conflict(
            f'conflict: unable to remove repository reference "{name}" (must force) - container'
            f" {stopped[0][:12]} is using its referenced image {_short(image_id)}"
        )
    records = store.records_of(image_id)
    for r in sorted(records, key=lambda r: r.name != record.name):  # the asked name first
        store.delete_name(r.name)
        if not r.dangling():
            result.append({"Untagged": _familiar(r.name)})
    if users:
        return result  # forced: names gone, content stays while containers use it
    result.append({"Deleted": image_id})
    if not noprune:
        result += _collect(store)
    return result


def _collect(store: ImageStore) -> list[dict[str, str]]:
    """GC after images went: Docker's "Deleted" records of the layers (chain IDs) it removed."""
    layers: list[str] = []
    store.gc(removed_snapshots=layers)
    return [{"Deleted": key} for key in layers]


def _untagged_with(name: str, names: list[str]) -> list[str]:
    """The names removing ``name`` takes away (Docker's rule): itself, and when it is a tag and no
    other tag of its repository remains, that repository's digest references too."""
    ref = parse_reference(name)
    if ref.digest is not None:
        return [name]
    same_repo = [(n, parse_reference(n)) for n in names if n != name]
    same_repo = [(n, r) for n, r in same_repo if r.name() == ref.name()]
    if any(r.digest is None for _, r in same_repo):
        return [name]
    return [name, *(n for n, _ in same_repo)]


def _repos(names: list[str]) -> set[str]:
    out = set()
    for n in names:
        try:
            out.add(parse_reference(n).name())
        except InvalidArgument:
            out.add(n)
    return out


def _looks_like_id(name: str, image_id: str) -> bool:
    hexpart = name.removeprefix("sha256:")
    return (
        len(hexpart) >= 1
        and image_id.removeprefix("sha256:").startswith(hexpart)
        and all(c in "0123456789abcdef" for c in hexpart)
    )


def _familiar(name: str) -> str:
    try:
        return parse_reference(name).familiar()
    except InvalidArgument:
        return name


def prune(
    store: ImageStore,
    dangling_only: bool = True,
    filters: dict[str, list[str]] | None = None,
    in_use: InUse = _no_users,
) -> dict[str, Any]:
    """`docker image prune [-a]`: dangling images (or all unused ones); returns what went."""
    deleted: list[dict[str, str]] = []
    before = disk_usage(store)
    for iid, recs in _by_id(store).items():
        if in_use(iid) or all(r.build_step() for r in recs):  # the build cache's: `builder prune`
            continue
        is_dangling = all(r.dangling() for r in recs)
        if dangling_only and not is_dangling:
            continue
        if filters and "label" in filters:
            labels = (store.config(recs[0]).get("config") or {}).get("Labels") or {}
            if not all(
                (labels.get(v.split("=", 1)[0]) == v.split("=", 1)[1]) if "=" in v else v in labels
                for v in filters["label"]
            ):
                continue
        for r in recs:
            store.delete_name(r.name)
            if not r.dangling():
                deleted.append({"Untagged": _familiar(r.name)})
        deleted.append({"Deleted": iid})
    if deleted:
        deleted += _collect(store)
    return {"ImagesDeleted": deleted or None, "SpaceReclaimed": max(0, before - disk_usage(store))}


def disk_usage(store: ImageStore) -> int:
    total = 0
    for _, size in store.content.list():
        total += size
    return total
