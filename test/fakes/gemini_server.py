"""A fake Gemini API (POST /v1beta/models/{model}:generateContent) for tests."""

from __future__ import annotations

from test.fakes import Canned, FakeHTTPServer

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
}


class FakeGeminiServer(FakeHTTPServer):
    """Queue replies with ``reply`` and failures with ``fail``; inspect ``requests`` afterwards."""

    def reply(self, text: str, input_tokens: int = 11, output_tokens: int = 7, model: str = "") -> None:
        body = {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {
                "promptTokenCount": input_tokens,
                "candidatesTokenCount": output_tokens,
                "totalTokenCount": input_tokens + output_tokens,
            },
        }
        if model:
            body["modelVersion"] = model
        self.queue(Canned(200, body))

    def fail(self, status: int, message: str = "", retry_after: float | None = None) -> None:
        status_name = _STATUS_NAMES.get(status, "UNAVAILABLE" if status >= 500 else "FAILED_PRECONDITION")
        error = {"code": status, "message": message or f"fake error {status}", "status": status_name}
        headers = (("Retry-After", str(retry_after)),) if retry_after is not None else ()
        self.queue(Canned(status, {"error": error}, headers))

    def drop(self) -> None:
        """Close the connection without answering (a connection error for the client)."""
        self.queue(Canned(drop=True))
