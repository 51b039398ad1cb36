"""Reading the markdown of model replies: fenced blocks, prose, and lenient JSON."""

from __future__ import annotations

import ast
import json
import re
import textwrap
from dataclasses import dataclass
from typing import Any

# --- fenced blocks and prose --------------------------------------------------


@dataclass
class Block:
    lang: str
    body: str


_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*([\w+.-]*)(.*)$")


def split_blocks(text: str) -> tuple[list[Block], str]:
    """Fenced blocks (an unclosed last fence runs to the end) and the prose outside them."""
    blocks: list[Block] = []
    prose: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            prose.append(lines[i])
            i += 1
            continue
        fence, lang, rest = match.groups()
        rest = rest.strip()
        if rest.endswith(fence[0] * 3):  # a one-line block: ```json {"decision": "done"}```
            blocks.append(Block(lang.lower(), rest.rstrip(fence[0]).strip()))
            prose.append("")  # a removed block separates paragraphs
            i += 1
            continue
        body: list[str] = [rest] if rest else []
        i += 1
        while i < len(lines):
            stripped = lines[i].strip()
            if stripped.startswith(fence) and not stripped.strip(fence[0]):
                break
            body.append(lines[i])
            i += 1
        i += 1
        blocks.append(Block(lang.lower(), textwrap.dedent("\n".join(body)).strip("\n")))
        prose.append("")
    return blocks, re.sub(r"\n{3,}", "\n\n", "\n".join(prose)).strip()


def looks_like_code(source: str) -> bool:
    """True if ``source`` parses as Python and does something (a call, assignment, import, loop...)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    acting = (ast.Call, ast.Assign, ast.AugAssign, ast.Import, ast.ImportFrom, ast.FunctionDef)
    acting += (ast.For, ast.While, ast.If, ast.With, ast.Try, ast.Return, ast.Raise, ast.Assert)
    return any(isinstance(node, acting) for node in ast.walk(tree)) or any(
        isinstance(node, ast.AnnAssign) and node.value is not None for node in ast.walk(tree)
    )


def is_data_literal(source: str) -> bool:
    """A block that is just a dict/list literal (JSON written in a python block)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return source.lstrip().startswith("{")
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        return False
    value = tree.body[0].value
    return isinstance(value, ast.Dict) or (
        isinstance(value, ast.List) and all(isinstance(e, ast.Constant) for e in value.elts)
    )


def classify(block: Block) -> str:
    if not block.body.strip():
        return "empty"
    if block.lang in ("json", "json5", "jsonc"):
        return "data"
    if block.lang in ("python", "py", "python3", "py3", ""):
        if is_data_literal(block.body):
            return "data"
        if block.lang or looks_like_code(block.body):
            return "code"
    return "other"


# --- tolerant JSON -----------------------------------------------------------------------------------

_PY_WORDS = {"true": "True", "false": "False", "null": "None", "none": "None"}


def _to_python_literal(source: str) -> str:
    """JSON-ish text as a Python literal: comments dropped, true/false/null mapped, strings kept."""
    out: list[str] = []
    i, quote = 0, ""
    while i < len(source):
        char = source[i]
        if quote:
            out.append(char)
            if char == "\\" and i + 1 < len(source):
                out.append(source[i + 1])
                i += 1
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
            out.append(char)
        elif source.startswith("//", i) or char == "#":
            while i < len(source) and source[i] != "\n":
                i += 1
            continue
        elif source.startswith("/*", i):
            end = source.find("*/", i + 2)
            i = len(source) if end < 0 else end + 2
            continue
        elif char.isalpha() or char == "_":
            word = re.match(r"\w+", source[i:]).group(0)  # type: ignore[union-attr]
            out.append(_PY_WORDS.get(word.lower(), word))
            i += len(word)
            continue
        else:
            out.append(char)
        i += 1
    return "".join(out)


def loads_lenient(source: str) -> Any:
    """Parse JSON, or failing that JSON with comments, trailing commas, single quotes or Python literals."""
    try:
        return json.loads(source)
    except ValueError:
        pass
    try:
        return ast.literal_eval(_to_python_literal(source).strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ValueError(f"not JSON: {exc}") from None


def inline_objects(prose: str) -> list[tuple[dict[str, Any], str]]:
    """Balanced {...} objects in prose that parse; each with the text it spans."""
    found: list[tuple[dict[str, Any], str]] = []
    start = prose.find("{")
    while start >= 0:
        depth, quote, end = 0, "", -1
        for i in range(start, len(prose)):
            char = prose[i]
            if quote:
                quote = "" if char == quote and prose[i - 1] != "\\" else quote
            elif char in "\"'":
                quote = char
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    end = i + 1
                    break
        if end < 0:
            start = prose.find("{", start + 1)
            continue
        try:
            value = loads_lenient(prose[start:end])
        except ValueError:
            start = prose.find("{", start + 1)
            continue
        if isinstance(value, dict):
            found.append((value, prose[start:end]))
        start = prose.find("{", end)
    return found
