"""Syntax-tree allowlist for code written by the model, checked before anything runs.

The check is the first of several layers (the worker also restricts builtins, imports, module
attributes and audited events at run time); every message names what is refused and what to use.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

ALLOWED_IMPORTS: frozenset[str] = frozenset(
    {
        "math",
        "numpy",
        "time",
        "itertools",
        "collections",
        "functools",
        "random",
        "statistics",
        "copy",
        "json",
        "re",
        "typing",
        "dataclasses",
    }
)

# numpy members that read/write files, load pickles or reach C: refused as attributes and submodules.
NUMPY_DENIED: frozenset[str] = frozenset(
    {
        "load", "loads", "save", "savez", "savez_compressed", "savetxt", "loadtxt", "genfromtxt",
        "fromfile", "tofile", "memmap", "ctypeslib", "ctypes", "lib", "f2py", "distutils", "testing",
        "DataSource", "fromregex", "dump", "fromtextfile",
    }
)  # fmt: skip

FORBIDDEN_NAMES: frozenset[str] = frozenset(
    {
        "open", "exec", "eval", "compile", "globals", "locals", "vars", "getattr", "setattr",
        "delattr", "__import__", "breakpoint", "input", "help", "memoryview", "exit", "quit",
    }
)  # fmt: skip

# Public attributes that walk to frames, code objects or the class hierarchy.
FORBIDDEN_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "format", "format_map", "mro", "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code",
        "cr_await", "cr_origin", "ag_frame", "ag_code", "ag_await", "f_back", "f_globals", "f_locals",
        "f_builtins", "f_code", "f_trace", "tb_frame", "tb_next",
    }
)  # fmt: skip

# Exceptions the sandbox uses to stop code; catching them would defeat cancellation and timeouts.
UNCATCHABLE: frozenset[str] = frozenset(
    {
        "BaseException",
        "SandboxCancelled",
        "SandboxTimeout",
        "KeyboardInterrupt",
        "SystemExit",
        "GeneratorExit",
    }
)

# Dunder methods a class body may define (defining them is harmless; reading dunders is not).
ALLOWED_DUNDER_DEFS: frozenset[str] = frozenset(
    {
        "__init__", "__post_init__", "__repr__", "__str__", "__eq__", "__ne__", "__lt__", "__le__",
        "__gt__", "__ge__", "__hash__", "__len__", "__iter__", "__next__", "__contains__",
        "__getitem__", "__setitem__", "__call__", "__enter__", "__exit__", "__add__", "__sub__",
        "__mul__", "__truediv__", "__neg__", "__abs__", "__bool__",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Violation:
    line: int
    col: int
    message: str


def import_refusal(module: str, allowed: frozenset[str] = ALLOWED_IMPORTS) -> str | None:
    """Why importing the dotted name ``module`` is refused, or None when it is allowed."""
    parts = module.split(".")
    if parts[0] not in allowed:
        return f"import of {module!r} is not allowed; allowed modules: {', '.join(sorted(allowed))}"
    if any(p.startswith("_") for p in parts):
        return f"import of {module!r} is not allowed: private modules (names starting with '_') are refused"
    if parts[0] == "numpy" and (denied := [p for p in parts[1:] if p in NUMPY_DENIED]):
        return (
            f"import of {module!r} is not allowed: numpy.{denied[0]} (file, pickle or C access) is "
            "refused in the sandbox; the rest of numpy is available"
        )
    return None


def check_code(code: str, allowed_imports: frozenset[str] = ALLOWED_IMPORTS) -> list[Violation]:
    """Violations of the sandbox policy in ``code`` (empty when it may run)."""
    try:
        tree = ast.parse(code, filename="<substep>", mode="exec")
    except SyntaxError as e:
        return [_syntax_violation(e)]
    checker = _Checker(allowed_imports, _plain_module_names(tree))
    checker.visit(tree)
    if checker.violations:
        return sorted(checker.violations, key=lambda v: (v.line, v.col))
    try:  # errors found only by the compiler, e.g. `return` outside a function
        compile(tree, "<substep>", "exec", dont_inherit=True)
    except SyntaxError as e:
        return [_syntax_violation(e)]
    return []


def _plain_module_names(tree: ast.AST) -> frozenset[str]:
    """Names bound only by imports of allowed non-numpy modules in this code (e.g. ``json``), so
    ``json.loads`` is not mistaken for numpy's; any other binding of the name disqualifies it."""
    bound: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                bound.setdefault(a.asname or a.name.split(".")[0], set()).add(a.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            for a in node.names:
                bound.setdefault(a.asname or a.name, set()).add("numpy")  # a member: not a module name
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.setdefault(node.id, set()).add("numpy")
        elif isinstance(node, ast.arg | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.setdefault(node.arg if isinstance(node, ast.arg) else node.name, set()).add("numpy")
        elif isinstance(node, ast.MatchAs | ast.MatchStar | ast.ExceptHandler) and node.name:
            bound.setdefault(node.name, set()).add("numpy")
    return frozenset(name for name, roots in bound.items() if "numpy" not in roots)


def _uncatchable(name: str) -> str:
    return (
        f"{name!r} is not allowed: BaseException and the sandbox's interrupts stop the code on "
        "cancel/timeout and must not be caught or used; catch Exception instead"
    )


def _syntax_violation(e: SyntaxError) -> Violation:
    text = f": `{e.text.strip()}`" if e.text and e.text.strip() else ""
    return Violation(e.lineno or 1, e.offset or 0, f"SyntaxError: {e.msg}{text}")


class _Checker(ast.NodeVisitor):
    def __init__(self, allowed: frozenset[str], plain_modules: frozenset[str]) -> None:
        self.allowed = allowed
        self.plain_modules = plain_modules
        self.violations: list[Violation] = []
        self.depth = 0  # function nesting; 0 is the top level
        self.class_depth = 0

    def refuse(self, node: ast.AST, message: str) -> None:
        self.violations.append(Violation(getattr(node, "lineno", 1), getattr(node, "col_offset", 0), message))

    def check_name(self, node: ast.AST, name: str, what: str = "name") -> None:
        if name.startswith("_") and name != "_":
            self.refuse(
                node,
                f"{what} {name!r} is not allowed: names starting with '_' (private members, dunders) "
                "are refused; use public names (a bare '_' is fine)",
            )

    # imports
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if reason := import_refusal(alias.name, self.allowed):
                self.refuse(node, reason)
            if alias.asname:
                self.check_name(node, alias.asname)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self.refuse(node, "relative imports are not allowed; import allowed modules by absolute name")
            return
        module = node.module or ""
        if reason := import_refusal(module, self.allowed):
            self.refuse(node, reason)
            return
        for alias in node.names:
            if alias.name != "*" and (reason := import_refusal(f"{module}.{alias.name}", self.allowed)):
                self.refuse(node, reason)
            elif alias.asname:
                self.check_name(node, alias.asname)

    # names and attributes
    def visit_Name(self, node: ast.Name) -> None:
        if node.id in FORBIDDEN_NAMES:
            self.refuse(
                node,
                f"{node.id!r} is not allowed in the sandbox (no file, eval/exec, introspection or "
                "interactive builtins); use the provided objects and the allowed modules",
            )
        elif node.id in UNCATCHABLE:
            self.refuse(node, _uncatchable(node.id))
        else:
            self.check_name(node, node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr.startswith("_"):
            self.check_name(node, attr, "attribute")
        elif attr in ("format", "format_map"):
            self.refuse(
                node, f"attribute {attr!r} is not allowed (str.format can read attributes); use f-strings"
            )
        elif attr in FORBIDDEN_ATTRIBUTES:
            self.refuse(node, f"attribute {attr!r} is not allowed: it exposes interpreter internals")
        elif attr in UNCATCHABLE:
            self.refuse(node, _uncatchable(attr))
        elif attr in NUMPY_DENIED and not self._non_numpy_module(node.value):
            self.refuse(
                node,
                f"attribute {attr!r} is not allowed: numpy file, pickle and C access (load, save, tofile, "
                "lib, ctypes, ...) are refused; the sandbox has no files (json.loads/json.dumps are fine "
                "when json is imported in the same code)",
            )
        self.generic_visit(node)

    def _non_numpy_module(self, value: ast.expr) -> bool:
        return isinstance(value, ast.Name) and value.id in self.plain_modules

    # definitions
    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        if not isinstance(node, ast.Lambda):
            dunder_ok = self.class_depth and node.name in ALLOWED_DUNDER_DEFS
            if node.name == "__del__" or not dunder_ok:
                self.check_name(node, node.name)
        args = node.args
        for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if a is not None:
                self.check_name(a, a.arg, "argument")
        self.depth += 1
        saved, self.class_depth = self.class_depth, 0
        self.generic_visit(node)
        self.depth -= 1
        self.class_depth = saved

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815
    visit_Lambda = visit_FunctionDef  # noqa: N815

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.check_name(node, node.name)
        self.class_depth += 1
        self.generic_visit(node)
        self.class_depth -= 1

    def visit_keyword(self, node: ast.keyword) -> None:
        if node.arg is not None:
            self.check_name(node, node.arg, "keyword argument")
        self.generic_visit(node)

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        for attr in node.kwd_attrs:
            self.check_name(node, attr, "pattern attribute")
            if attr in FORBIDDEN_ATTRIBUTES:
                self.refuse(node, f"pattern attribute {attr!r} is not allowed")
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.name:
            self.check_name(node, node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self.check_name(node, node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest:
            self.check_name(node, node.rest)
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global | ast.Nonlocal) -> None:
        for name in node.names:
            self.check_name(node, name)

    visit_Nonlocal = visit_Global  # noqa: N815

    # exceptions
    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is None:
            self.refuse(
                node,
                "bare `except:` is not allowed: it would swallow cancellation and timeouts; "
                "catch Exception or a specific error instead",
            )
        else:  # uncatchable names are reported by visit_Name / visit_Attribute
            for expr in node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]:
                if not isinstance(expr, ast.Name | ast.Attribute):
                    self.refuse(
                        expr, "except clauses must name exception classes (e.g. `except ValueError:`)"
                    )
        if node.name:
            self.check_name(node, node.name)
        self.generic_visit(node)

    # top-level async and generators
    def _top_level(self, node: ast.AST, what: str) -> None:
        if self.depth == 0:
            self.refuse(
                node,
                f"{what} at the top level is not allowed: the code runs as a plain script with no event "
                "loop; call the provided functions directly (they block until done)",
            )

    def visit_Await(self, node: ast.Await) -> None:
        self._top_level(node, "`await`")
        self.generic_visit(node)

    def visit_AsyncFor(self, node: ast.AsyncFor) -> None:
        self._top_level(node, "`async for`")
        self.generic_visit(node)

    def visit_AsyncWith(self, node: ast.AsyncWith) -> None:
        self._top_level(node, "`async with`")
        self.generic_visit(node)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        if node.is_async:
            self._top_level(node.target, "an async comprehension")
        self.generic_visit(node)

    def visit_Yield(self, node: ast.Yield | ast.YieldFrom) -> None:
        if self.depth == 0:
            self.refuse(
                node,
                "`yield` at the top level is not allowed: the code is a script, not a generator; "
                "print results or store them in variables",
            )
        self.generic_visit(node)

    visit_YieldFrom = visit_Yield  # noqa: N815
