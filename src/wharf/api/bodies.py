"""The request bodies of the Engine API, as the Go structs dockerd decodes them into.

Fields: the v1.47 spec's, with what v1.41 clients still send (``KernelMemory``,
``CheckDuplicate``) and the fields the Go structs have beyond the spec (``ExecConfig.Detach``).
Struct and type names, which the error messages carry, are those of the dockerd API 1.41 of
the baseline engine (``ContainerConfigWrapper``, ``ExecConfig``, ``VolumeCreateBody``...);
fields it does not know are named as in the API 1.47 sources. See ``schema.py`` for the
notation.
"""

from __future__ import annotations

from wharf.api.schema import (
    DURATION,
    FILEMODE,
    INT,
    INT64,
    STRSLICE,
    UINT,
    UINT16,
    UINT64,
    Array,
    List,
    Map,
    Ptr,
    Str,
    Struct,
)

_STRINGS = ("map", str)
_EMPTY = Struct("struct {}", {})  # the values of ExposedPorts and Volumes: any object

# --- container config (container.Config)

HEALTH_CONFIG = Struct(
    "container.HealthConfig",
    {
        "Test": [str],
        "Interval": DURATION,
        "Timeout": DURATION,
        "StartPeriod": DURATION,
        "StartInterval": DURATION,
        "Retries": INT,
    },
)

CONFIG_FIELDS = {
    "Hostname": str,
    "Domainname": str,
    "User": str,
    "AttachStdin": bool,
    "AttachStdout": bool,
    "AttachStderr": bool,
    "ExposedPorts": Map(_EMPTY, go="nat.PortSet"),
    "Tty": bool,
    "OpenStdin": bool,
    "StdinOnce": bool,
    "Env": [str],
    "Cmd": STRSLICE,
    "Healthcheck": HEALTH_CONFIG,
    "ArgsEscaped": bool,
    "Image": str,
    "Volumes": Map(_EMPTY),
    "WorkingDir": str,
    "Entrypoint": STRSLICE,
    "NetworkDisabled": bool,
    "MacAddress": str,
    "OnBuild": [str],
    "Labels": _STRINGS,
    "StopSignal": str,
    "StopTimeout": INT,
    "Shell": STRSLICE,
}

# --- host config (container.HostConfig, container.Resources embedded)

RESTART_POLICY = Struct("container.RestartPolicy", {"Name": str, "MaximumRetryCount": INT})

WEIGHT_DEVICE = Struct("blkiodev.WeightDevice", {"Path": str, "Weight": UINT16})
THROTTLE_DEVICE = Struct("blkiodev.ThrottleDevice", {"Path": str, "Rate": UINT64})
DEVICE_MAPPING = Struct(
    "container.DeviceMapping", {"PathOnHost": str, "PathInContainer": str, "CgroupPermissions": str}
)
DEVICE_REQUEST = Struct(
    "container.DeviceRequest",
    {"Driver": str, "Count": INT, "DeviceIDs": [str], "Capabilities": [[str]], "Options": _STRINGS},
)
ULIMIT = Struct("units.Ulimit", {"Name": str, "Hard": INT64, "Soft": INT64})

RESOURCES = Struct(
    "container.Resources",
    {
        "CpuShares": INT64,
        "Memory": INT64,
        "NanoCpus": INT64,
        "CgroupParent": str,
        "BlkioWeight": UINT16,
        "BlkioWeightDevice": [Ptr(WEIGHT_DEVICE)],
        "BlkioDeviceReadBps": [Ptr(THROTTLE_DEVICE)],
        "BlkioDeviceWriteBps": [Ptr(THROTTLE_DEVICE)],
        "BlkioDeviceReadIOps": [Ptr(THROTTLE_DEVICE)],
        "BlkioDeviceWriteIOps": [Ptr(THROTTLE_DEVICE)],
        "CpuPeriod": INT64,
        "CpuQuota": INT64,
        "CpuRealtimePeriod": INT64,
        "CpuRealtimeRuntime": INT64,
        "CpusetCpus": str,
        "CpusetMems": str,
        "Devices": [DEVICE_MAPPING],
        "DeviceCgroupRules": [str],
        "DeviceRequests": [DEVICE_REQUEST],
        "KernelMemory": INT64,
        "KernelMemoryTCP": INT64,
        "MemoryReservation": INT64,
        "MemorySwap": INT64,
        "MemorySwappiness": INT64,
        "OomKillDisable": bool,
        "PidsLimit": INT64,
        "Ulimits": [Ptr(ULIMIT)],
        "CpuCount": INT64,
        "CpuPercent": INT64,
        "IOMaximumIOps": UINT64,
        "IOMaximumBandwidth": UINT64,
    },
)

