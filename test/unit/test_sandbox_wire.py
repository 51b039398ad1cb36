"""The channel's wire format and the tool host's checks of each call, without a child process."""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
import pytest

from maestro_agent.proxy.types import VALUE_TYPES, Detection, GripperState
from maestro_agent.sandbox import ToolHost, channel, wire


def round_trip(value: object) -> object:
    tree, blobs = wire.Encoder(VALUE_TYPES).encode(value)
    header, region = wire.unpack(wire.pack({"value": tree}, blobs)[4:])
    return wire.decode(header["value"], region, VALUE_TYPES)


def test_values_round_trip() -> None:
    detection = Detection("cup", 0.9, np.arange(3.0), np.ones(3), np.eye(3), (1, 2, 3, 4), "scene")
    value = {
        "a": [1, 2.5, "x", None, True],
        "t": (1, (2, 3)),
        "img": np.zeros((4, 5, 3), np.uint8),
        "d": detection,
    }
    back = round_trip(value)
    assert back["a"] == [1, 2.5, "x", None, True] and back["t"] == (1, (2, 3))
    assert back["img"].dtype == np.uint8 and back["img"].shape == (4, 5, 3)
    assert isinstance(back["d"], Detection) and np.array_equal(back["d"].rotation, np.eye(3))
    assert round_trip(np.float32(1.5)) == 1.5 and round_trip(float("nan")) != round_trip(float("nan"))


@pytest.mark.parametrize("value", [object(), np.array([object()]), {1: 2}, {"$nd": 1}, lambda: 1])
def test_what_cannot_cross_is_refused_by_the_encoder(value: object) -> None:
    with pytest.raises(wire.WireError):
        wire.Encoder(VALUE_TYPES).encode(value)


@pytest.mark.parametrize(
    "tree",
    [
        {"$nd": [0, 8], "dtype": "object", "shape": [1]},  # no object arrays, ever
        {"$nd": [0, 80], "dtype": "float64", "shape": [10]},  # more bytes than the frame has
        {"$nd": [0, 8], "dtype": "float64", "shape": [2]},  # shape and size disagree
        {"$dc": "Popen", "fields": {}},  # only registered dataclasses
        {"$dc": "GripperState", "fields": {"width": 1.0}},  # missing fields
        {"$tuple": 5},
    ],
)
def test_the_decoder_is_strict(tree: object) -> None:
    with pytest.raises(wire.WireError):
        wire.decode(tree, memoryview(b"\0" * 8), VALUE_TYPES)


def test_frames_are_bounded() -> None:
    reader = wire.FrameReader(limit=100)
    frame = wire.pack({"msg": "x"})
    assert reader.feed(frame[:3]) == [] and len(reader.feed(frame[3:] + frame)) == 2
    with pytest.raises(wire.WireError, match="limit"):
        reader.feed(struct.pack(">I", 10**9))
    with pytest.raises(wire.WireError):
        wire.unpack(b"\x00\x00\x00\x09not json!")
    deep: list = []
    for _ in range(40):
        deep = [deep]
    with pytest.raises(wire.WireError, match="levels"):
        wire.decode(deep, memoryview(b""), {})


class Tools:
    """Test tools."""

    LIMIT = np.array([1.0, 2.0])

    def move(self, position: Sequence[float], speed: float = 1.0, mode: str = "line") -> list[float]:
        channel.emit_event("moved", line=channel.current_line())
        return [*position, speed]

    def hold(self, state: GripperState | None = None) -> bool:
        return state is not None and state.holding

    def _private(self) -> None:
        raise AssertionError("never callable")


def call(host: ToolHost, method: str, *args: object, **kwargs: object) -> dict:
    tree, blobs = host.encoder.encode({"args": list(args), "kwargs": kwargs})
    header, region = wire.unpack(wire.pack({"tool": "tools", "method": method, "value": tree}, blobs)[4:])
    events: list[dict] = []
    context = channel.CallContext(line=7, deadline=1e12, on_event=events.append, on_image=lambda *a: None)
    reply, _ = host.dispatch(header, region, context)
    return {**reply, "events": events}


def test_the_host_checks_names_signatures_and_types() -> None:
    host = ToolHost({"tools": Tools()}, VALUE_TYPES)
    spec, _, _ = host.spec()
    assert set(spec["tools"]["methods"]) == {"move", "hold"}
    assert "position: Sequence[float]" in spec["tools"]["methods"]["move"]["signature"]
    ok = call(host, "move", [1, 2, 3], speed=0.5)
    assert ok["ok"] and ok["value"] == [1, 2, 3, 0.5] and ok["events"][0]["line"] == 7
    assert call(host, "hold", GripperState(0.02, 0.7, True))["value"] is True
    for method, args, kwargs, text in [
        ("_private", (), {}, "has no method '_private'"),
        ("move", ("abc",), {}, "position must be Sequence[float], got str"),
        ("move", ([1, "x"],), {}, "position must be Sequence[float]"),
        ("move", ([1],), {"speed": "fast"}, "speed must be float, got str"),
        ("move", ([1],), {"colour": 1}, "unexpected keyword argument 'colour'"),
        ("move", (), {}, "missing a required argument: 'position'"),
        ("hold", ({"width": 1},), {}, "state must be GripperState | None"),
    ]:
        reply = call(host, method, *args, **kwargs)
        assert not reply["ok"] and text in reply["message"], reply


def test_a_cancelled_run_interrupts_the_tool_being_served() -> None:
    host = ToolHost({"tools": Tools()}, VALUE_TYPES)
    tree, blobs = host.encoder.encode({"args": [[0.0]], "kwargs": {}})
    header, region = wire.unpack(wire.pack({"tool": "tools", "method": "move", "value": tree}, blobs)[4:])
    context = channel.CallContext(line=1, deadline=1e12, on_event=lambda e: None, on_image=lambda *a: None)
    context.cancelled.set()
    reply, _ = host.dispatch(header, region, context)
    assert reply == {"ok": False, "error_type": "SandboxCancelled", "message": "the run was cancelled"}
