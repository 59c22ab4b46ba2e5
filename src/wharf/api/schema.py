"""Request bodies decoded as dockerd's Go ``encoding/json`` decodes them: declared, nested, checked.

dockerd decodes each body into a Go struct, so a value of the wrong JSON kind anywhere in it is
a 400 with Go's words, naming the innermost struct, the path of JSON field names from the root
(map keys and array indices are not part of it) and the Go type::

    json: cannot unmarshal string into Go struct field Ulimit.HostConfig.Ulimits.Soft of type int64
    json: cannot unmarshal number 1.5 into Go struct field HostConfig.HostConfig.Memory of type int64

A schema is, in the style of ``oci/runtime_spec.py``:

- ``str``, ``bool``, ``int``: a JSON string, boolean, integer (Go ``string``, ``bool``, ``int``);
- ``Str("container.NetworkMode")``: a string of a named Go string type (the name is for messages);
- an ``Int``: an integer in a Go integer type's range (``INT64``, ``UINT16``, ``DURATION``, ...);
  a fraction, an exponent or a value out of range is Go's ``number <literal>`` error, a bool is
  not a number;
- ``[item]``: an array (Go ``[]item``); ``List(item, go=...)`` when the slice type has a name;
- ``Array(item, n)``: a Go array ``[n]item``: shorter is padded with zero values, longer is cut;
- ``("map", item)``: an object with free keys (Go ``map[string]item``); ``Map(item, go=...)`` for
  a named map type (``nat.PortMap``);
- ``Struct("pkg.Name", {field: schema})``: an object of named fields (an embedded Go struct's
  fields are simply listed with the outer ones: they belong to the outer struct in messages);
- ``Ptr(struct)``: a struct held by pointer, which only shows in the type of a slice or map of it
  (``[]*units.Ulimit``);
- ``STRSLICE``: Docker's ``strslice.StrSlice`` (``Cmd``, ``Entrypoint``, ``CapAdd``...): a string
  or an array of strings, always an array after decoding.

Go's rules, kept: JSON ``null`` is accepted everywhere and leaves the zero value (a null field
stays null in the decoded body, where the engine reads ``body.get(k) or default`` and inspect
shows it as sent; a null inside an array or as a map's value becomes the item's zero value:
``""``, ``0``, ``False``, ``[]``, ``{}``); keys that match no field are kept as sent (Go ignores
them); a key matches its field case-insensitively (``"image"`` is ``Image``) and is renamed to
the field's name; the first wrong value in document order is the error reported, except that an
error of a ``StrSlice`` (an ``UnmarshalJSON`` of its own in Go) ends the decoding at once.

``loads`` is the JSON parser for bodies: Go's syntax (no ``NaN``/``Infinity``), invalid UTF-8
and lone surrogates replaced by U+FFFD, and a number's literal kept for the messages.
"""

from __future__ import annotations

import json
import re
from typing import Any

from wharf.base.gojson import json_kind
from wharf.errors import InvalidArgument

# Go's decoder refuses nesting deeper than 10000 ("exceeded max depth"); Python's parser and
# whatever walks a body after it (json.dumps, deepcopy) recurse, so wharf draws the line lower:
# no body of the API nests deeper than 8
MAX_DEPTH = 100


class Float(float):
    """A JSON number with a fraction or an exponent, as written (Go's messages quote it)."""

    literal: str

    def __new__(cls, literal: str) -> Float:
        obj = super().__new__(cls, literal)
        obj.literal = literal
        return obj


def _constant(name: str) -> Any:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def _fix_strings(v: Any) -> Any:
    if isinstance(v, str):
        return _SURROGATE.sub("\ufffd", v)
    if isinstance(v, list):
        return [_fix_strings(x) for x in v]
    if isinstance(v, dict):
        return {_fix_strings(k): _fix_strings(x) for k, x in v.items()}
    return v


_STRING = re.compile(r'"[^"]*"?')  # a string once its escapes are gone (unterminated: to the end)
_NOT_BRACKET = {c: None for c in range(128) if chr(c) not in "[]{}"}


def _too_deep(raw: str) -> str | None:
    """The bracket at which an array or object of ``raw`` (valid JSON or not) first nests deeper
    than MAX_DEPTH, if one does (brackets inside strings do not count)."""
    if raw.count("[") + raw.count("{") <= MAX_DEPTH:
        return None
    if "\\" in raw:
        # escapes gone, left to right as a string is read (a pair of backslashes is one escape,
        # so `\\"` still ends its string): no quote inside a string is left. All linear, at C
        # speed: a regex over escapes rescanned each unterminated string, quadratic in the body
        raw = raw.replace("\\\\", "").replace('\\"', "")
    depth = 0
    for c in _STRING.sub("", raw).translate(_NOT_BRACKET):
        if c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return c
        elif c in "]}":
            depth -= 1
    return None


