"""The openpi wire protocol: the codec, the client against the shipped server and against a minimal
independent server written here from the protocol description (msgpack metadata first, arrays as tagged
maps, errors as TEXT frames, /healthz), and the client's typed errors. Every server binds 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ClassVar

import msgpack
import numpy as np
import pytest
from websockets.sync.server import ServerConnection, serve

from maestro_tools.common.errors import ErrorCode, InvalidArgumentError
from maestro_tools.vla.client import OPENPI_PATH, PolicyClient, healthz, normalise_url
from maestro_tools.vla.errors import (
    PolicyConnectionError,
    PolicyProtocolError,
    PolicyServerError,
    PolicyTimeoutError,
)
from maestro_tools.vla.protocol import decode, encode
from maestro_tools.vla.server import PolicyServer

DTYPES = ("<f4", "<f8", "|u1", "<i8", "|b1", ">f8", "<i2")


def sample() -> dict:
    return {
        **{f"a{dtype}": np.arange(6).astype(dtype).reshape(2, 3) for dtype in DTYPES},
        "image": np.full((224, 224, 3), 7, dtype=np.uint8),
        "nested": {"deep": {"x": np.float32(1.5), "list": [1, "two", np.int64(3)]}},
        "prompt": "pick up the cup",
    }


def assert_same(a: object, b: object) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b)
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    elif isinstance(a, np.ndarray | np.generic):
        assert np.asarray(b).dtype == a.dtype and np.array_equal(a, b)
    else:
        assert a == b


def test_the_codec_round_trips_several_dtypes_and_nesting() -> None:
    value = sample()
    back = decode(encode(value))
    assert_same(value, back)
    assert back["a<f4"].flags.writeable and back["a>f8"].dtype.str == ">f8"


def test_arrays_use_openpis_tagged_maps() -> None:
    raw = msgpack.unpackb(encode({"x": np.zeros((2, 2), np.float32)}), raw=False)
    tagged = raw["x"]
    assert tagged[b"__ndarray__"] is True and tagged[b"dtype"] == "<f4" and tagged[b"shape"] == [2, 2]
    assert len(tagged[b"data"]) == 16


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (b"", "empty"),
        (b"\x93\x01", "truncated"),
        (msgpack.packb(1) + b"\x01", "more than one"),
        (
            msgpack.packb({b"__ndarray__": True, b"data": b"123", b"dtype": "<f4", b"shape": [1]}),
            "needs 4 bytes",
        ),
        (msgpack.packb({b"__ndarray__": True, b"data": b"1234", b"dtype": "<zz", b"shape": [1]}), "dtype"),
        (msgpack.packb({b"__ndarray__": True, b"data": b"1234", b"dtype": "|O", b"shape": [1]}), "object"),
        (msgpack.packb({b"__ndarray__": True, b"data": b"1234", b"dtype": "<f4"}), "shape"),
        (msgpack.packb({b"__ndarray__": True, b"data": b"1234", b"dtype": "<f4", b"shape": [-1]}), "shape"),
    ],
)
def test_malformed_frames_are_refused_with_a_reason(frame: bytes, match: str) -> None:
    with pytest.raises(PolicyProtocolError, match=match):
        decode(frame)


def test_unsendable_values_are_refused() -> None:
    with pytest.raises(PolicyProtocolError, match="complex"):
        encode({"x": np.zeros(2, np.complex64)})
    with pytest.raises(PolicyProtocolError, match="set"):
        encode({"x": {1, 2}})


class EchoPolicy:
    metadata: ClassVar[dict] = {"name": "echo", "action_horizon": 4}

    def infer(self, observation: dict) -> dict:
        if observation.get("prompt") == "fail":
            raise ValueError("the policy cannot do that")
        return {"actions": np.ones((4, 8), np.float32), "echo": observation}


@contextmanager
def independent_server(handler: Callable[[ServerConnection], None]) -> Iterator[str]:
    """A minimal openpi-style server written from the protocol description, not from server.py."""

    def health(connection, request):
        return connection.respond(200, "OK\n") if request.path == "/healthz" else None

    with serve(handler, "127.0.0.1", 0, compression=None, max_size=None, process_request=health) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
        finally:
            server.shutdown()
            thread.join(5)


def _pack(value: object) -> bytes:
    def default(obj: object) -> object:
        if isinstance(obj, np.ndarray):
            return {
                b"__ndarray__": True,
                b"data": obj.tobytes(),
                b"dtype": obj.dtype.str,
                b"shape": obj.shape,
            }
        if isinstance(obj, np.generic):
            return {b"__npgeneric__": True, b"data": obj.item(), b"dtype": obj.dtype.str}
        return obj

    return msgpack.packb(value, default=default, use_bin_type=True)


def _unpack(frame: bytes) -> dict:
    def hook(obj: dict) -> object:
        if b"__ndarray__" in obj:
            return np.frombuffer(obj[b"data"], np.dtype(obj[b"dtype"])).reshape(obj[b"shape"])
        if b"__npgeneric__" in obj:
            return np.dtype(obj[b"dtype"]).type(obj[b"data"])
        return obj

    return msgpack.unpackb(frame, object_hook=hook, raw=False)


def independent_policy(connection: ServerConnection) -> None:
    connection.send(_pack({"name": "independent", "dtypes": list(DTYPES)}))
    for message in connection:
        observation = _unpack(message)
        if observation.get("prompt") == "fail":
            connection.send("Traceback (most recent call last):\nValueError: the policy cannot do that")
            connection.close(1011)
            return
        if observation.get("prompt") == "drop":
            connection.socket.close()  # no close frame: the connection drops
            return
        reply = {k: v for k, v in observation.items() if k != "prompt"}
        reply["actions"] = np.zeros((10, 8), np.float32)
        reply["server_timing"] = {"infer_ms": 1.25}
        connection.send(_pack(reply))


@pytest.fixture(params=["shipped", "shipped_openpi_path", "independent"])
def url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "independent":
        with independent_server(independent_policy) as address:
            yield address
    else:
        with PolicyServer(EchoPolicy(), port=0) as server:
            yield server.url + (OPENPI_PATH if request.param == "shipped_openpi_path" else "")


def test_metadata_arrays_timing_and_healthz(url: str) -> None:
    with PolicyClient(url) as client:
        assert client.metadata["name"] in ("echo", "independent")
        observation = {k: v for k, v in sample().items() if k != "nested"}
        reply = client.infer(observation)
        assert reply["actions"].shape[1] == 8 and reply["actions"].dtype == np.float32
        echoed = reply.get("echo", reply)
        for dtype in DTYPES:
            assert_same(observation[f"a{dtype}"], echoed[f"a{dtype}"])
        assert client.last_latency is not None and client.last_latency > 0
        assert client.last_server_timing is not None and client.last_server_timing["infer_ms"] >= 0
        assert client.healthz()


def test_an_error_frame_becomes_a_typed_error_with_the_servers_text(url: str) -> None:
    with PolicyClient(url) as client:
        with pytest.raises(PolicyServerError, match="the policy cannot do that") as caught:
            client.infer({"prompt": "fail"})
        assert "Traceback" in caught.value.server_text and caught.value.code == ErrorCode.BACKEND_ERROR
        assert url.rstrip("/") in str(caught.value) and not client.connected
        with pytest.raises(PolicyConnectionError, match="not connected"):
            client.infer({"prompt": "again"})


def test_a_dropped_connection_names_the_url() -> None:
    with independent_server(independent_policy) as url, PolicyClient(url) as client:
        with pytest.raises(PolicyConnectionError, match="gone") as caught:
            client.infer({"prompt": "drop"})
        assert caught.value.url == normalise_url(url)


def test_a_server_that_stops_mid_session_is_gone() -> None:
    server = PolicyServer(EchoPolicy(), port=0).start()
    client = PolicyClient(server.url)
    client.infer({"prompt": "hello"})
    server.stop()
    with pytest.raises(PolicyConnectionError, match=r"127\.0\.0\.1"):
        client.infer({"prompt": "hello"})


def test_a_refused_connection_names_the_url() -> None:
    with PolicyServer(EchoPolicy(), port=0) as server:
        url = server.url
    with pytest.raises(PolicyConnectionError, match="cannot connect") as caught:
        PolicyClient(url, connect_timeout=1.0)
    assert url in str(caught.value)
    with pytest.raises(PolicyConnectionError, match="healthz"):
        healthz(url, timeout=1.0)


def test_a_silent_server_times_out() -> None:
    def silent(connection: ServerConnection) -> None:
        connection.send(_pack({"name": "silent"}))
        connection.recv()
        connection.recv()  # never answers; returns when the client closes

    with independent_server(silent) as url, PolicyClient(url, infer_timeout=0.3) as client:
        with pytest.raises(PolicyTimeoutError, match=r"an action reply did not come within 0\.3 s") as caught:
            client.infer({"prompt": "hello"})
        assert caught.value.code == ErrorCode.TIMEOUT and not client.connected


def test_unknown_paths_and_bad_urls() -> None:
    with PolicyServer(EchoPolicy(), port=0) as server, pytest.raises(PolicyConnectionError, match="404"):
        PolicyClient(server.url + "/elsewhere")
    assert normalise_url("127.0.0.1:8000") == "ws://127.0.0.1:8000/"
    with pytest.raises(InvalidArgumentError, match="ws://"):
        normalise_url("http://127.0.0.1:8000")