LOG_CONFIG = Struct("container.LogConfig", {"Type": str, "Config": _STRINGS})
PORT_BINDING = Struct("nat.PortBinding", {"HostIp": str, "HostPort": str})

MOUNT = Struct(
    "mount.Mount",
    {
        "Type": Str("mount.Type"),
        "Source": str,
        "Target": str,
        "ReadOnly": bool,
        "Consistency": Str("mount.Consistency"),
        "BindOptions": Struct(
            "mount.BindOptions",
            {
                "Propagation": Str("mount.Propagation"),
                "NonRecursive": bool,
                "CreateMountpoint": bool,
                "ReadOnlyNonRecursive": bool,
                "ReadOnlyForceRecursive": bool,
            },
        ),
        "VolumeOptions": Struct(
            "mount.VolumeOptions",
            {
                "NoCopy": bool,
                "Labels": _STRINGS,
                "Subpath": str,
                "DriverConfig": Struct("mount.Driver", {"Name": str, "Options": _STRINGS}),
            },
        ),
        "TmpfsOptions": Struct(
            "mount.TmpfsOptions", {"SizeBytes": INT64, "Mode": FILEMODE, "Options": [[str]]}
        ),
        "ClusterOptions": Struct("mount.ClusterOptions", {}),
    },
)

HOST_CONFIG = RESOURCES.extend(
    "container.HostConfig",
    {
        "Binds": [str],
        "ContainerIDFile": str,
        "LogConfig": LOG_CONFIG,
        "NetworkMode": Str("container.NetworkMode"),
        "PortBindings": Map(List(PORT_BINDING), go="nat.PortMap"),
        "RestartPolicy": RESTART_POLICY,
        "AutoRemove": bool,
        "VolumeDriver": str,
        "VolumesFrom": [str],
        "ConsoleSize": Array(UINT, 2),
        "Annotations": _STRINGS,
        "CapAdd": STRSLICE,
        "CapDrop": STRSLICE,
        "CgroupnsMode": Str("container.CgroupnsMode"),
        "Dns": [str],
        "DnsOptions": [str],
        "DnsSearch": [str],
        "ExtraHosts": [str],
        "GroupAdd": [str],
        "IpcMode": Str("container.IpcMode"),
        "Cgroup": Str("container.CgroupSpec"),
        "Links": [str],
        "OomScoreAdj": INT,
        "PidMode": Str("container.PidMode"),
        "Privileged": bool,
        "PublishAllPorts": bool,
        "ReadonlyRootfs": bool,
        "SecurityOpt": [str],
        "StorageOpt": _STRINGS,
        "Tmpfs": _STRINGS,
        "UTSMode": Str("container.UTSMode"),
        "UsernsMode": Str("container.UsernsMode"),
        "ShmSize": INT64,
        "Sysctls": _STRINGS,
        "Runtime": str,
        "Isolation": Str("container.Isolation"),
        "Mounts": [MOUNT],
        "MaskedPaths": [str],
        "ReadonlyPaths": [str],
        "Init": bool,
    },
)

# --- networking (network.EndpointSettings and around)

