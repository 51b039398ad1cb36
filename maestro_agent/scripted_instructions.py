"""Which scripted program an instruction selects, and the words it names in the program's slots.

A listed instruction is matched after ``normalize_instruction`` (lower case, punctuation to spaces,
whitespace collapsed): exactly, or as a prefix of the trial's instruction at a word boundary. It may hold
slots, ``{name}``, each matching one or more words: "Trash out the {target} into the garbage can" selects
its program for any toy and binds ``target`` ("red plush bear"). The program's code then starts with
``target = 'red plush bear'``, as a model writes the object's name the instruction gave into its code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SLOT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def normalize_instruction(text: str) -> str:
    """Lower case, punctuation to spaces, whitespace collapsed."""
    return " ".join(re.sub(r"[^\w\s]|_", " ", text.lower()).split())


@dataclass(frozen=True)
class InstructionPattern:
    text: str  # as written
    key: str  # normalised, slots kept as {name}: what may not repeat across programs
    literal: int  # characters outside the slots: the more, the more specific
    regex: re.Pattern[str]

    @staticmethod
    def parse(text: str) -> InstructionPattern:
        parts = _SLOT.split(text)  # literal, name, literal, name, ..., literal
        literals, names = [normalize_instruction(p) for p in parts[::2]], parts[1::2]
        pieces, body = [literals[0]], re.escape(literals[0])
        for name, literal in zip(names, literals[1:], strict=True):
            pieces += [f"{{{name}}}", literal]
            body += (" " if body else "") + f"(?P<{name}>.+?)" + (f" {re.escape(literal)}" if literal else "")
        key = " ".join(p for p in pieces if p)
        return InstructionPattern(text, key, sum(map(len, literals)), re.compile(body))

    def match(self, normalized: str) -> tuple[bool, dict[str, str]] | None:
        """None if ``normalized`` does not match; else (whether it matched whole, the slots' words)."""
        found = self.regex.fullmatch(normalized)
        whole = found is not None
        if found is None:  # a prefix of it, at a word boundary
            found = re.fullmatch(rf"(?:{self.regex.pattern}) .*", normalized)
        return None if found is None else (whole, found.groupdict())


def bind(slots: dict[str, str], code: str) -> str:
    """``code`` preceded by one assignment per slot (nothing to add for a program without slots)."""
    if not code:
        return code
    return "".join(f"{name} = {value!r}\n" for name, value in slots.items()) + code
