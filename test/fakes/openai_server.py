"""A fake OpenAI-compatible API (POST {base}/chat/completions) for tests."""

from __future__ import annotations

from test.fakes import Canned, FakeHTTPServer


class FakeOpenAIServer(FakeHTTPServer):
    """Queue replies with ``reply`` and failures with ``fail``; ``base_url`` ends in /v1."""

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def reply(self, text: str, input_tokens: int = 13, output_tokens: int = 5, model: str = "") -> None:
        body = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": input_tokens,
                "completion_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
        }
        if model:
            body["model"] = model
        self.queue(Canned(200, body))

    def fail(
        self, status: int, message: str = "", retry_after: float | None = None, code: str | None = None
    ) -> None:
        """An error answer; ``code`` is the body's error code (OpenAI: "model_not_found"), else the status."""
        error = {"message": message or f"fake error {status}", "type": "fake_error", "code": code or status}
        headers = (("Retry-After", str(retry_after)),) if retry_after is not None else ()
        self.queue(Canned(status, {"error": error}, headers))

    def drop(self) -> None:
        self.queue(Canned(drop=True))
