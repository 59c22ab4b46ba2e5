"""The request-body schemas: Go's encoding/json wording at every depth (as the dockerd of the
baseline engine answers, checked against it), StrSlice, null, unknown keys, real clients' bodies."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from wharf.api import bodies
from wharf.api.schema import (
    MAX_DEPTH,
    Array,
    Bool,
    Int,
    List,
    Map,
    Node,
    Ptr,
    Str,
    StrSlice,
    Struct,
    loads,
)
from wharf.errors import InvalidArgument

IMAGE = {"Image": "busybox"}


def decode(schema: Node, raw: str | bytes) -> Any:
    return schema.validate(loads(raw.encode() if isinstance(raw, str) else raw))


def message(schema: Node, raw: str) -> str:
    with pytest.raises(InvalidArgument) as info:
        decode(schema, raw)
    return str(info.value)


C, U = bodies.CONTAINER_CREATE, bodies.CONTAINER_UPDATE
FIELD = "json: cannot unmarshal {} into Go struct field {} of type {}"

WRONG: list[tuple[str, Node, str, str]] = [
    # (what, schema, body, "kind|Struct.path|type")
    ("top-level string", C, '{"Image": 5}', "number|ContainerConfigWrapper.Image|string"),
    ("strslice number", C, '{"Cmd": 5}', "number|ContainerConfigWrapper.Cmd|string"),
    ("strslice object", C, '{"Entrypoint": {}}', "object|ContainerConfigWrapper.Entrypoint|string"),
    ("strslice bad item", C, '{"Cmd": ["a", 3]}', "array|ContainerConfigWrapper.Cmd|string"),
    ("env string", C, '{"Env": "A=1"}', "string|ContainerConfigWrapper.Env|[]string"),
    ("env item", C, '{"Env": [null, 5]}', "number|ContainerConfigWrapper.Env|string"),
    ("labels value", C, '{"Labels": {"a": 1}}', "number|ContainerConfigWrapper.Labels|string"),
    ("exposed ports value", C, '{"ExposedPorts": {"80/tcp": 1}}',
     "number|ContainerConfigWrapper.ExposedPorts|struct {}"),
    ("exposed ports array", C, '{"ExposedPorts": []}',
     "array|ContainerConfigWrapper.ExposedPorts|nat.PortSet"),
    ("stop timeout", C, '{"StopTimeout": "1"}', "string|ContainerConfigWrapper.StopTimeout|int"),
    ("health interval", C, '{"Healthcheck": {"Interval": "5s"}}',
     "string|HealthConfig.Healthcheck.Interval|time.Duration"),
    ("health test", C, '{"Healthcheck": {"Test": "CMD true"}}',
     "string|HealthConfig.Healthcheck.Test|[]string"),
    ("health itself", C, '{"Healthcheck": 5}',
     "number|ContainerConfigWrapper.Healthcheck|container.HealthConfig"),
    ("host config itself", C, '{"HostConfig": 5}',
     "number|ContainerConfigWrapper.HostConfig|container.HostConfig"),
    ("memory string", C, '{"HostConfig": {"Memory": "1g"}}', "string|HostConfig.HostConfig.Memory|int64"),
    ("memory fraction", C, '{"HostConfig": {"Memory": 1.5}}',
     "number 1.5|HostConfig.HostConfig.Memory|int64"),
    ("memory exponent", C, '{"HostConfig": {"Memory": 1e3}}',
     "number 1e3|HostConfig.HostConfig.Memory|int64"),
    ("memory 1.0", C, '{"HostConfig": {"Memory": 1.0}}', "number 1.0|HostConfig.HostConfig.Memory|int64"),
    ("memory bool", C, '{"HostConfig": {"Memory": true}}', "bool|HostConfig.HostConfig.Memory|int64"),
    ("memory 2**63", C, '{"HostConfig": {"Memory": 9223372036854775808}}',
     "number 9223372036854775808|HostConfig.HostConfig.Memory|int64"),
    ("uint16 range", C, '{"HostConfig": {"BlkioWeight": 70000}}',
     "number 70000|HostConfig.HostConfig.BlkioWeight|uint16"),
    ("uint16 negative", C, '{"HostConfig": {"BlkioWeight": -1}}',
     "number -1|HostConfig.HostConfig.BlkioWeight|uint16"),
    ("restart retries", C, '{"HostConfig": {"RestartPolicy": {"MaximumRetryCount": "3"}}}',
     "string|RestartPolicy.HostConfig.RestartPolicy.MaximumRetryCount|int"),
    ("network mode", C, '{"HostConfig": {"NetworkMode": 5}}',
     "number|HostConfig.HostConfig.NetworkMode|container.NetworkMode"),
    ("capadd strslice", C, '{"HostConfig": {"CapAdd": 5}}', "number|HostConfig.HostConfig.CapAdd|string"),
    ("ulimits", C, '{"HostConfig": {"Ulimits": 5}}', "number|HostConfig.HostConfig.Ulimits|[]*units.Ulimit"),
    ("ulimit soft", C, '{"HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": "1"}]}}',
     "string|Ulimit.HostConfig.Ulimits.Soft|int64"),
    ("port bindings", C, '{"HostConfig": {"PortBindings": []}}',
     "array|HostConfig.HostConfig.PortBindings|nat.PortMap"),
    ("port binding list", C, '{"HostConfig": {"PortBindings": {"80/tcp": {"HostPort": "1"}}}}',
     "object|HostConfig.HostConfig.PortBindings|[]nat.PortBinding"),
    ("host port", C, '{"HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": 5}]}}}',
     "number|PortBinding.HostConfig.PortBindings.HostPort|string"),
    ("log config", C, '{"HostConfig": {"LogConfig": {"Config": {"max-size": 10}}}}',
     "number|LogConfig.HostConfig.LogConfig.Config|string"),
    ("tmpfs mode", C, '{"HostConfig": {"Mounts": [{"TmpfsOptions": {"Mode": "x"}}]}}',
     "string|TmpfsOptions.HostConfig.Mounts.TmpfsOptions.Mode|fs.FileMode"),
    ("bind options", C, '{"HostConfig": {"Mounts": [{"BindOptions": {"NonRecursive": 1}}]}}',
     "number|BindOptions.HostConfig.Mounts.BindOptions.NonRecursive|bool"),
    ("volume driver options", C,
     '{"HostConfig": {"Mounts": [{"VolumeOptions": {"DriverConfig": {"Options": {"o": []}}}}]}}',
     "array|Driver.HostConfig.Mounts.VolumeOptions.DriverConfig.Options|string"),
    ("throttle rate", C, '{"HostConfig": {"BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": -5}]}}',
     "number -5|ThrottleDevice.HostConfig.BlkioDeviceReadBps.Rate|uint64"),
    ("weight device", C, '{"HostConfig": {"BlkioWeightDevice": [5]}}',
     "number|HostConfig.HostConfig.BlkioWeightDevice|blkiodev.WeightDevice"),
    ("device requests caps", C, '{"HostConfig": {"DeviceRequests": [{"Capabilities": [["gpu", 1]]}]}}',
     "number|DeviceRequest.HostConfig.DeviceRequests.Capabilities|string"),
    ("console size", C, '{"HostConfig": {"ConsoleSize": "80x24"}}',
     "string|HostConfig.HostConfig.ConsoleSize|[2]uint"),
    ("sysctls", C, '{"HostConfig": {"Sysctls": ["net.ipv4.ip_forward=1"]}}',
     "array|HostConfig.HostConfig.Sysctls|map[string]string"),
    ("ipam config", C, '{"NetworkingConfig": {"EndpointsConfig": {"x": {"IPAMConfig": "s"}}}}',
     "string|EndpointSettings.NetworkingConfig.EndpointsConfig.IPAMConfig|network.EndpointIPAMConfig"),
    ("endpoints", C, '{"NetworkingConfig": {"EndpointsConfig": []}}',
     "array|NetworkingConfig.NetworkingConfig.EndpointsConfig|map[string]*network.EndpointSettings"),
    ("link local ips", C,
     '{"NetworkingConfig": {"EndpointsConfig": {"x": {"IPAMConfig": {"LinkLocalIPs": "fe80::1"}}}}}',
     "string|EndpointIPAMConfig.NetworkingConfig.EndpointsConfig.IPAMConfig.LinkLocalIPs|[]string"),
    ("update memory", U, '{"Memory": "1g"}', "string|UpdateConfig.Memory|int64"),
    ("update restart", U, '{"RestartPolicy": {"MaximumRetryCount": "3"}}',
     "string|RestartPolicy.RestartPolicy.MaximumRetryCount|int"),
    ("update ulimit", U, '{"Ulimits": [{"Soft": "3"}]}', "string|Ulimit.Ulimits.Soft|int64"),
    ("exec cmd is no strslice", bodies.EXEC_CREATE, '{"Cmd": "ls"}', "string|ExecConfig.Cmd|[]string"),
    ("exec console size", bodies.EXEC_CREATE, '{"Cmd": ["ls"], "ConsoleSize": [-1, 2]}',
     "number -1|ExecConfig.ConsoleSize|uint"),
    ("exec start detach", bodies.EXEC_START, '{"Detach": "x"}', "string|ExecStartCheck.Detach|bool"),
    ("network options", bodies.NETWORK_CREATE, '{"Name": "n", "Options": []}',
     "array|NetworkCreateRequest.Options|map[string]string"),
    ("network subnet", bodies.NETWORK_CREATE, '{"Name": "n", "IPAM": {"Config": [{"Subnet": 5}]}}',
     "number|IPAMConfig.IPAM.Config.Subnet|string"),
    ("ipam options", bodies.NETWORK_CREATE, '{"IPAM": {"Options": {"a": 5}}}',
     "number|IPAM.IPAM.Options|string"),
    ("config from", bodies.NETWORK_CREATE, '{"ConfigFrom": "x"}',
     "string|NetworkCreateRequest.ConfigFrom|network.ConfigReference"),
    ("connect container", bodies.NETWORK_CONNECT, '{"Container": 5}',
     "number|NetworkConnect.Container|string"),
    ("connect aliases", bodies.NETWORK_CONNECT, '{"EndpointConfig": {"Aliases": "x"}}',
     "string|EndpointSettings.EndpointConfig.Aliases|[]string"),
    ("disconnect force", bodies.NETWORK_DISCONNECT, '{"Force": "x"}', "string|NetworkDisconnect.Force|bool"),
    ("volume name", bodies.VOLUME_CREATE, '{"Name": 5}', "number|VolumeCreateBody.Name|string"),
    ("volume driver opts", bodies.VOLUME_CREATE, '{"DriverOpts": {"a": 5}}',
     "number|VolumeCreateBody.DriverOpts|string"),
    ("cluster volume spec", bodies.VOLUME_CREATE, '{"ClusterVolumeSpec": 5}',
     "number|VolumeCreateBody.ClusterVolumeSpec|volume.ClusterVolumeSpec"),
    ("commit is a create body", bodies.COMMIT, '{"HostConfig": {"Memory": "x"}}',
     "string|HostConfig.HostConfig.Memory|int64"),
]  # fmt: skip


@pytest.mark.parametrize("what,schema,raw,want", WRONG, ids=[w[0] for w in WRONG])
def test_wrong_types_have_gos_words(what: str, schema: Node, raw: str, want: str) -> None:
    kind, field, go = want.split("|")
    assert message(schema, raw) == FIELD.format(kind, field, go)


def test_outside_any_field_go_names_the_value() -> None:
    assert (
        message(C, "[1]")
        == "json: cannot unmarshal array into Go value of type runconfig.ContainerConfigWrapper"
    )
    assert message(List(str), "{}") == "json: cannot unmarshal object into Go value of type []string"


def test_the_first_wrong_value_is_reported() -> None:
    raw = '{"HostConfig": {"Memory": "x"}, "Image": 5}'
    assert message(C, raw) == FIELD.format("string", "HostConfig.HostConfig.Memory", "int64")
    raw = '{"Image": 5, "HostConfig": {"Memory": "x"}}'
    assert message(C, raw) == FIELD.format("number", "ContainerConfigWrapper.Image", "string")


def test_a_strslice_error_ends_decoding_and_wins() -> None:
    # StrSlice has an UnmarshalJSON of its own: Go returns its error at once, over a saved one
    assert message(C, '{"Env": "x", "Cmd": 5}') == FIELD.format(
        "number", "ContainerConfigWrapper.Cmd", "string"
    )


@pytest.mark.parametrize("field", ["Cmd", "Entrypoint", "Shell"])
def test_strslice_string_becomes_a_list(field: str) -> None:
    assert decode(C, json.dumps({**IMAGE, field: "echo hi"}))[field] == ["echo hi"]
    assert decode(C, json.dumps({**IMAGE, field: ["echo", "hi"]}))[field] == ["echo", "hi"]
    assert decode(C, json.dumps({**IMAGE, field: ["a", None]}))[field] == ["a", ""]
    assert decode(C, json.dumps({**IMAGE, field: None}))[field] is None


def test_capabilities_are_strslices() -> None:
    got = decode(C, '{"HostConfig": {"CapAdd": "NET_ADMIN", "CapDrop": ["ALL"]}}')["HostConfig"]
    assert (got["CapAdd"], got["CapDrop"]) == (["NET_ADMIN"], ["ALL"])


def _every_field_null(node: Node) -> Any:
    """An object of ``node`` (a struct) with each field null, and each struct field's own fields
    null one level down."""
    target = node.target if isinstance(node, Ptr) else node
    assert isinstance(target, Struct)
    out: dict[str, Any] = {}
    for name, sub in target.fields.items():
        out[name] = None
        inner = sub.target if isinstance(sub, Ptr) else sub
        if isinstance(inner, Struct) and inner.fields:
            out[name + "_"] = None  # an unknown key, kept
            out[name] = _every_field_null(inner)
    return out


@pytest.mark.parametrize("route", list(bodies.BODIES))
def test_null_is_accepted_for_every_field(route: str) -> None:
    body = _every_field_null(bodies.BODIES[route])
    assert bodies.BODIES[route].validate(copy.deepcopy(body)) == body


def test_null_items_are_the_zero_value() -> None:
    raw = {
        "Env": [None],
        "Labels": {"a": None},
        "ExposedPorts": {"80/tcp": None},
        "HostConfig": {
            "Ulimits": [None],
            "PortBindings": {"80/tcp": None, "81/tcp": [None]},
            "ConsoleSize": [None, 3],
            "DeviceRequests": [{"Capabilities": [None], "Count": None}],
        },
        "NetworkingConfig": {"EndpointsConfig": {"bridge": None}},
    }
    got = decode(C, json.dumps(raw))
    assert got["Env"] == [""] and got["Labels"] == {"a": ""} and got["ExposedPorts"] == {"80/tcp": {}}
    hc = got["HostConfig"]
    assert hc["Ulimits"] == [{}] and hc["PortBindings"] == {"80/tcp": [], "81/tcp": [{}]}
    assert hc["ConsoleSize"] == [0, 3] and hc["DeviceRequests"] == [{"Capabilities": [[]], "Count": None}]
    assert got["NetworkingConfig"]["EndpointsConfig"] == {"bridge": {}}


def test_go_arrays_are_padded_and_cut() -> None:
    assert decode(bodies.EXEC_START, '{"ConsoleSize": [24]}') == {"ConsoleSize": [24, 0]}
    assert decode(bodies.EXEC_START, '{"ConsoleSize": [24, 80, 1]}') == {"ConsoleSize": [24, 80]}
    assert decode(bodies.EXEC_START, '{"ConsoleSize": []}') == {"ConsoleSize": [0, 0]}


def test_unknown_keys_are_kept_at_every_depth() -> None:
    raw = {
        **IMAGE,
        "NoSuchField": {"deep": [1, 2.5, None]},
        "HostConfig": {"Extra": "x", "RestartPolicy": {"Name": "no", "More": 1}, "Mounts": [{"Zzz": True}]},
        "NetworkingConfig": {"EndpointsConfig": {"n": {"GwPriority": 3}}},
    }
    assert decode(C, json.dumps(raw)) == raw


def test_keys_match_fields_ignoring_case_and_take_their_name() -> None:
    got = decode(
        C, '{"image": "busybox", "HOSTCONFIG": {"memory": 8388608, "restartpolicy": {"name": "no"}}}'
    )
    assert got == {"Image": "busybox", "HostConfig": {"Memory": 8388608, "RestartPolicy": {"Name": "no"}}}
    assert message(C, '{"hostconfig": {"ULIMITS": [{"soft": "1"}]}}') == FIELD.format(
        "string", "Ulimit.HostConfig.Ulimits.Soft", "int64"
    )
    # as in Go: the last of the keys that name a field wins, a null leaves it as it was
    assert decode(C, '{"Image": "a", "image": "b"}') == {"Image": "b"}
    assert decode(C, '{"Image": "a", "image": null}') == {"Image": "a"}


# what `docker run -d -p 8080:80 --restart on-failure:3 --health-cmd true --ulimit nofile=1024:2048
# busybox` sends (docker CLI 28.2, captured)
DOCKER_RUN: dict[str, Any] = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "ExposedPorts": {"80/tcp": {}}, "Tty": False, "OpenStdin": False,
    "StdinOnce": False, "Env": None, "Cmd": None, "Healthcheck": {"Test": ["CMD-SHELL", "true"]},
    "Image": "busybox", "Volumes": {}, "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": {},
    "HostConfig": {
        "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "", "Config": {}},
        "NetworkMode": "default", "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
        "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}, "AutoRemove": False,
        "VolumeDriver": "", "VolumesFrom": None, "ConsoleSize": [0, 0], "CapAdd": None, "CapDrop": None,
        "CgroupnsMode": "", "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": None,
        "GroupAdd": None, "IpcMode": "", "Cgroup": "", "Links": None, "OomScoreAdj": 0, "PidMode": "",
        "Privileged": False, "PublishAllPorts": False, "ReadonlyRootfs": False, "SecurityOpt": None,
        "UTSMode": "", "UsernsMode": "", "ShmSize": 0, "Isolation": "", "CpuShares": 0, "Memory": 0,
        "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [], "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "", "Devices": [],
        "DeviceCgroupRules": None, "DeviceRequests": None, "MemoryReservation": 0, "MemorySwap": 0,
        "MemorySwappiness": -1, "OomKillDisable": False, "PidsLimit": 0,
        "Ulimits": [{"Name": "nofile", "Hard": 2048, "Soft": 1024}], "CpuCount": 0, "CpuPercent": 0,
        "IOMaximumIOps": 0, "IOMaximumBandwidth": 0, "MaskedPaths": None, "ReadonlyPaths": None,
    },
    "NetworkingConfig": {"EndpointsConfig": {"default": {
        "IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "DriverOpts": None,
        "GwPriority": 0, "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
        "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "DNSNames": None,
    }}},
}  # fmt: skip

# docker-py 7's containers.run(..., mounts=[Mount(...)], healthcheck=..., device_requests=...)
DOCKER_PY: dict[str, Any] = {
    "Image": "busybox", "Cmd": ["sleep", "60"], "Env": ["A=1"], "Labels": {"x": "y"},
    "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5_000_000_000, "Timeout": 1_000_000_000,
                    "Retries": 3, "StartPeriod": 0},
    "StopSignal": "SIGTERM", "StopTimeout": 5, "Volumes": {"/data": {}},
    "HostConfig": {
        "Mounts": [
            {"Target": "/m", "Source": "vol", "Type": "volume", "ReadOnly": False,
             "VolumeOptions": {"NoCopy": True, "Labels": {"a": "b"},
                               "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs"}}}},
            {"Target": "/b", "Source": "/tmp", "Type": "bind", "BindOptions": {"Propagation": "rprivate"}},
            {"Target": "/t", "Type": "tmpfs", "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1777}},
        ],
        "Tmpfs": {"/run": "rw,size=1m"}, "Sysctls": {"net.ipv4.ip_forward": "1"},
        "ExtraHosts": ["h:1.2.3.4"], "Dns": ["1.1.1.1"], "DnsSearch": ["x"], "DnsOptions": ["ndots:1"],
        "Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/n", "CgroupPermissions": "rwm"}],
        "DeviceRequests": [{"Driver": "", "Count": -1, "DeviceIDs": None, "Capabilities": [["gpu"]],
                            "Options": {}}],
        "BlkioWeightDevice": [{"Path": "/dev/sda", "Weight": 100}],
        "BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1 << 20}],
        "PidsLimit": -1, "Init": True, "OomKillDisable": None, "SecurityOpt": ["no-new-privileges"],
        "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m"}},
    },
    "NetworkingConfig": {"EndpointsConfig": {"net": {
        "Aliases": ["a"], "Links": ["c:d"], "DriverOpts": {"o": "v"},
        "IPAMConfig": {"IPv4Address": "10.0.0.5", "LinkLocalIPs": ["169.254.0.5"]},
    }}},
}  # fmt: skip


@pytest.mark.parametrize("body", [DOCKER_RUN, DOCKER_PY], ids=["docker-cli-run", "docker-py-run"])
def test_real_clients_bodies_pass_unchanged(body: dict[str, Any]) -> None:
    assert decode(C, json.dumps(body)) == body


VALID: list[tuple[Node, dict[str, Any]]] = [
    (U, {"Memory": 64 << 20, "MemorySwap": -1, "CpuShares": 512, "RestartPolicy": {"Name": "always"}}),
    (bodies.EXEC_CREATE, {"Cmd": ["sh", "-c", "true"], "Env": ["A=1"], "User": "0", "WorkingDir": "/",
                          "Tty": True, "AttachStdin": False, "AttachStdout": True, "AttachStderr": True,
                          "DetachKeys": "ctrl-p,ctrl-q", "Privileged": False, "ConsoleSize": [24, 80]}),
    (bodies.EXEC_START, {"Detach": False, "Tty": True, "ConsoleSize": [24, 80]}),
    (bodies.NETWORK_CREATE, {"Name": "n", "Driver": "bridge", "CheckDuplicate": True, "Internal": False,
                             "Attachable": False, "Ingress": False, "EnableIPv6": False, "Scope": "local",
                             "ConfigOnly": False, "ConfigFrom": {"Network": ""},
                             "IPAM": {"Driver": "default", "Options": {},
                                      "Config": [{"Subnet": "10.9.0.0/24", "IPRange": "10.9.0.0/25",
                                                  "Gateway": "10.9.0.1",
                                                  "AuxiliaryAddresses": {"h": "10.9.0.2"}}]},
                             "Options": {"com.docker.network.bridge.name": "br9"}, "Labels": {"a": "b"}}),
    (bodies.NETWORK_CONNECT, {"Container": "c", "EndpointConfig": {"Aliases": ["x"], "IPAMConfig": None}}),
    (bodies.NETWORK_DISCONNECT, {"Container": "c", "Force": True}),
    (bodies.VOLUME_CREATE, {"Name": "v", "Driver": "local", "DriverOpts": {"type": "tmpfs"}, "Labels": {},
                            "ClusterVolumeSpec": {"Group": "g", "AccessMode": {"Scope": "single"}}}),
]  # fmt: skip


@pytest.mark.parametrize("schema,body", VALID, ids=[s.go for s, _ in VALID])
def test_valid_bodies_pass_unchanged(schema: Node, body: dict[str, Any]) -> None:
    assert decode(schema, json.dumps(body)) == body


def test_integers_in_range_are_accepted() -> None:
    hc = {
        "Memory": (1 << 63) - 1,
        "CpuQuota": -(1 << 63),
        "BlkioWeight": 65535,
        "IOMaximumIOps": (1 << 64) - 1,
    }
    assert decode(C, json.dumps({"HostConfig": hc}))["HostConfig"] == hc
    assert message(C, '{"HostConfig": {"IOMaximumIOps": 18446744073709551616}}') == FIELD.format(
        "number 18446744073709551616", "HostConfig.HostConfig.IOMaximumIOps", "uint64"
    )


# --- the parser


def test_loads_refuses_what_go_refuses() -> None:
    for raw in (b'{"Image": NaN}', b'{"Memory": Infinity}', b'{"Memory": -Infinity}'):
        with pytest.raises(InvalidArgument, match="^invalid JSON: invalid character"):
            loads(raw)
    with pytest.raises(InvalidArgument, match="^invalid JSON: "):
        loads(b"{not json")


def test_loads_replaces_bad_text_as_go_does() -> None:
    assert loads(b'{"a": "\\ud800x", "\\udfff": ["\\ud83d\\ude00"]}') == {
        "a": "\ufffdx",
        "\ufffd": ["\U0001f600"],
    }
    assert loads(b'{"a": "\xff\xfe"}') == {"a": "\ufffd\ufffd"}


def test_loads_keeps_a_numbers_literal_for_the_message() -> None:
    assert message(U, '{"Memory": 1.50}') == FIELD.format("number 1.50", "UpdateConfig.Memory", "int64")
    assert message(U, '{"Memory": -2E-3}') == FIELD.format("number -2E-3", "UpdateConfig.Memory", "int64")


def test_loads_limits_nesting() -> None:
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads(ok.encode()) is not None
    deep = '{"a": ' + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "}"
    # Go's words, naming the bracket that goes too deep
    with pytest.raises(InvalidArgument, match="^invalid character '\\[' exceeded max depth$"):
        loads(deep.encode())
    with pytest.raises(InvalidArgument, match="^invalid character '\\[' exceeded max depth$"):
        loads(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(InvalidArgument, match="^invalid character '{' exceeded max depth$"):
        loads(b'{"a":' * 100_000)  # unterminated too: the depth is what Go reports first
    # brackets inside strings do not count
    assert loads(json.dumps({"a": "[" * 10_000}).encode()) == {"a": "[" * 10_000}


# --- the notation


def test_shorthands_compile_to_nodes() -> None:
    s = Struct("pkg.T", {"a": str, "b": bool, "c": int, "d": [str], "e": ("map", [int]), "f": Array(str, 2)})
    assert [type(n) for n in s.fields.values()] == [Str, Bool, Int, List, Map, Array]
    assert [n.go for n in s.fields.values()] == [
        "string",
        "bool",
        "int",
        "[]string",
        "map[string][]int",
        "[2]string",
    ]
    assert isinstance(bodies.CONTAINER_CREATE.fields["Cmd"], StrSlice)
    with pytest.raises(TypeError):
        Struct("pkg.T", {"a": float})


def test_embedded_fields_belong_to_the_outer_struct() -> None:
    assert set(bodies.RESOURCES.fields) < set(bodies.HOST_CONFIG.fields)
    assert set(bodies.RESOURCES.fields) < set(U.fields) and "RestartPolicy" in U.fields
    assert message(C, '{"HostConfig": {"CpuShares": "x"}}') == FIELD.format(
        "string", "HostConfig.HostConfig.CpuShares", "int64"
    )
