"""A seccomp filter the sandbox child installs on itself before it runs any submitted code.

It refuses (EPERM) what running Python and numpy never needs: starting programs (execve), new
processes (fork, or clone without CLONE_THREAD), new namespaces, sockets, tracing or reading other
processes' memory, kernel keyrings, BPF, perf, io_uring, mounts and module loading. clone3 answers
ENOSYS (its flags are behind a pointer a filter cannot read) so the C library falls back to clone.
A syscall of another architecture than the filter's kills the process. With no_new_privs set first,
the filter needs no privilege and cannot be removed by the code.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

# BPF opcodes (linux/filter.h) and seccomp constants (linux/seccomp.h, linux/audit.h).
_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
_RET_ALLOW, _RET_KILL_PROCESS, _RET_ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_PR_SET_NO_NEW_PRIVS, _SECCOMP_SET_MODE_FILTER, _SECCOMP_FILTER_FLAG_TSYNC = 38, 1, 1
_SECCOMP_SYSCALL = {"x86_64": 317, "aarch64": 277}
_CLONE_THREAD = 0x00010000
_CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
_X32_BIT = 0x40000000


# The calls refused, by number (x86_64: asm/unistd_64.h; aarch64: asm-generic/unistd.h), checked by a test
# against the installed headers where they exist.
SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": dict(
        execve=59, execveat=322, fork=57, vfork=58, clone=56, clone3=435, socket=41, socketpair=53,
        ptrace=101, process_vm_readv=310, process_vm_writev=311, unshare=272, setns=308, mount=165,
        umount2=166, pivot_root=155, chroot=161, fsopen=430, fsmount=432, move_mount=429, open_tree=428,
        keyctl=250, add_key=248, request_key=249, bpf=321, perf_event_open=298, userfaultfd=323,
        io_uring_setup=425, io_uring_enter=426, io_uring_register=427, kexec_load=246,
        kexec_file_load=320, init_module=175, finit_module=313, delete_module=176, reboot=169,
        swapon=167, swapoff=168, acct=163, open_by_handle_at=304, name_to_handle_at=303, kcmp=312,
        pidfd_getfd=438, mknod=133, mknodat=259, syslog=103, quotactl=179, personality=135, iopl=172,
        ioperm=173,
    ),
    "aarch64": dict(
        execve=221, execveat=281, clone=220, clone3=435, socket=198, socketpair=199, ptrace=117,
        process_vm_readv=270, process_vm_writev=271, unshare=97, setns=268, mount=40, umount2=39,
        pivot_root=41, chroot=51, fsopen=430, fsmount=432, move_mount=429, open_tree=428, keyctl=219,
        add_key=217, request_key=218, bpf=280, perf_event_open=241, userfaultfd=282, io_uring_setup=425,
        io_uring_enter=426, io_uring_register=427, kexec_load=104, kexec_file_load=294, init_module=105,
        finit_module=273, delete_module=106, reboot=142, swapon=224, swapoff=225, acct=89,
        open_by_handle_at=265, name_to_handle_at=264, kcmp=272, pidfd_getfd=438, mknodat=33,
        syslog=116, quotactl=60, personality=92,
    ),
}  # fmt: skip
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}


def machine() -> str:
    return platform.machine().lower().replace("amd64", "x86_64").replace("arm64", "aarch64")


def supported() -> bool:
    return machine() in SYSCALLS


def build_filter(arch: str) -> list[tuple[int, int, int, int]]:
    """The BPF program as (code, jt, jf, k) instructions."""
    table = SYSCALLS[arch]
    deny = _RET_ERRNO | errno.EPERM
    prog: list[tuple[int, int, int, int]] = [
        (_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        (_JEQ_K, 1, 0, AUDIT_ARCH[arch]),
        (_RET_K, 0, 0, _RET_KILL_PROCESS),
        (_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
    ]
    if arch == "x86_64":  # the x32 ABI numbers the same calls differently
        prog += [(_JGE_K, 0, 1, _X32_BIT), (_RET_K, 0, 0, deny)]
    prog += [(_JEQ_K, 0, 1, table["clone3"]), (_RET_K, 0, 0, _RET_ERRNO | errno.ENOSYS)]
    for name, number in table.items():  # every listed call but clone/clone3, handled on their own
        if name not in ("clone", "clone3"):
            prog += [(_JEQ_K, 0, 1, number), (_RET_K, 0, 0, deny)]
    # clone: threads only (CLONE_THREAD set, no namespace flags); flags are args[0], low word at 16.
    prog += [
        (_JEQ_K, 0, 5, table["clone"]),
        (_LD_W_ABS, 0, 0, 16),
        (_JSET_K, 2, 0, _CLONE_NAMESPACES),
        (_JSET_K, 0, 1, _CLONE_THREAD),
        (_RET_K, 0, 0, _RET_ALLOW),
        (_RET_K, 0, 0, deny),
        (_RET_K, 0, 0, _RET_ALLOW),
    ]
    return prog


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install() -> None:
    """Set no_new_privs and install the filter on every thread of this process (TSYNC). Raises OSError."""
    arch = machine()
    if arch not in SYSCALLS:
        raise OSError(f"no seccomp filter for the {arch} architecture (have: {', '.join(SYSCALLS)})")
    prog = build_filter(arch)
    raw = b"".join(struct.pack("=HBBI", *ins) for ins in prog)
    buffer = ctypes.create_string_buffer(raw, len(raw))
    fprog = _SockFprog(len(prog), ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    libc.syscall.argtypes = [ctypes.c_long, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_void_p]
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    flags = _SECCOMP_FILTER_FLAG_TSYNC
    if libc.syscall(_SECCOMP_SYSCALL[arch], _SECCOMP_SET_MODE_FILTER, flags, ctypes.addressof(fprog)) != 0:
        raise OSError(ctypes.get_errno(), "seccomp(SECCOMP_SET_MODE_FILTER) failed")
