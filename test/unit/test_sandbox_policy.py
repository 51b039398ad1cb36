"""The syntax-tree allowlist: each refused construct with its message, and allowed code."""

from __future__ import annotations

import textwrap

import pytest

from maestro_agent.sandbox.policy import ALLOWED_IMPORTS, Violation, check_code, import_refusal

REFUSED = [
    # imports
    ("import os", "import of 'os' is not allowed; allowed modules: collections, copy"),
    ("import subprocess as sp", "import of 'subprocess' is not allowed"),
    ("from os import path", "import of 'os' is not allowed"),
    ("from . import x", "relative imports are not allowed"),
    ("import numpy.ctypeslib", "numpy.ctypeslib (file, pickle or C access)"),
    ("from numpy import load", "numpy.load (file, pickle or C access)"),
    ("from numpy.lib import stride_tricks", "numpy.lib"),
    ("import numpy._core", "private modules"),
    # private and dunder names
    ("().__class__.__bases__[0].__subclasses__()", "attribute '__class__' is not allowed"),
    ("f.__globals__", "attribute '__globals__' is not allowed"),
    ("robot._node", "attribute '_node' is not allowed"),
    ("__builtins__", "name '__builtins__' is not allowed"),
    ("_secret = 1", "name '_secret' is not allowed"),
    ("def _helper():\n    pass", "name '_helper' is not allowed"),
    ("def f(_x):\n    pass", "argument '_x' is not allowed"),
    ("f(_private=1)", "keyword argument '_private' is not allowed"),
    ("class A:\n    def __del__(self):\n        pass", "name '__del__' is not allowed"),
    ("def __init__(self):\n    pass", "name '__init__' is not allowed"),  # only inside a class
    ("match x:\n    case str(__class__=c):\n        pass", "pattern attribute '__class__'"),
    ("if __name__ == '__main__':\n    pass", "name '__name__' is not allowed"),
    # forbidden builtins
    ("open('/etc/passwd')", "'open' is not allowed in the sandbox"),
    ("exec('1')", "'exec' is not allowed"),
    ("eval('1')", "'eval' is not allowed"),
    ("compile('1', 's', 'eval')", "'compile' is not allowed"),
    ("getattr(x, 'y')", "'getattr' is not allowed"),
    ("setattr(x, 'y', 1)", "'setattr' is not allowed"),
    ("delattr(x, 'y')", "'delattr' is not allowed"),
    ("globals()", "'globals' is not allowed"),
    ("locals()", "'locals' is not allowed"),
    ("vars(x)", "'vars' is not allowed"),
    ("__import__('os')", "'__import__' is not allowed"),
    ("breakpoint()", "'breakpoint' is not allowed"),
    ("input()", "'input' is not allowed"),
    ("help(x)", "'help' is not allowed"),
    ("memoryview(b'')", "'memoryview' is not allowed"),
    ("exit()", "'exit' is not allowed"),
    ("quit()", "'quit' is not allowed"),
    ("g = getattr", "'getattr' is not allowed"),
    # attribute walking
    ("'{0.__class__}'.format(x)", "attribute 'format' is not allowed (str.format can read attributes)"),
    ("'{x}'.format_map(d)", "attribute 'format_map' is not allowed"),
    ("int.mro()", "attribute 'mro' is not allowed"),
    ("g.gi_frame.f_back", "attribute 'gi_frame' is not allowed: it exposes interpreter internals"),
    ("tb.tb_frame", "attribute 'tb_frame' is not allowed"),
    # numpy escape hatches by attribute
    ("import numpy as np\nnp.load('x.npy')", "attribute 'load' is not allowed: numpy file"),
    ("np.save('x', a)", "attribute 'save' is not allowed"),
    ("a.tofile('x')", "attribute 'tofile' is not allowed"),
    ("a.dump('x')", "attribute 'dump' is not allowed"),
    ("a.ctypes.data", "attribute 'ctypes' is not allowed"),
    ("np.lib.stride_tricks.as_strided(a)", "attribute 'lib' is not allowed"),
    ("np.memmap('x')", "attribute 'memmap' is not allowed"),
    ("np.genfromtxt(s)", "attribute 'genfromtxt' is not allowed"),
    ("np.testing.assert_equal(1, 1)", "attribute 'testing' is not allowed"),
    ("np.DataSource()", "attribute 'DataSource' is not allowed"),
    ("import json as np\nnp.loads('1')\nimport numpy as np", "attribute 'loads' is not allowed"),  # rebound
    # catching what stops the code
    ("try:\n    pass\nexcept:\n    pass", "bare `except:` is not allowed: it would swallow cancellation"),
    ("try:\n    pass\nexcept BaseException:\n    pass", "'BaseException' is not allowed"),
    ("try:\n    pass\nexcept (ValueError, SandboxCancelled):\n    pass", "'SandboxCancelled' is not allowed"),
    ("try:\n    pass\nexcept channel.SandboxTimeout:\n    pass", "'SandboxTimeout' is not allowed"),
    ("try:\n    pass\nexcept KeyboardInterrupt:\n    pass", "'KeyboardInterrupt' is not allowed"),
    ("try:\n    pass\nexcept errors()[0]:\n    pass", "except clauses must name exception classes"),
    ("B = BaseException", "'BaseException' is not allowed"),
    # top-level async / generators
    ("await robot.move()", "`await` at the top level is not allowed"),
    ("async for x in y:\n    pass", "`async for` at the top level is not allowed"),
    ("async with x:\n    pass", "`async with` at the top level is not allowed"),
    ("yield 1", "`yield` at the top level is not allowed"),
    ("yield from g()", "`yield` at the top level is not allowed"),
    # compile-time errors
    ("x = (", "SyntaxError"),
    ("return 3", "SyntaxError: 'return' outside function"),
]

