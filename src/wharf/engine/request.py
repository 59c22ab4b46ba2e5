"""A container's configuration as typed values: what the Engine API's create body holds, once
the API edge has decoded it (``api/bodies.py`` checks every field's JSON type with dockerd's
words; ``tests/unit/api/test_typed_values.py`` keeps these declarations and those schemas the
same). From there the engine, specgen, the network manager and volumes read fields of known
types, and the record keeps them (``Container.config``, ``Container.host_config``).

Every field may be absent or null, as in Docker's JSON (Go's zero values), so each is ``X |
None``; keys that are no field of the API are kept as sent (a TypedDict is a dict).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict, cast


class HealthConfig(TypedDict, total=False):
    Test: list[str] | None
    Interval: int | None
    Timeout: int | None
    StartPeriod: int | None
    StartInterval: int | None
    Retries: int | None


class ContainerConfig(TypedDict, total=False):
    Hostname: str | None
    Domainname: str | None
    User: str | None
    AttachStdin: bool | None
    AttachStdout: bool | None
    AttachStderr: bool | None
    ExposedPorts: dict[str, dict[str, Any]] | None
    Tty: bool | None
    OpenStdin: bool | None
    StdinOnce: bool | None
    Env: list[str] | None
    Cmd: list[str] | None
    Healthcheck: HealthConfig | None
    ArgsEscaped: bool | None
    Image: str | None
    Volumes: dict[str, dict[str, Any]] | None
    WorkingDir: str | None
    Entrypoint: list[str] | None
    NetworkDisabled: bool | None
    MacAddress: str | None
    OnBuild: list[str] | None
    Labels: dict[str, str] | None
    StopSignal: str | None
    StopTimeout: int | None
    Shell: list[str] | None


class WeightDevice(TypedDict, total=False):
    Path: str | None
    Weight: int | None


class ThrottleDevice(TypedDict, total=False):
    Path: str | None
    Rate: int | None


class DeviceMapping(TypedDict, total=False):
    PathOnHost: str | None
    PathInContainer: str | None
    CgroupPermissions: str | None


class DeviceRequest(TypedDict, total=False):
    Driver: str | None
    Count: int | None
    DeviceIDs: list[str] | None
    Capabilities: list[list[str]] | None
    Options: dict[str, str] | None


class Ulimit(TypedDict, total=False):
    Name: str | None
    Hard: int | None
    Soft: int | None


class LogConfig(TypedDict, total=False):
    Type: str | None
    Config: dict[str, str] | None


class PortBinding(TypedDict, total=False):
    HostIp: str | None
    HostPort: str | None


class RestartPolicy(TypedDict, total=False):
    Name: str | None
    MaximumRetryCount: int | None


class BindOptions(TypedDict, total=False):
    Propagation: str | None
    NonRecursive: bool | None
    CreateMountpoint: bool | None
    ReadOnlyNonRecursive: bool | None
    ReadOnlyForceRecursive: bool | None


class Driver(TypedDict, total=False):
    Name: str | None
    Options: dict[str, str] | None


class VolumeOptions(TypedDict, total=False):
    NoCopy: bool | None
    Labels: dict[str, str] | None
    Subpath: str | None
    DriverConfig: Driver | None


class TmpfsOptions(TypedDict, total=False):
    SizeBytes: int | None
    Mode: int | None
    Options: list[list[str]] | None


class Mount(TypedDict, total=False):
    Type: str | None
    Source: str | None
    Target: str | None
    ReadOnly: bool | None
    Consistency: str | None
    BindOptions: BindOptions | None
    VolumeOptions: VolumeOptions | None
    TmpfsOptions: TmpfsOptions | None
    ClusterOptions: dict[str, Any] | None


class HostConfig(TypedDict, total=False):
    CpuShares: int | None
    Memory: int | None
    NanoCpus: int | None
    CgroupParent: str | None
    BlkioWeight: int | None
    BlkioWeightDevice: list[WeightDevice] | None
    BlkioDeviceReadBps: list[ThrottleDevice] | None
    BlkioDeviceWriteBps: list[ThrottleDevice] | None
    BlkioDeviceReadIOps: list[ThrottleDevice] | None
    BlkioDeviceWriteIOps: list[ThrottleDevice] | None
    CpuPeriod: int | None
    CpuQuota: int | None
    CpuRealtimePeriod: int | None
    CpuRealtimeRuntime: int | None
    CpusetCpus: str | None
    CpusetMems: str | None
    Devices: list[DeviceMapping] | None
    DeviceCgroupRules: list[str] | None
    DeviceRequests: list[DeviceRequest] | None
    KernelMemory: int | None
    KernelMemoryTCP: int | None
    MemoryReservation: int | None
    MemorySwap: int | None
    MemorySwappiness: int | None
    OomKillDisable: bool | None
    PidsLimit: int | None
    Ulimits: list[Ulimit] | None
    CpuCount: int | None
    CpuPercent: int | None
    IOMaximumIOps: int | None
    IOMaximumBandwidth: int | None
    Binds: list[str] | None
    ContainerIDFile: str | None
    LogConfig: LogConfig | None
    NetworkMode: str | None
    PortBindings: dict[str, list[PortBinding]] | None
    RestartPolicy: RestartPolicy | None
    AutoRemove: bool | None
    VolumeDriver: str | None
    VolumesFrom: list[str] | None
    ConsoleSize: list[int] | None
    Annotations: dict[str, str] | None
    CapAdd: list[str] | None
    CapDrop: list[str] | None
    CgroupnsMode: str | None
    Dns: list[str] | None
    DnsOptions: list[str] | None
    DnsSearch: list[str] | None
    ExtraHosts: list[str] | None
    GroupAdd: list[str] | None
    IpcMode: str | None
    Cgroup: str | None
    Links: list[str] | None
    OomScoreAdj: int | None
    PidMode: str | None
    Privileged: bool | None
    PublishAllPorts: bool | None
    ReadonlyRootfs: bool | None
    SecurityOpt: list[str] | None
    StorageOpt: dict[str, str] | None
    Tmpfs: dict[str, str] | None
    UTSMode: str | None
    UsernsMode: str | None
    ShmSize: int | None
    Sysctls: dict[str, str] | None
    Runtime: str | None
    Isolation: str | None
    Mounts: list[Mount] | None
    MaskedPaths: list[str] | None
    ReadonlyPaths: list[str] | None
    Init: bool | None


class EndpointIPAMConfig(TypedDict, total=False):
    IPv4Address: str | None
    IPv6Address: str | None
    LinkLocalIPs: list[str] | None


class EndpointSettings(TypedDict, total=False):
    IPAMConfig: EndpointIPAMConfig | None
    Links: list[str] | None
    Aliases: list[str] | None
    MacAddress: str | None
    DriverOpts: dict[str, str] | None
    NetworkID: str | None
    EndpointID: str | None
    Gateway: str | None
    IPAddress: str | None
    IPPrefixLen: int | None
    IPv6Gateway: str | None
    GlobalIPv6Address: str | None
    GlobalIPv6PrefixLen: int | None
    DNSNames: list[str] | None


class NetworkingConfig(TypedDict, total=False):
    EndpointsConfig: dict[str, EndpointSettings] | None


@dataclass(frozen=True)
class CreateRequest:
    """POST /containers/create, decoded: the name asked for (``?name=``), Docker's Config (the
    body's top-level fields), HostConfig and NetworkingConfig."""

    name: str | None
    config: ContainerConfig
    host_config: HostConfig = field(default_factory=lambda: HostConfig())
    networking: NetworkingConfig = field(default_factory=lambda: NetworkingConfig())

    @classmethod
    def from_body(cls, name: str | None, body: dict[str, Any]) -> CreateRequest:
        config: Any = {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig")}
        host_config: Any = dict(body.get("HostConfig") or {})
        # docker-py's create_container(runtime=...) puts Runtime beside Config's fields, where
        # dockerd's decoder drops it (its default runtime is then runc): wharf takes it
        if isinstance(config.get("Runtime"), str) and not host_config.get("Runtime"):
            host_config["Runtime"] = config.pop("Runtime")
        networking: Any = dict(body.get("NetworkingConfig") or {})
        return cls(name or None, config, host_config, networking)


def decoded(body: dict[str, Any]) -> HostConfig:
    """A body the API edge has decoded against (a part of) HostConfig's schema, as the typed
    value it now is (POST /containers/{id}/update sends Resources and RestartPolicy)."""
    return cast(HostConfig, body)
