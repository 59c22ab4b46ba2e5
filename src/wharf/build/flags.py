"""The typed values inside an instruction's flags: BuildKit's BFlags (``--from=``, ``--link``),
``RUN --mount=`` / ``--device=`` specs, and Go's durations for HEALTHCHECK.

Kept apart from instructions.py so that each stays small; the messages are BuildKit's
(``unknown flag: --foo``, ``unsupported mount type "x"``), since they are what ``docker build``
users read and search for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from wharf.base.units import ram_in_bytes
from wharf.build.shell import go_quote
from wharf.errors import InvalidArgument

MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
SHARING_MODES = ("shared", "private", "locked")
_FILE_INFO_TYPES = ("secret", "ssh", "cache")  # the mounts that take mode/uid/gid
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")
Expander = Callable[[str], str]  # a word with the stage's variables expanded


class FlagError(InvalidArgument):
    """A flag or a flag's value is wrong; instructions.py adds the line."""


class Kind(Enum):
    BOOL = "bool"
    STRING = "string"
    STRINGS = "strings"  # may be repeated; every value kept


class Flags:
    """BuildKit's BFlags: an instruction declares the flags it takes, then ``parse`` checks the
    raw ``--name[=value]`` words against them. Values of bool flags are ``"true"``/``"false"``
    as in BuildKit, so "given" and "given as false" can be told apart through ``used``."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.kinds: dict[str, Kind] = {}
        self.values: dict[str, str] = {}
        self.lists: dict[str, list[str]] = {}
        self.used: list[str] = []

    def add(self, name: str, kind: Kind, default: str = "") -> None:
        self.kinds[name] = kind
        self.values[name] = ("true" if default == "true" else "false") if kind is Kind.BOOL else default
        self.lists[name] = []

    def value(self, name: str) -> str:
        return self.values[name]

    def true(self, name: str) -> bool:
        return self.values[name] == "true"

    def parse(self) -> None:
        for arg in self.args:
            if arg == "--":
                return  # POSIX: the end of the options
            if not arg.startswith("--"):
                raise FlagError(f"arg should start with -- : {arg}")
            flag, has_value, value = arg.partition("=")
            name = flag[2:]
            kind = self.kinds.get(name)
            if kind is None:
                raise FlagError(f"unknown flag: {flag}")
            if name in self.used and kind is not Kind.STRINGS:
                raise FlagError(f"duplicate flag specified: {flag}")
            self.used.append(name)
            if kind is Kind.BOOL:
                if has_value and not value:
                    raise FlagError(f"missing a value on flag: {flag}")
                if value.lower() not in ("true", "false", ""):
                    raise FlagError(f"expecting boolean value for flag {flag}, not: {value}")
                self.values[name] = "false" if value.lower() == "false" else "true"
            elif not has_value:
                raise FlagError(f"missing a value on flag: {flag}")
            elif kind is Kind.STRING:
                self.values[name] = value
            else:
                self.lists[name].append(value)


def go_bool(value: str) -> bool | None:
    """Go's strconv.ParseBool; None for a word it refuses."""
    return True if value in _TRUE else False if value in _FALSE else None


# --- Go durations -------------------------------------------------------------------------------

_UNITS = {"ns": 1, "us": 1000, "\u00b5s": 1000, "\u03bcs": 1000, "ms": 10**6, "s": 10**9,
          "m": 60 * 10**9, "h": 3600 * 10**9}  # fmt: skip
_MAX = 1 << 63


def _time_quote(s: str) -> str:
    """The time package's own quoting: non-ASCII and control bytes as ``\\x..``."""
    out = ['"']
    for ch in s:
        if ord(ch) >= 0x80 or ch < " ":
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
        else:
            out.append("\\" + ch if ch in '"\\' else ch)
    return "".join(out) + '"'


def go_duration(s: str) -> int:
    """Go's time.ParseDuration in nanoseconds (``1m30s``, ``.5h``, ``-1.5ms``), with its errors
    (``time: missing unit in duration "1"``)."""
    invalid = FlagError("time: invalid duration " + _time_quote(s))
    rest, neg = s, False
    if rest[:1] in ("-", "+"):
        neg, rest = rest[0] == "-", rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise invalid
    total = 0
    while rest:
        m = re.match(r"([0-9]*)(?:\.([0-9]*))?", rest)
        assert m is not None  # the pattern matches the empty string
        whole, frac = m.group(1), m.group(2)
        if not whole and not frac:
            raise invalid  # no digits before the unit (".s", "s")
        rest = rest[m.end() :]
        unit_m = re.match(r"[^0-9.]*", rest)
        unit = unit_m.group(0) if unit_m else ""
        if not unit:
            raise FlagError("time: missing unit in duration " + _time_quote(s))
        if unit not in _UNITS:
            raise FlagError("time: unknown unit " + _time_quote(unit) + " in duration " + _time_quote(s))
        rest = rest[len(unit) :]
        v = int(whole or "0") * _UNITS[unit]
        if frac:
            v += int(int(frac[:18]) * (_UNITS[unit] / 10 ** len(frac[:18])))
        total += v
        if v > _MAX or total > _MAX:
            raise invalid
    if not neg and total > _MAX - 1:
        raise invalid
    return -total if neg else total


