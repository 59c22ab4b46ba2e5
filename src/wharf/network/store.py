"""Networks and their address allocations: ``<data-root>/network/networks.db`` (SQLite, WAL,
synchronous=FULL, one transaction per change).

Schema (migration 1)::

    networks
    ├── id        TEXT PK      64 hex, as Docker's network IDs
    ├── name      TEXT UNIQUE
    ├── driver    TEXT         "bridge" (the predefined "host"/"none" are not stored)
    ├── bridge    TEXT         the Linux bridge's name
    ├── subnet    TEXT         "172.18.0.0/16"
    ├── gateway   TEXT         "172.18.0.1"
    ├── ip_range  TEXT         "" or a CIDR inside the subnet that dynamic addresses come from
    ├── internal  INTEGER      no NAT to the outside
    ├── options   TEXT         JSON object (driver options as given)
    ├── labels    TEXT         JSON object
    ├── created   TEXT         RFC 3339
    ├── subnet6   TEXT         "" or the IPv6 subnet of a network with IPv6 enabled  (migration 2)
    └── gateway6  TEXT         "" or its gateway                                      (migration 2)
    allocations
    ├── network_id TEXT → networks.id
    ├── address    TEXT        one IPv4 or IPv6 address
    ├── owner      TEXT        the container (endpoint) holding it
    └── PRIMARY KEY (network_id, address)      no address is handed out twice, across restarts

IPAM: dynamic addresses are the lowest free host address of the ip range (or the subnet),
never the network address, the broadcast address or the gateway.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from wharf.base.sqlite import open_db, transaction
from wharf.errors import AlreadyExists, Forbidden, NotFound
from wharf.network.ipam import check_requested

SCHEMA = [
    """
    CREATE TABLE networks (
        id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, driver TEXT NOT NULL, bridge TEXT NOT NULL,
        subnet TEXT NOT NULL, gateway TEXT NOT NULL, ip_range TEXT NOT NULL DEFAULT '',
        internal INTEGER NOT NULL DEFAULT 0, options TEXT NOT NULL DEFAULT '{}',
        labels TEXT NOT NULL DEFAULT '{}', created TEXT NOT NULL
    );
    CREATE TABLE allocations (
        network_id TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
        address TEXT NOT NULL, owner TEXT NOT NULL, PRIMARY KEY (network_id, address)
    );
    CREATE INDEX allocations_owner ON allocations(owner);
    """,
    """
    ALTER TABLE networks ADD COLUMN subnet6 TEXT NOT NULL DEFAULT '';
    ALTER TABLE networks ADD COLUMN gateway6 TEXT NOT NULL DEFAULT '';
    """,
    # what the network was created with and inspect shows as given: IPAM's driver, options
    # (null when none were sent) and auxiliary addresses, Attachable
    """
    ALTER TABLE networks ADD COLUMN asked TEXT NOT NULL DEFAULT '{}';
    """,
]


@dataclass
class Network:
    id: str
    name: str
    driver: str
    bridge: str
    subnet: str
    gateway: str
    ip_range: str = ""
    internal: bool = False
    options: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    created: str = ""
    subnet6: str = ""
    gateway6: str = ""
    asked: dict[str, Any] = field(default_factory=dict)

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

    @property
    def prefixlen6(self) -> int:
        return ipaddress.ip_network(self.subnet6).prefixlen if self.subnet6 else 0


class NetworkStore:
    def __init__(self, root: str) -> None:
        os.makedirs(root, 0o700, exist_ok=True)
        self.db = open_db(f"{root}/networks.db", SCHEMA, foreign_keys=True)

    def txn(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.db)

    def close(self) -> None:
        self.db.close()

    # --- networks

    def add(self, n: Network) -> None:
        try:
            with self.txn() as db:
                db.execute(
                    "INSERT INTO networks VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (n.id, n.name, n.driver, n.bridge, n.subnet, n.gateway, n.ip_range, int(n.internal),
                     json.dumps(n.options), json.dumps(n.labels), n.created, n.subnet6, n.gateway6,
                     json.dumps(n.asked)),
                )  # fmt: skip
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"network with name {n.name} already exists") from None

    def remove(self, nid: str) -> None:
        with self.txn() as db:
            db.execute("DELETE FROM networks WHERE id = ?", (nid,))

    def all(self) -> list[Network]:
        rows = self.db.execute("SELECT * FROM networks ORDER BY created").fetchall()
        return [_network(r) for r in rows]

    # --- addresses

    def allocated(self, nid: str) -> dict[str, str]:
        rows = self.db.execute("SELECT address, owner FROM allocations WHERE network_id = ?", (nid,))
        return {a: o for a, o in rows}

    def allocate(self, n: Network, owner: str, wanted: str = "", v6: bool = False) -> str:
        """An address for ``owner`` on ``n`` (its IPv6 subnet if ``v6``): ``wanted`` if given (and
        free), else the lowest free one."""
        subnet = ipaddress.ip_network(n.subnet6 if v6 else n.subnet)
        gateway = n.gateway6 if v6 else n.gateway
        ip_range = "" if v6 else n.ip_range
        with self.txn() as db:
            taken = {
                a for (a,) in db.execute("SELECT address FROM allocations WHERE network_id = ?", (n.id,))
            }
            if wanted:
                check_requested(wanted, str(subnet), f"IPv{6 if v6 else 4}")
                addr = ipaddress.ip_address(wanted)
                wanted = str(addr)
                if (
                    wanted in taken
                    or wanted == gateway
                    or addr == subnet.network_address
                    or (not v6 and addr == subnet.broadcast_address)
                ):
                    raise Forbidden(f"Address already in use: {wanted}")  # fmt: skip
                chosen = wanted
            else:
                chosen = _first_free(subnet, ip_range, gateway, taken)
            db.execute("INSERT INTO allocations VALUES (?,?,?)", (n.id, chosen, owner))
        return chosen

    def release(self, owner: str, nid: str | None = None) -> None:
        with self.txn() as db:
            if nid is None:
                db.execute("DELETE FROM allocations WHERE owner = ?", (owner,))
            else:
                db.execute("DELETE FROM allocations WHERE owner = ? AND network_id = ?", (owner, nid))

    def owners(self) -> set[str]:
        return {o for (o,) in self.db.execute("SELECT DISTINCT owner FROM allocations")}


def _first_free(subnet: Any, ip_range: str, gateway: str, taken: set[str]) -> str:
    pool = ipaddress.ip_network(ip_range) if ip_range else subnet
    for addr in pool.hosts() if pool.prefixlen < 31 else pool:
        s = str(addr)
        if s == gateway or s in taken or addr in (subnet.network_address, subnet.broadcast_address):
            continue
        return s
    raise Forbidden(f"no available IPv{pool.version} addresses on this network's address pools: {pool}")


def _network(r: tuple[Any, ...]) -> Network:
    return Network(
        id=r[0], name=r[1], driver=r[2], bridge=r[3], subnet=r[4], gateway=r[5], ip_range=r[6],
        internal=bool(r[7]), options=json.loads(r[8]), labels=json.loads(r[9]), created=r[10],
        subnet6=r[11], gateway6=r[12], asked=json.loads(r[13]),
    )  # fmt: skip


__all__ = ["Network", "NetworkStore", "NotFound"]
