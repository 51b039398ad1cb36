"""The openpi policy-server wire format, for numpy 2: msgpack frames with numpy values as tagged maps.

Each binary frame is one msgpack value (a map: the server's metadata, an observation, an action reply).
Numpy values travel as msgpack maps with bytes keys:

- an array: ``{b"__ndarray__": True, b"data": <raw bytes, C order>, b"dtype": "<f4", b"shape": [..]}``
- a numpy scalar: ``{b"__npgeneric__": True, b"data": <the Python value>, b"dtype": "<i8"}``

``dtype`` is numpy's ``dtype.str`` (byte order, kind, item size), so ``<f4``, ``|u1``, ``|b1``, ``<i8``
and big-endian ``>f8`` all round-trip. Object, void and complex dtypes are refused, as openpi refuses
them. Decoding checks every tagged map (dtype, shape, byte count) and raises PolicyProtocolError
saying what is wrong rather than returning a half-built value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import msgpack
import numpy as np

from maestro_tools.vla.errors import PolicyProtocolError

ARRAY_TAG, SCALAR_TAG = b"__ndarray__", b"__npgeneric__"
REFUSED_KINDS = {"O": "object", "V": "void (structured)", "c": "complex"}


def _check_dtype(dtype: np.dtype) -> None:
    if dtype.kind in REFUSED_KINDS:
        raise PolicyProtocolError(
            f"numpy dtype {dtype} ({REFUSED_KINDS[dtype.kind]}) cannot travel in an openpi frame; use "
            "bool, integer, float or fixed-width string arrays"
        )


def _pack_numpy(value: Any) -> Any:
    """msgpack's ``default``: numpy arrays and scalars as tagged maps; anything else is refused."""
    if isinstance(value, np.ndarray):
        _check_dtype(value.dtype)
        return {
            ARRAY_TAG: True,
            b"data": np.ascontiguousarray(value).tobytes(),
            b"dtype": value.dtype.str,
            b"shape": list(value.shape),
        }
    if isinstance(value, np.generic):
        _check_dtype(value.dtype)
        return {SCALAR_TAG: True, b"data": value.item(), b"dtype": value.dtype.str}
    raise PolicyProtocolError(
        f"a {type(value).__name__} cannot travel in an openpi frame; send dicts, lists, str, bytes, "
        "numbers, None and numpy arrays"
    )


def encode(value: Any) -> bytes:
    """One frame's bytes for ``value`` (usually a dict of str keys to arrays, numbers and strings)."""
    try:
        return msgpack.packb(value, default=_pack_numpy, use_bin_type=True)
    except PolicyProtocolError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise PolicyProtocolError(f"cannot encode the frame: {exc}") from None


def _field(tagged: Mapping[Any, Any], name: str) -> Any:
    """A tagged map's field under its bytes key (openpi's) or its str key (a lenient peer's)."""
    for key in (name.encode(), name):
        if key in tagged:
            return tagged[key]
    raise PolicyProtocolError(f"a numpy map lacks its {name!r} field; it has {sorted(map(str, tagged))}")


def _dtype(tagged: Mapping[Any, Any]) -> np.dtype:
    text = _field(tagged, "dtype")
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    try:
        dtype = np.dtype(text)
    except (TypeError, ValueError):
        raise PolicyProtocolError(f"unknown numpy dtype {text!r} in a frame") from None
    _check_dtype(dtype)
    return dtype


def _array(tagged: Mapping[Any, Any]) -> np.ndarray:
    dtype, data, shape = _dtype(tagged), _field(tagged, "data"), _field(tagged, "shape")
    if not isinstance(data, bytes):
        raise PolicyProtocolError(f"an array's data must be bytes, got {type(data).__name__}")
    if not isinstance(shape, list | tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise PolicyProtocolError(f"an array's shape must be a list of sizes >= 0, got {shape!r}")
    expected = math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        raise PolicyProtocolError(
            f"an array of shape {list(shape)} and dtype {dtype.str} needs {expected} bytes, got {len(data)}"
        )
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()  # writable, not a view of the frame


def _scalar(tagged: Mapping[Any, Any]) -> np.generic:
    dtype, data = _dtype(tagged), _field(tagged, "data")
    try:
        return dtype.type(data)
    except (TypeError, ValueError, OverflowError) as exc:
        raise PolicyProtocolError(f"the scalar {data!r} is not a valid {dtype.str}: {exc}") from None


def _is_tagged(value: Mapping[Any, Any], tag: bytes) -> bool:
    return value.get(tag) is True or value.get(tag.decode()) is True


def _unpack_numpy(value: dict[Any, Any]) -> Any:
    """msgpack's ``object_hook``: tagged maps back to numpy values, other maps as they are."""
    if _is_tagged(value, ARRAY_TAG):
        return _array(value)
    if _is_tagged(value, SCALAR_TAG):
        return _scalar(value)
    return value


def decode(frame: bytes | bytearray | memoryview) -> Any:
    """The value of one binary frame; PolicyProtocolError for anything that is not one valid frame."""
    if not isinstance(frame, bytes | bytearray | memoryview):
        raise PolicyProtocolError(f"a frame is bytes, got {type(frame).__name__}")
    if len(frame) == 0:
        raise PolicyProtocolError("an empty frame")
    try:
        return msgpack.unpackb(
            bytes(frame), object_hook=_unpack_numpy, raw=False, strict_map_key=False, use_list=True
        )
    except PolicyProtocolError:
        raise
    except msgpack.ExtraData:
        raise PolicyProtocolError("a frame holds more than one msgpack value") from None
    except (ValueError, TypeError, msgpack.UnpackException, msgpack.StackError) as exc:
        raise PolicyProtocolError(
            f"a frame is not valid msgpack (truncated or corrupt): {type(exc).__name__}: {exc}"
        ) from None


def decode_map(frame: bytes | bytearray | memoryview, what: str) -> dict[str, Any]:
    """``decode`` for a frame that must be a map (``what``: "metadata", "observation", "action reply")."""
    value = decode(frame)
    if not isinstance(value, dict):
        raise PolicyProtocolError(f"the {what} frame must be a msgpack map, got {type(value).__name__}")
    return value
