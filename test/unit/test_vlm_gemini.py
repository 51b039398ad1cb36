"""GeminiVLM through the real google-genai SDK against a fake Gemini server on 127.0.0.1."""

from __future__ import annotations

import base64
import socket

import cv2
import numpy as np
import pytest

from maestro_agent import vlm_backends
from maestro_tools.common.errors import ErrorCode, NotFoundError
from maestro_tools.vlm import (
    DEFAULT_AGENT_MODEL,
    Message,
    VLMConfigError,
    VLMError,
    VLMModelNotFoundError,
    VLMRequest,
    VLMUnavailable,
    create_vlm,
)
from maestro_tools.vlm.gemini import GeminiVLM
from test.fakes.gemini_server import FakeGeminiServer

KEY = "test-key-0123456789-secret"


@pytest.fixture
def server():
    with FakeGeminiServer() as fake:
        yield fake


@pytest.fixture(autouse=True)
def no_env_keys(monkeypatch):
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def make(server: FakeGeminiServer, **options) -> GeminiVLM:
    options = {"api_key": KEY, "base_url": server.url, "backoff_s": 0.01, "timeout_s": 10, **options}
    return GeminiVLM(**options)


def request(*parts, purpose: str = "plan") -> VLMRequest:
    messages = (Message("user", parts or ("Put the cube in the bowl.",)),)
    return VLMRequest("You write Python for a robot.", messages, purpose, "put the cube in the bowl")


def inline_images(body: dict) -> list[dict]:
    parts = [part for content in body["contents"] for part in content["parts"]]
    return [field(part, "inlineData") for part in parts if "inlineData" in part or "inline_data" in part]