def loads(raw: bytes) -> Any:
    """Parse a request body as Go does; ``InvalidArgument("invalid JSON: ...")`` if it is not JSON,
    and Go's words for nesting deeper than MAX_DEPTH (checked before the parser recurses)."""
    text = raw.decode("utf-8", errors="replace")  # Go: each invalid byte is U+FFFD
    bracket = _too_deep(text)
    if bracket is not None:
        raise InvalidArgument(f"invalid character '{bracket}' exceeded max depth")
    try:
        value = json.loads(text, parse_float=Float, parse_constant=_constant)
    except RecursionError:
        raise InvalidArgument("invalid JSON: exceeded max depth") from None
    except ValueError as exc:
        raise InvalidArgument(f"invalid JSON: {exc}") from None
    if _ESCAPED_SURROGATE.search(raw):
        value = _fix_strings(value)
    return value


def _literal(v: int | float) -> str:
    if isinstance(v, Float):
        return v.literal
    if isinstance(v, float):
        return json.dumps(v)
    return str(v)


class _Decoding:
    """Go's decodeState.errorContext: the innermost struct, the field names from the root, and
    the first (saved) type error."""

    __slots__ = ("fields", "saved", "struct")

    def __init__(self) -> None:
        self.struct = ""
        self.fields: list[str] = []
        self.saved: InvalidArgument | None = None

    def error(self, value: str, go: str) -> InvalidArgument:
        if self.struct or self.fields:
            where = f"Go struct field {self.struct}.{'.'.join(self.fields)}"
        else:
            where = "Go value"
        return InvalidArgument(f"json: cannot unmarshal {value} into {where} of type {go}")

    def mismatch(self, value: str, go: str) -> None:
        """A wrong value: Go skips it, keeps decoding, and reports the first one at the end."""
        if self.saved is None:
            self.saved = self.error(value, go)


class Node:
    """A compiled schema. ``go`` is the Go type named in messages about a value at this place;
    ``ref`` is how the type is written as the item of a slice or map (a pointer shows there)."""

    go = ""

    @property
    def ref(self) -> str:
        return self.go

    def zero(self) -> Any:
        raise NotImplementedError

    def decode(self, v: Any, d: _Decoding) -> Any:
        """``v`` decoded (never None: the caller handles null)."""
        raise NotImplementedError

    def item(self, v: Any, d: _Decoding) -> Any:
        """``v`` as an array or map item: null is the zero value."""
        return self.zero() if v is None else self.decode(v, d)

    def validate(self, body: Any) -> Any:
        """``body`` decoded; the first wrong value is raised as ``InvalidArgument``."""
        d = _Decoding()
        out = self.item(body, d)
        if d.saved is not None:
            raise d.saved
        return out


class Str(Node):
    def __init__(self, go: str = "string") -> None:
        self.go = go

    def zero(self) -> Any:
        return ""

    def decode(self, v: Any, d: _Decoding) -> Any:
        if not isinstance(v, str):
            d.mismatch(json_kind(v), self.go)
        return v


class Bool(Node):
    go = "bool"

    def zero(self) -> Any:
        return False

    def decode(self, v: Any, d: _Decoding) -> Any:
        if not isinstance(v, bool):
            d.mismatch(json_kind(v), self.go)
        return v


_RANGES = {
    "int": (-(1 << 63), (1 << 63) - 1),
    "int64": (-(1 << 63), (1 << 63) - 1),
    "int32": (-(1 << 31), (1 << 31) - 1),
    "uint": (0, (1 << 64) - 1),
    "uint64": (0, (1 << 64) - 1),
    "uint32": (0, (1 << 32) - 1),
    "uint16": (0, (1 << 16) - 1),
}


class Int(Node):
    """A Go integer type (``kind``: int, int64, uint16...), named ``go`` in messages if it has a
    name of its own (``time.Duration``)."""

    def __init__(self, kind: str, go: str | None = None) -> None:
        self.lo, self.hi = _RANGES[kind]
        self.go = go or kind

    def zero(self) -> Any:
        return 0

    def decode(self, v: Any, d: _Decoding) -> Any:
        if isinstance(v, bool) or not isinstance(v, int | float):
            d.mismatch(json_kind(v), self.go)
        elif isinstance(v, float) or not self.lo <= v <= self.hi:
            d.mismatch(f"number {_literal(v)}", self.go)
        return v


INT = Int("int")
INT64 = Int("int64")
UINT = Int("uint")
UINT16 = Int("uint16")
UINT64 = Int("uint64")
DURATION = Int("int64", go="time.Duration")
FILEMODE = Int("uint32", go="fs.FileMode")


