"""The sandbox channel's wire format: length-prefixed frames of a JSON header plus raw array bytes.

A frame is ``u32 length`` then ``u32 header length``, the UTF-8 JSON header and the binary region.
Values cross as JSON trees in which numpy arrays are ``{"$nd": [offset, nbytes], "dtype", "shape"}``
references into the binary region, tuples are ``{"$tuple": [...]}`` and registered dataclasses are
``{"$dc": name, "fields": {...}}``. Decoding is strict and bounded (frame size, nesting, item count,
numeric dtypes only, exact byte counts): the parent reads what a compromised child may have written.
Nothing here pickles, evaluates or imports by name.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

MAX_FRAME = 64 * 2**20  # a 4096 x 4096 RGBA image fits
MAX_DEPTH = 24
MAX_ITEMS = 200_000  # JSON nodes per frame
DTYPES = frozenset(
    {
        "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
        "float32", "float64", "complex64", "complex128",
    }
)  # fmt: skip
_U32 = struct.Struct(">I")


class WireError(ValueError):
    """A frame or value that breaks the format (the peer is broken or hostile)."""


def pack(header: Mapping[str, Any], blobs: list[bytes] | None = None) -> bytes:
    """One frame: ``header`` (JSON-able, as ``encode`` returns) and the blobs it references."""
    head = json.dumps(header, separators=(",", ":"), allow_nan=True).encode()
    body = b"".join(blobs or ())
    size = 4 + len(head) + len(body)
    if size > MAX_FRAME:
        raise WireError(f"frame of {size} bytes exceeds the limit of {MAX_FRAME}")
    return _U32.pack(size) + _U32.pack(len(head)) + head + body


def unpack(payload: bytes) -> tuple[dict[str, Any], memoryview]:
    """The header and binary region of a frame's payload (the bytes after its length)."""
    if len(payload) < 4:
        raise WireError("frame shorter than its header length")
    (head_len,) = _U32.unpack_from(payload, 0)
    if head_len > len(payload) - 4:
        raise WireError("header length beyond the frame")
    try:
        header = json.loads(bytes(payload[4 : 4 + head_len]))
    except (ValueError, RecursionError) as e:
        raise WireError(f"header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise WireError("header is not an object")
    return header, memoryview(payload)[4 + head_len :]


class FrameReader:
    """Reassembles frames from a byte stream (``feed``), refusing any longer than ``limit``."""

    def __init__(self, limit: int = MAX_FRAME) -> None:
        self.limit = limit
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        frames = []
        while len(self.buffer) >= 4:
            (size,) = _U32.unpack_from(self.buffer, 0)
            if size > self.limit:
                raise WireError(f"frame of {size} bytes announced; the limit is {self.limit}")
            if len(self.buffer) < 4 + size:
                break
            frames.append(bytes(self.buffer[4 : 4 + size]))
            del self.buffer[: 4 + size]
        return frames


class Encoder:
    """Turns a value into a JSON tree plus blobs; ``types`` are the dataclasses allowed to cross."""

    def __init__(self, types: Mapping[str, type] | None = None) -> None:
        self.types = dict(types or {})
        self.names = {cls: name for name, cls in self.types.items()}

    def encode(self, value: Any) -> tuple[Any, list[bytes]]:
        blobs: list[bytes] = []
        offset = [0]

        def walk(v: Any, depth: int) -> Any:
            if depth > MAX_DEPTH:
                raise WireError(f"value nested deeper than {MAX_DEPTH} levels")
            if v is None or isinstance(v, bool | int | float | str):
                return v
            if isinstance(v, np.generic):
                return (
                    v.item() if v.dtype.name in DTYPES and v.dtype.kind != "c" else walk(np.asarray(v), depth)
                )
            if isinstance(v, np.ndarray):
                if v.dtype.name not in DTYPES:
                    raise WireError(f"arrays of dtype {v.dtype} cannot cross the sandbox boundary")
                data = np.ascontiguousarray(v).tobytes()
                blobs.append(data)
                ref = {"$nd": [offset[0], len(data)], "dtype": v.dtype.name, "shape": list(v.shape)}
                offset[0] += len(data)
                return ref
            if isinstance(v, list):
                return [walk(x, depth + 1) for x in v]
            if isinstance(v, tuple):
                return {"$tuple": [walk(x, depth + 1) for x in v]}
            if isinstance(v, dict):
                if not all(isinstance(k, str) for k in v):
                    raise WireError("only dicts with string keys can cross the sandbox boundary")
                if any(k.startswith("$") for k in v):
                    raise WireError("dict keys starting with '$' are reserved by the sandbox channel")
                return {k: walk(x, depth + 1) for k, x in v.items()}
            if type(v) in self.names:
                fields = {f.name: walk(getattr(v, f.name), depth + 1) for f in dataclasses.fields(v)}
                return {"$dc": self.names[type(v)], "fields": fields}
            raise WireError(
                f"a {type(v).__name__} cannot cross the sandbox boundary; use numbers, strings, lists, "
                f"tuples, dicts, numpy arrays or {', '.join(sorted(self.types)) or 'no dataclasses'}"
            )

        return walk(value, 0), blobs


def decode(tree: Any, region: memoryview, types: Mapping[str, type]) -> Any:
    """The value ``tree`` describes; arrays are copied out of ``region``. Raises WireError."""
    count = [0]

    def walk(v: Any, depth: int) -> Any:
        count[0] += 1
        if count[0] > MAX_ITEMS or depth > MAX_DEPTH:
            raise WireError(f"value too large (over {MAX_ITEMS} items or {MAX_DEPTH} levels)")
        if v is None or isinstance(v, bool | int | float | str):
            return v
        if isinstance(v, list):
            return [walk(x, depth + 1) for x in v]
        if not isinstance(v, dict):
            raise WireError(f"unexpected JSON value {type(v).__name__}")
        if "$nd" in v:
            return _array(v, region)
        if "$tuple" in v:
            items = v["$tuple"]
            if not isinstance(items, list):
                raise WireError("$tuple must hold a list")
            return tuple(walk(x, depth + 1) for x in items)
        if "$dc" in v:
            cls = types.get(v["$dc"]) if isinstance(v["$dc"], str) else None
            fields = v.get("fields")
            if cls is None or not isinstance(fields, dict):
                raise WireError(
                    f"unknown dataclass {str(v['$dc'])[:80]!r}; known: {', '.join(sorted(types))}"
                )
            values = {k: walk(x, depth + 1) for k, x in fields.items()}
            try:
                return cls(**values)
            except TypeError as e:
                raise WireError(f"bad fields for {cls.__name__}: {e}") from None
        return {k: walk(x, depth + 1) for k, x in v.items()}

    return walk(tree, 0)


def _array(ref: dict[str, Any], region: memoryview) -> np.ndarray:
    span, dtype, shape = ref.get("$nd"), ref.get("dtype"), ref.get("shape")
    ok = (
        isinstance(span, list)
        and len(span) == 2
        and all(type(x) is int and x >= 0 for x in span)
        and dtype in DTYPES
        and isinstance(shape, list)
        and len(shape) <= 8
        and all(type(x) is int and x >= 0 for x in shape)
    )
    if not ok:
        raise WireError("malformed array reference")
    start, size = span
    expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if expected != size or start + size > len(region):
        raise WireError(f"array of {dtype} {shape} does not match its {size} bytes")
    return np.frombuffer(region[start : start + size], dtype=dtype).reshape(shape).copy()