# --- RUN --mount and --device ---------------------------------------------------------------------


@dataclass
class Mount:
    """One ``RUN --mount=``, with BuildKit's defaults: type bind; read-only for bind, secret
    and ssh mounts, writable for cache and tmpfs unless ``ro``/``rw`` says otherwise."""

    type: str = "bind"
    from_: str = ""
    source: str = ""
    target: str = ""
    readonly: bool = False
    size: int = 0  # tmpfs only, bytes
    id: str = ""  # cache id, or the secret's / ssh agent's id
    sharing: str = ""  # cache only: shared (BuildKit's default when unset), private, locked
    required: bool = False  # secret and ssh only
    env: str | None = None  # secret only: also expose it as this variable
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None


@dataclass
class Device:
    """One ``RUN --device=name[,required]`` (a CDI device)."""

    name: str
    required: bool = False


def csv_fields(value: str) -> list[str]:
    """One CSV record as Go's encoding/csv reads it (BuildKit's csvvalue): ``"`` quoting with
    ``""`` inside; a quote in an unquoted field is an error."""
    if value.endswith("\n"):
        value = value[:-2] if value.endswith("\r\n") else value[:-1]
    if not value:
        raise FlagError("EOF")
    fields: list[str] = []
    pos = 0
    while True:
        if not value.startswith('"', pos):
            end = value.find(",", pos)
            field = value[pos:] if end < 0 else value[pos:end]
            if '"' in field:
                raise FlagError(_csv_error(value, pos + field.index('"'), 'bare " in non-quoted-field'))
            fields.append(field)
            if end < 0:
                return fields
            pos = end + 1
            continue
        pos, field = _quoted_field(value, pos + 1)
        fields.append(field)
        if pos >= len(value):
            return fields
        pos += 1  # the comma


def _quoted_field(value: str, pos: int) -> tuple[int, str]:
    """The field from just after its opening quote: the position after its closing quote."""
    parts: list[str] = []
    while True:
        end = value.find('"', pos)
        if end < 0:
            raise FlagError(_csv_error(value, pos, 'extraneous or missing " in quoted-field'))
        parts.append(value[pos:end])
        pos = end + 1
        after = value[pos : pos + 1]
        if after == '"':
            parts.append('"')
            pos += 1
        elif after in (",", ""):
            return pos, "".join(parts)
        else:
            raise FlagError(_csv_error(value, pos - 1, 'extraneous or missing " in quoted-field'))


def _csv_error(value: str, pos: int, what: str) -> str:
    """Go's csv.ParseError text; its column counts bytes, from 1."""
    column = len(value[:pos].encode("utf-8", "surrogatepass")) + 1
    return f"parse error on line 1, column {column}: {what}"


def parse_mount(value: str, expand: Expander | None = None) -> Mount:
    """A ``--mount`` value, as BuildKit reads it. Without ``expand`` this is BuildKit's first
    pass at parse time, which only looks at ``from`` (values may hold variables the stage's
    environment fills in later); with it, each value is expanded and every key checked."""
    try:
        fields = csv_fields(value)
    except FlagError as e:
        raise FlagError(f"failed to parse csv mounts: {e}") from None
    m = Mount()
    ro_auto = True
    for field in fields:
        key, has_value, val = field.partition("=")
        key = key.lower()
        if not has_value:
            if expand is not None:
                ro_auto = _mount_flag(m, key, field) and ro_auto
            continue
        if expand is not None:
            val = expand(val)
        elif key == "from":
            if 0 <= val.find("$") < len(val) - 1:
                raise FlagError(f"'{key}' doesn't support variable expansion, define alias stage instead")
        else:
            continue
        ro_auto = _mount_key(m, key, val, field) and ro_auto
    return _mount_checked(m, ro_auto)