ALLOWED = [
    "import numpy as np\nx = np.linalg.norm(np.ones(3))\nprint(f'{x:.2f}')",
    "from numpy import *",
    "from numpy.linalg import norm\nimport numpy.random",
    "import math, time, itertools, collections, functools, random, statistics, copy, json, re, typing",
    "from collections import deque\nfrom dataclasses import dataclass, field",
    "import json\ns = json.dumps({'a': 1})\nd = json.loads(s)",
    "for _ in range(3):\n    pass",
    "try:\n    x = 1 / 0\nexcept (ZeroDivisionError, ValueError) as e:\n    print(e)\nfinally:\n    pass",
    "try:\n    pass\nexcept Exception:\n    pass",
    "def outer():\n    n = 0\n    def inner():\n        nonlocal n\n        n += 1\n    global g\n    g = 1",
    "def gen():\n    yield 1\n    yield from range(3)\nprint(list(gen()))",
    "async def later():\n    await thing()",
    "class Box:\n    def __init__(self, w):\n        self.w = w\n    def __repr__(self):\n        return 'B'",
    "print(format(3.14159, '.2f'))",
    "x = [i * i for i in range(10) if i % 2]\ny = {k: v for k, v in zip('ab', [1, 2])}",
    "match cmd:\n    case {'go': x}:\n        pass\n    case [a, *rest]:\n        pass",
    "robot.move_to(x=0.1, y=0.2)\nframe = perception.capture()",
    "lambda x: x + 1",
]


@pytest.mark.parametrize(("code", "message"), REFUSED)
def test_refused_constructs_are_reported_with_a_message(code: str, message: str) -> None:
    violations = check_code(code)
    assert violations, f"not refused: {code!r}"
    assert all(isinstance(v, Violation) for v in violations)
    assert any(message in v.message for v in violations), [v.message for v in violations]


@pytest.mark.parametrize("code", ALLOWED)
def test_allowed_code_passes(code: str) -> None:
    assert check_code(code) == []


def test_violations_carry_line_and_column() -> None:
    code = textwrap.dedent(
        """\
        x = 1
        import os
        y = x.__class__
        """
    )
    violations = check_code(code)
    assert [(v.line, v.col) for v in violations] == [(2, 0), (3, 4)]


def test_syntax_error_is_one_violation_with_its_line() -> None:
    (v,) = check_code("a = 1\nb = (\nc = 2\n")
    assert v.line == 2
    assert v.message.startswith("SyntaxError")


def test_import_message_lists_allowed_modules() -> None:
    (v,) = check_code("import socket")
    for name in ALLOWED_IMPORTS:
        assert name in v.message


def test_custom_allowlist() -> None:
    assert check_code("import math", allowed_imports=frozenset({"json"}))
    assert check_code("import json", allowed_imports=frozenset({"json"})) == []


def test_import_refusal_helper() -> None:
    assert import_refusal("numpy.linalg") is None
    assert import_refusal("collections.abc") is None
    assert "numpy.f2py" in (import_refusal("numpy.f2py") or "")
    assert "not allowed" in (import_refusal("ctypes") or "")


def test_numpy_denylist_spares_json_only_when_json_is_imported_here() -> None:
    assert check_code("import json\nprint(json.loads('[1]'))") == []
    assert check_code("print(json.loads('[1]'))")  # json may be anything in the namespace
    assert check_code("import json as j\nj = np\nj.load('x.npy')")  # rebound
