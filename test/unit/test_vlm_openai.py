"""OpenAICompatVLM against a fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import base64
import socket

import cv2
import numpy as np
import pytest

from maestro_tools.vlm import (
    Message,
    VLMConfigError,
    VLMError,
    VLMModelNotFoundError,
    VLMRequest,
    VLMUnavailable,
    create_vlm,
)
from maestro_tools.vlm.openai_compat import OpenAICompatVLM
from test.fakes.openai_server import FakeOpenAIServer

KEY = "sk-test-0123456789-secret"


@pytest.fixture
def server():
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_MODEL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def make(server: FakeOpenAIServer, **options) -> OpenAICompatVLM:
    options = {"model": "qwen-vl", "base_url": server.base_url, "backoff_s": 0.01, "timeout_s": 10, **options}
    return OpenAICompatVLM(**options)


def request(*parts) -> VLMRequest:
    messages = (Message("user", parts or ("Put the cube in the bowl.",)),)
    return VLMRequest("You write Python for a robot.", messages, "plan", "put the cube in the bowl")


def decode_data_url(url: str) -> tuple[str, np.ndarray]:
    header, data = url.split(",", 1)
    image = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
    return header, image


def test_request_and_reply(server) -> None:
    server.reply("```python\nrobot.open_gripper()\n```", input_tokens=21, output_tokens=9, model="qwen-vl:7b")
    image = np.zeros((1000, 500, 3), np.uint8)
    image[:500] = (0, 0, 255)  # top half blue (RGB)
    history = (
        Message("user", ("first",)),
        Message("model", ("answer", "more")),
        Message("user", ("Look:", image)),
    )
    vlm = make(server, api_key=KEY, max_image_side=400, temperature=0.0)
    reply = vlm.generate(VLMRequest("sys prompt", history, "react", "x"))

    assert reply.text == "```python\nrobot.open_gripper()\n```"
    assert (reply.usage.input_tokens, reply.usage.output_tokens, reply.model) == (21, 9, "qwen-vl:7b")
    (seen,) = server.requests
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    body = seen.body
    assert (body["model"], body["temperature"], body["stream"]) == ("qwen-vl", 0.0, False)
    messages = body["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[0]["content"] == "sys prompt"
    assert messages[1]["content"] == "first"
    assert messages[2]["content"] == "answer\n\nmore"
    text_part, image_part = messages[3]["content"]
    assert text_part == {"type": "text", "text": "Look:"}
    assert image_part["type"] == "image_url"
    header, decoded = decode_data_url(image_part["image_url"]["url"])
    assert header == "data:image/jpeg;base64"
    assert decoded.shape == (400, 200, 3)
    assert decoded[100, 100, 0] > 200 and decoded[300, 100].max() < 50  # blue on top (BGR), black below


def test_png_and_no_key(server) -> None:
    server.reply("ok")
    make(server, image_format="png").generate(request("see", np.full((8, 8, 3), 3, np.uint8)))
    seen = server.requests[0]
    assert "authorization" not in seen.headers
    header, decoded = decode_data_url(seen.body["messages"][1]["content"][1]["image_url"]["url"])
    assert header == "data:image/png;base64"
    assert np.array_equal(decoded, np.full((8, 8, 3), 3, np.uint8))


def test_key_model_and_url_from_the_environment(server, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    monkeypatch.setenv("OPENAI_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url + "/")
    server.reply("ok")
    vlm = OpenAICompatVLM()
    assert vlm.generate(request()).model == "env-model"
    assert server.requests[0].headers["authorization"] == "Bearer env-key"


def test_missing_model_and_bad_url() -> None:
    with pytest.raises(VLMConfigError, match="OPENAI_MODEL"):
        OpenAICompatVLM()
    with pytest.raises(VLMConfigError, match="http"):
        OpenAICompatVLM(model="m", base_url="127.0.0.1:11434/v1")


def test_retries_on_429_and_503(server) -> None:
    server.fail(429, "slow down", retry_after=0.01)
    server.fail(503, "loading model")
    server.reply("third time lucky")
    assert make(server).generate(request()).text == "third time lucky"
    assert len(server.requests) == 3


def test_retries_on_a_dropped_connection(server) -> None:
    server.drop()
    server.reply("fine")
    assert make(server).generate(request()).text == "fine"
    assert len(server.requests) == 2


def test_gives_up_after_the_retries(server) -> None:
    for _ in range(2):
        server.fail(502, "bad gateway")
    with pytest.raises(VLMUnavailable) as caught:
        make(server, retries=1).generate(request())
    assert len(server.requests) == 2
    assert (
        "2 attempt" in str(caught.value) and "502" in str(caught.value) and "bad gateway" in str(caught.value)
    )


def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    vlm = OpenAICompatVLM(model="m", base_url=f"http://127.0.0.1:{port}/v1", retries=2, backoff_s=0.01)
    with pytest.raises(VLMUnavailable, match=r"3 attempt.*connection"):
        vlm.generate(request())


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, VLMConfigError), (401, VLMConfigError), (404, VLMConfigError), (422, VLMUnavailable)],
)
def test_client_errors_fail_at_once(server, status: int, error: type) -> None:
    server.fail(status, "model 'qwen-vl' not found")
    with pytest.raises(error, match="model 'qwen-vl' not found") as caught:
        make(server).generate(request())
    assert len(server.requests) == 1
    assert str(status) in str(caught.value)


@pytest.mark.parametrize(
    ("status", "message", "code"),
    [
        (404, 'model "qwen-vl" not found, try pulling it first', None),  # Ollama
        (404, "The model `qwen-vl` does not exist or you do not have access to it.", "model_not_found"),
        (400, "no such deployment", "model_not_found"),  # the error code alone is enough
    ],
)
def test_an_unknown_model_is_a_typed_error_naming_the_model_and_the_parameter(
    server, status: int, message: str, code: str | None
) -> None:
    server.fail(status, message, code=code)
    vlm = create_vlm(
        "openai", model="qwen-vl", base_url=server.base_url, retries=3, model_parameter="vlm_model"
    )
    with pytest.raises(VLMModelNotFoundError) as caught:
        vlm.generate(request())
    assert len(server.requests) == 1  # not retried
    text = str(caught.value)
    assert "model 'qwen-vl' was not found" in text and message.rstrip(".") in text
    assert "Set the ROS parameter `vlm_model`" in text and "ollama list" in text


def test_a_404_that_names_no_model_is_a_wrong_url(server) -> None:
    server.fail(404, "404 page not found")
    with pytest.raises(VLMConfigError, match="check base_url") as caught:
        make(server).generate(request())
    assert not isinstance(caught.value, VLMModelNotFoundError)
    assert len(server.requests) == 1


def test_key_never_in_error_messages(server) -> None:
    server.fail(401, f"Incorrect API key provided: {KEY}")
    server.fail(500, f"echo {KEY}")
    for _ in range(2):
        with pytest.raises(VLMError) as caught:
            make(server, api_key=KEY, retries=0).generate(request())
        error, shown = caught.value, []
        while error is not None:
            shown += [str(error), repr(error)]
            error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
        assert not any(KEY in text for text in shown)
    assert KEY not in repr(make(server, api_key=KEY))


def test_empty_reply_is_unavailable(server) -> None:
    server.reply("")
    with pytest.raises(VLMUnavailable, match="no text"):
        make(server).generate(request())


def test_registry(server) -> None:
    server.reply("ok")
    vlm = create_vlm("openai", model="llava", base_url=server.base_url)
    assert (vlm.name, vlm.model, vlm.model_parameter) == ("openai", "llava", "model")
    assert vlm.generate(request()).text == "ok"