def _mount_flag(m: Mount, key: str, field: str) -> bool:
    """A key without a value (``ro``, ``rw``, ``required``); False once it set read-only-ness."""
    if key in ("readonly", "ro", "readwrite", "rw"):
        m.readonly = key in ("readonly", "ro")
        return False
    if key == "required":
        if m.type not in ("secret", "ssh"):
            raise FlagError(f"unexpected key '{key}' for mount type '{m.type}'")
        m.required = True
        return True
    raise FlagError(f"invalid field '{field}' must be a key=value pair")


def _uint(value: str, base: int) -> int | None:
    digits = "[0-7]+" if base == 8 else "[0-9]+"
    if re.fullmatch(digits, value, re.ASCII) is None or int(value, base) >= 1 << 32:
        return None
    return int(value, base)


def _mount_key(m: Mount, key: str, val: str, field: str) -> bool:
    """A ``key=value``; False once it set read-only-ness."""
    if key == "type":
        if val.lower() not in MOUNT_TYPES:
            raise FlagError(f"unsupported mount type {go_quote(val)}")
        m.type = val.lower()
    elif key == "from":
        m.from_ = val
    elif key in ("source", "src"):
        m.source = val
    elif key in ("target", "dst", "destination"):
        m.target = val
    elif key in ("readonly", "ro", "readwrite", "rw"):
        b = go_bool(val)
        if b is None:
            raise FlagError(f"invalid value for {key}: {val}")
        m.readonly = b if key in ("readonly", "ro") else not b
        return False
    elif key in ("required", "size"):
        _mount_typed_key(m, key, val)
    elif key == "id":
        m.id = val
    elif key == "sharing":
        if val.lower() not in SHARING_MODES:
            raise FlagError(f"unsupported sharing value {go_quote(val)}")
        m.sharing = val.lower()
    elif key in ("mode", "uid", "gid"):
        n = _uint(val, 8 if key == "mode" else 10)
        if n is None:
            raise FlagError(f"invalid value {val} for {key}")
        setattr(m, key, n)
    elif key == "env":
        m.env = val
    else:
        raise FlagError(f"unexpected key '{key}' in '{field}'")
    return True


def _mount_typed_key(m: Mount, key: str, val: str) -> None:
    """``required=`` (secret, ssh) and ``size=`` (tmpfs): keys only some mount types take."""
    if key == "required" and m.type in ("secret", "ssh"):
        b = go_bool(val)
        if b is None:
            raise FlagError(f"invalid value for {key}: {val}")
        m.required = b
        return
    if key == "size" and m.type == "tmpfs":
        try:
            m.size = ram_in_bytes(val)
        except ValueError:
            raise FlagError(f"invalid value for {key}: {val}") from None
        return
    raise FlagError(f"unexpected key '{key}' for mount type '{m.type}'")


def _mount_checked(m: Mount, ro_auto: bool) -> Mount:
    """BuildKit's checks once every field is read, and the read-only default."""
    if m.type not in _FILE_INFO_TYPES:
        for key in ("mode", "uid", "gid"):
            if getattr(m, key) is not None:
                raise FlagError(f"{key} not allowed for {go_quote(m.type)} type mounts")
    if ro_auto:
        m.readonly = m.type not in ("cache", "tmpfs")
    if m.type == "secret":
        if m.from_:
            raise FlagError("secret mount should not have a from")
        if m.sharing:
            raise FlagError("secret mount should not define sharing")
        if not m.source and not m.target and not m.id:
            raise FlagError("invalid secret mount. one of source, target required")
        if m.source and m.id:
            raise FlagError("both source and id can't be set")
    if m.sharing and m.type != "cache":
        raise FlagError(f"invalid cache sharing set for {m.type} mount")
    return m


def parse_device(value: str) -> Device:
    """A ``--device`` value: ``name[,required[=bool]]`` or ``name=...``; a first key BuildKit
    does not know is taken as the name (CDI names hold ``=`` rarely, but ``/`` often)."""
    try:
        fields = csv_fields(value)
    except FlagError as e:
        raise FlagError(f"failed to parse csv devices: {e}") from None
    d = Device(name="")
    for field in fields:
        key, has_value, val = field.partition("=")
        key = key.lower()
        if key == "required":
            b = True if not has_value else go_bool(val)
            if b is None:
                raise FlagError(f"invalid value for {key}: {val}")
            d.required = b
        elif key == "name" and has_value:
            if d.name:
                raise FlagError(f"device name already set to {d.name}")
            d.name = val
        elif not d.name:
            d.name = field
        elif not has_value:
            raise FlagError(f"invalid field '{field}' must be a key=value pair")
        else:
            raise FlagError(f"unexpected key '{key}' in '{field}'")
    return d