def field(mapping: dict, camel: str) -> object:
    """A field in camelCase or snake_case (the SDK sends some fields one way, some the other)."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return mapping[camel] if camel in mapping else mapping[snake]


def decode(data: str) -> np.ndarray:
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    return cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)


def test_request_and_reply(server) -> None:
    server.reply("```python\nrobot.open_gripper()\n```", input_tokens=42, output_tokens=30)
    image = np.zeros((480, 1280, 3), np.uint8)
    image[:, :640] = (255, 0, 0)  # left half red (RGB)
    reply = make(server, model="gemini-test-model").generate(request("Look at this:", image, "Pick it."))

    assert reply.text == "```python\nrobot.open_gripper()\n```"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (42, 30)
    assert reply.model == "gemini-test-model"
    assert reply.seconds > 0
    (seen,) = server.requests
    assert seen.path == "/v1beta/models/gemini-test-model:generateContent"
    assert seen.headers["x-goog-api-key"] == KEY
    assert field(seen.body, "systemInstruction")["parts"][0]["text"] == "You write Python for a robot."
    assert field(seen.body, "generationConfig")["temperature"] == pytest.approx(0.2)
    (content,) = seen.body["contents"]
    assert content["role"] == "user"
    assert [p.get("text") for p in content["parts"]] == ["Look at this:", None, "Pick it."]
    (inline,) = inline_images(seen.body)
    assert field(inline, "mimeType") == "image/jpeg"
    decoded = decode(inline["data"])
    assert decoded.shape == (288, 768, 3)  # longer side 1280 -> 768
    assert decoded[144, 100, 2] > 200 and decoded[144, 100, 0] < 50  # red stays red (BGR after decoding)
    assert decoded[144, 700].max() < 50


def test_png_small_image_and_model_turns(server) -> None:
    server.reply("ok", model="gemini-served-version")
    image = np.full((100, 60, 3), 7, np.uint8)
    messages = (
        Message("user", ("first",)),
        Message("model", ("answer",)),
        Message("user", ["again", image]),
    )
    vlm = make(server, image_format="png", thinking_budget=0)
    reply = vlm.generate(VLMRequest("sys", messages, "react", "x"))
    assert reply.model == "gemini-served-version"
    body = server.requests[0].body
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert field(field(body["generationConfig"], "thinkingConfig"), "thinkingBudget") == 0
    (inline,) = inline_images(body)
    assert field(inline, "mimeType") == "image/png"
    assert np.array_equal(decode(inline["data"]), np.full((100, 60, 3), 7, np.uint8))  # not upscaled


def test_retries_on_429_and_503(server) -> None:
    server.fail(429, "quota")
    server.fail(503, "overloaded")
    server.reply("third time lucky")
    assert make(server).generate(request()).text == "third time lucky"
    assert len(server.requests) == 3


def test_retries_on_a_dropped_connection(server) -> None:
    server.drop()
    server.reply("fine")
    assert make(server).generate(request()).text == "fine"
    assert len(server.requests) == 2


def test_gives_up_after_the_retries(server) -> None:
    for _ in range(3):
        server.fail(500, "boom")
    with pytest.raises(VLMUnavailable) as caught:
        make(server, retries=2).generate(request())
    assert len(server.requests) == 3
    message = str(caught.value)
    assert "3 attempt" in message and "500" in message and "boom" in message


def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    vlm = GeminiVLM(api_key=KEY, base_url=f"http://127.0.0.1:{port}", retries=1, backoff_s=0.01, timeout_s=5)
    with pytest.raises(VLMUnavailable, match=r"2 attempt.*connection"):
        vlm.generate(request())


@pytest.mark.parametrize(
    ("status", "error"), [(400, VLMConfigError), (403, VLMConfigError), (409, VLMUnavailable)]
)
def test_client_errors_fail_at_once(server, status: int, error: type) -> None:
    server.fail(status, "API key not valid. Please pass a valid API key.")
    with pytest.raises(error, match="API key not valid") as caught:
        make(server).generate(request())
    assert len(server.requests) == 1
    assert str(status) in str(caught.value)


NOT_FOUND = (
    "models/gemini-2.5-flash is not found for API version v1beta, or is not supported for generateContent."
)


@pytest.mark.parametrize(
    ("options", "parameter"), [({}, "model"), ({"model_parameter": "vlm_model"}, "vlm_model")]
)
def test_an_unknown_model_is_a_typed_error_naming_the_model_and_the_parameter(
    server, options: dict, parameter: str
) -> None:
    server.fail(404, NOT_FOUND)  # what the Gemini API answers for a shut-down model: 404 NOT_FOUND
    vlm = create_vlm(
        "gemini", api_key=KEY, base_url=server.url, model="gemini-2.5-flash", retries=3, **options
    )
    with pytest.raises(VLMModelNotFoundError) as caught:
        vlm.generate(request())
    assert len(server.requests) == 1  # not retried
    error = caught.value
    assert isinstance(error, VLMConfigError) and isinstance(error, NotFoundError)
    assert error.code == ErrorCode.INVALID_ARGUMENT  # a configuration error over ROS, not "object not found"
    message = str(error)
    assert "model 'gemini-2.5-flash' was not found" in message
    assert f"Set the ROS parameter `{parameter}`" in message
    assert "404 NOT_FOUND" in message and "ai.google.dev/gemini-api/docs/models" in message


def test_key_never_in_error_messages(server) -> None:
    server.fail(400, f"bad key {KEY}")
    server.fail(503, f"echo {KEY}")
    errors = []
    for retries in (0, 0):
        with pytest.raises(VLMError) as caught:
            make(server, retries=retries).generate(request())
        errors.append(caught.value)
    for error in errors:
        shown = []  # everything a printed traceback would show
        while error is not None:
            shown += [str(error), repr(error)]
            error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
        assert shown and not any(KEY in text for text in shown)
    assert KEY not in repr(make(server))


def test_missing_key_names_the_variable() -> None:
    with pytest.raises(VLMConfigError, match="GEMINI_API_KEY") as caught:
        GeminiVLM()
    assert "vlm:=scripted" in str(caught.value)


def test_key_from_the_environment(server, monkeypatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "from-google-var")
    server.reply("ok")
    GeminiVLM(base_url=server.url).generate(request())
    assert server.requests[0].headers["x-goog-api-key"] == "from-google-var"
    monkeypatch.setenv("GEMINI_API_KEY", "from-gemini-var")
    server.reply("ok")
    GeminiVLM(base_url=server.url).generate(request())
    assert server.requests[1].headers["x-goog-api-key"] == "from-gemini-var"


def test_empty_reply_is_unavailable(server) -> None:
    server.reply("")
    with pytest.raises(VLMUnavailable, match="no text"):
        make(server).generate(request())


def test_registry(server) -> None:
    server.reply("ok")
    vlm = create_vlm("Gemini", api_key=KEY, base_url=server.url)
    assert (vlm.name, vlm.model) == ("gemini", DEFAULT_AGENT_MODEL)
    assert vlm.generate(request()).text == "ok"
    assert server.requests[0].path == f"/v1beta/models/{DEFAULT_AGENT_MODEL}:generateContent"
    with pytest.raises(VLMConfigError, match=r"valid backends: gemini, openai$"):
        create_vlm("claude")
    with pytest.raises(VLMConfigError, match=r"valid backends: gemini, openai, scripted$"):
        vlm_backends.create_vlm("claude")  # the agent's registry adds its scripted fake
    with pytest.raises(VLMConfigError, match=r"temprature.*temperature"):
        create_vlm("gemini", api_key=KEY, temprature=0.1)


@pytest.mark.parametrize(
    "options", [{"image_format": "gif"}, {"max_image_side": 0}, {"retries": -1}, {"timeout_s": 0}]
)
def test_bad_options(options) -> None:
    with pytest.raises(VLMConfigError):
        GeminiVLM(api_key=KEY, **options)