ENDPOINT_SETTINGS = Struct(
    "network.EndpointSettings",
    {
        "IPAMConfig": Struct(
            "network.EndpointIPAMConfig", {"IPv4Address": str, "IPv6Address": str, "LinkLocalIPs": [str]}
        ),
        "Links": [str],
        "Aliases": [str],
        "MacAddress": str,
        "DriverOpts": _STRINGS,
        "NetworkID": str,
        "EndpointID": str,
        "Gateway": str,
        "IPAddress": str,
        "IPPrefixLen": INT,
        "IPv6Gateway": str,
        "GlobalIPv6Address": str,
        "GlobalIPv6PrefixLen": INT,
        "DNSNames": [str],
    },
)

NETWORKING_CONFIG = Struct("network.NetworkingConfig", {"EndpointsConfig": ("map", Ptr(ENDPOINT_SETTINGS))})

# --- the bodies

# POST /containers/create and POST /commit (dockerd decodes both into the wrapper; container.Config
# is embedded in it, so its fields are the wrapper's in messages)
CONTAINER_CREATE = Struct(
    "runconfig.ContainerConfigWrapper",
    {**CONFIG_FIELDS, "HostConfig": HOST_CONFIG, "NetworkingConfig": NETWORKING_CONFIG},
)
COMMIT = CONTAINER_CREATE

# POST /containers/{id}/update
CONTAINER_UPDATE = RESOURCES.extend("container.UpdateConfig", {"RestartPolicy": RESTART_POLICY})

# POST /containers/{id}/exec
EXEC_CREATE = Struct(
    "types.ExecConfig",
    {
        "User": str,
        "Privileged": bool,
        "Tty": bool,
        "ConsoleSize": Array(UINT, 2),
        "AttachStdin": bool,
        "AttachStderr": bool,
        "AttachStdout": bool,
        "Detach": bool,
        "DetachKeys": str,
        "Env": [str],
        "WorkingDir": str,
        "Cmd": [str],
    },
)

# POST /exec/{id}/start
EXEC_START = Struct("types.ExecStartCheck", {"Detach": bool, "Tty": bool, "ConsoleSize": Array(UINT, 2)})

# POST /networks/create (types.NetworkCreate embedded)
NETWORK_CREATE = Struct(
    "types.NetworkCreateRequest",
    {
        "Name": str,
        "CheckDuplicate": bool,
        "Driver": str,
        "Scope": str,
        "EnableIPv6": bool,
        "IPAM": Struct(
            "network.IPAM",
            {
                "Driver": str,
                "Options": _STRINGS,
                "Config": [
                    Struct(
                        "network.IPAMConfig",
                        {"Subnet": str, "IPRange": str, "Gateway": str, "AuxiliaryAddresses": _STRINGS},
                    )
                ],
            },
        ),
        "Internal": bool,
        "Attachable": bool,
        "Ingress": bool,
        "ConfigOnly": bool,
        "ConfigFrom": Struct("network.ConfigReference", {"Network": str}),
        "Options": _STRINGS,
        "Labels": _STRINGS,
    },
)

# POST /networks/{id}/connect, /disconnect
NETWORK_CONNECT = Struct("types.NetworkConnect", {"Container": str, "EndpointConfig": ENDPOINT_SETTINGS})
NETWORK_DISCONNECT = Struct("types.NetworkDisconnect", {"Container": str, "Force": bool})

# POST /volumes/create
VOLUME_CREATE = Struct(
    "volume.VolumeCreateBody",
    {
        "Name": str,
        "Driver": str,
        "DriverOpts": _STRINGS,
        "Labels": _STRINGS,
        "ClusterVolumeSpec": Struct("volume.ClusterVolumeSpec", {}),  # swarm's: taken as it comes
    },
)

BODIES = {
    "POST /containers/create": CONTAINER_CREATE,
    "POST /containers/{id}/update": CONTAINER_UPDATE,
    "POST /containers/{id}/exec": EXEC_CREATE,
    "POST /exec/{id}/start": EXEC_START,
    "POST /commit": COMMIT,
    "POST /networks/create": NETWORK_CREATE,
    "POST /networks/{id}/connect": NETWORK_CONNECT,
    "POST /networks/{id}/disconnect": NETWORK_DISCONNECT,
    "POST /volumes/create": VOLUME_CREATE,
}
