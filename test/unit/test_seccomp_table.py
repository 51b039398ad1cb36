"""The seccomp filter's syscall numbers against the kernel headers installed here, and its program."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from maestro_agent.sandbox import seccomp

HEADERS = {
    "x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    "aarch64": Path("/usr/include/asm-generic/unistd.h"),
}


def header_numbers(path: Path) -> dict[str, int]:
    numbers = {}
    for name, value in re.findall(r"#define __NR(?:3264)?_(\w+)\s+(\d+)\b", path.read_text()):
        numbers.setdefault(name, int(value))
    return numbers


@pytest.mark.parametrize("arch", sorted(HEADERS))
def test_syscall_numbers_match_the_kernel_headers(arch: str) -> None:
    if not HEADERS[arch].exists():
        pytest.skip(f"{HEADERS[arch]} is not installed")
    numbers = header_numbers(HEADERS[arch])
    wrong = {n: (v, numbers.get(n)) for n, v in seccomp.SYSCALLS[arch].items() if numbers.get(n) != v}
    assert not wrong, wrong


@pytest.mark.parametrize("arch", sorted(seccomp.SYSCALLS))
def test_the_filter_program_is_well_formed(arch: str) -> None:
    program = seccomp.build_filter(arch)
    assert len(program) < 4096  # BPF_MAXINSNS
    for index, (code, jt, jf, _) in enumerate(program):
        assert code in (0x20, 0x15, 0x35, 0x45, 0x06)
        if code in (0x15, 0x35, 0x45):  # conditional jumps land inside the program
            assert index + 1 + max(jt, jf) < len(program), f"jump out of the program at {index}"
    assert program[-1][3] == 0x7FFF0000  # anything not refused is allowed