class StrSlice(Node):
    """Docker's strslice.StrSlice: an array of strings, or one string (then an array of it). Its
    UnmarshalJSON tries []string, then string, and returns the second error: the value's kind
    "into ... of type string", fatal (Go stops decoding there)."""

    go = "strslice.StrSlice"

    def zero(self) -> Any:
        return []

    def decode(self, v: Any, d: _Decoding) -> Any:
        if isinstance(v, str):
            return [v]
        if isinstance(v, list) and all(isinstance(x, str) or x is None for x in v):
            return ["" if x is None else x for x in v]
        raise d.error(json_kind(v), "string")


STRSLICE = StrSlice()


class Ptr(Node):
    """A struct held by pointer: decoded as the struct; written ``*T`` in a slice's or map's type."""

    def __init__(self, target: Node) -> None:
        self.target = target
        self.go = target.go

    @property
    def ref(self) -> str:
        return "*" + self.go

    def zero(self) -> Any:
        return self.target.zero()

    def decode(self, v: Any, d: _Decoding) -> Any:
        return self.target.decode(v, d)


class List(Node):
    def __init__(self, item: Any, go: str | None = None) -> None:
        self.of = compile_schema(item)
        self.go = go or "[]" + self.of.ref

    def zero(self) -> Any:
        return []

    def decode(self, v: Any, d: _Decoding) -> Any:
        if not isinstance(v, list):
            d.mismatch(json_kind(v), self.go)
            return v
        return [self.of.item(x, d) for x in v]


class Array(Node):
    """A Go array ``[n]T``: extra items are ignored, missing ones are zero."""

    def __init__(self, item: Any, n: int) -> None:
        self.of = compile_schema(item)
        self.n = n
        self.go = f"[{n}]{self.of.ref}"

    def zero(self) -> Any:
        return [self.of.zero() for _ in range(self.n)]

    def decode(self, v: Any, d: _Decoding) -> Any:
        if not isinstance(v, list):
            d.mismatch(json_kind(v), self.go)
            return v
        out = [self.of.item(x, d) for x in v[: self.n]]
        return out + [self.of.zero() for _ in range(self.n - len(out))]


class Map(Node):
    def __init__(self, item: Any, go: str | None = None) -> None:
        self.of = compile_schema(item)
        self.go = go or "map[string]" + self.of.ref

    def zero(self) -> Any:
        return {}

    def decode(self, v: Any, d: _Decoding) -> Any:
        if not isinstance(v, dict):
            d.mismatch(json_kind(v), self.go)
            return v
        return {k: self.of.item(x, d) for k, x in v.items()}


class Struct(Node):
    """A Go struct ``go`` ("pkg.Name"; messages name it "Name") with JSON fields ``fields``."""

    def __init__(self, go: str, fields: dict[str, Any]) -> None:
        self.go = go
        self.name = go.rpartition(".")[2]
        self.fields = {k: compile_schema(s) for k, s in fields.items()}
        self._folded = {k.lower(): k for k in self.fields}

    def zero(self) -> Any:
        return {}

    def field(self, key: str) -> str | None:
        """The field a JSON key sets: its exact name, else the first that matches ignoring case."""
        if key in self.fields:
            return key
        return self._folded.get(key.lower())

    def decode(self, v: Any, d: _Decoding) -> Any:
        if not isinstance(v, dict):
            d.mismatch(json_kind(v), self.go)
            return v
        out: dict[str, Any] = {}
        for key, x in v.items():
            name = self.field(key)
            if name is None:
                out[key] = x  # not a field: Go ignores it, wharf keeps it as sent
                continue
            if x is None:
                out.setdefault(name, None)  # Go leaves the field as it is (zero, if not set before)
                continue
            outer = d.struct
            d.struct = self.name
            d.fields.append(name)
            out[name] = self.fields[name].decode(x, d)
            d.fields.pop()
            d.struct = outer
        return out

    def extend(self, go: str, fields: dict[str, Any]) -> Struct:
        """A struct with this one's fields and ``fields``: Go's embedding (``Resources`` in
        ``HostConfig``), whose fields belong to the outer struct in messages."""
        out = Struct(go, {})
        out.fields = {**self.fields, **{k: compile_schema(s) for k, s in fields.items()}}
        out._folded = {k.lower(): k for k in out.fields}
        return out


_PLAIN: dict[Any, Node] = {str: Str(), bool: Bool(), int: INT}


def compile_schema(schema: Any) -> Node:
    """A schema written with the shorthands (str, bool, int, [item], ("map", item)) as a Node."""
    if isinstance(schema, Node):
        return schema
    if isinstance(schema, list) and len(schema) == 1:
        return List(schema[0])
    if isinstance(schema, tuple) and len(schema) == 2 and schema[0] == "map":
        return Map(schema[1])
    if schema in _PLAIN:
        return _PLAIN[schema]
    raise TypeError(f"not a schema: {schema!r}")
