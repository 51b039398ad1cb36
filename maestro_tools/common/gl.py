"""MuJoCo's OpenGL backend, chosen so that rendering works without the user exporting MUJOCO_GL.

MuJoCo reads ``MUJOCO_GL`` when ``mujoco`` is first imported: unset, it uses GLFW, which needs a
display. Here a backend the user set is respected; otherwise GLFW is picked only with a display
(``DISPLAY``/``WAYLAND_DISPLAY``), else EGL, else OSMesa, each probed first with plain ctypes calls
(no mujoco import). ``new_renderer`` makes every ``mujoco.Renderer``: it applies the choice, also when
mujoco was imported before it was made, and turns a context failure into one error that names the
backends tried, why each failed, and how to choose one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import importlib.util
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from maestro_tools.common.errors import UnavailableError

if TYPE_CHECKING:
    import mujoco

HOW_TO_CHOOSE = (
    "Choose a backend by exporting MUJOCO_GL: MUJOCO_GL=egl (GPU driver or Mesa; Debian/Ubuntu: "
    "apt install libegl1 libegl-mesa0), MUJOCO_GL=osmesa (software rendering; apt install libosmesa6) "
    "or MUJOCO_GL=glfw (needs a display: DISPLAY or WAYLAND_DISPLAY)."
)
_EGL_PLATFORM_DEVICE = 0x313F
_EGL_OPENGL_API = 0x30A2
# EGL_{RED,GREEN,BLUE,ALPHA,DEPTH}_SIZE, EGL_SURFACE_TYPE = PBUFFER, EGL_RENDERABLE_TYPE = OPENGL, NONE
_EGL_CONFIG = (0x3024, 8, 0x3023, 8, 0x3022, 8, 0x3021, 8, 0x3025, 24, 0x3033, 0x1, 0x3040, 0x8, 0x3038)
_OSMESA_RGBA = 0x1908


class GLBackendError(UnavailableError):
    """No OpenGL context for MuJoCo's offscreen renderer."""


@dataclass(frozen=True)
class GLChoice:
    backend: str | None  # the MUJOCO_GL in use; None when no backend passed its probe
    source: str  # "user" (MUJOCO_GL was set) or "auto"
    tried: tuple[tuple[str, str], ...] = ()  # (backend, why not) of each backend passed over


def candidates(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Backends to try in order: GLFW only where there is a display."""
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return ("glfw", "egl", "osmesa")
    return ("egl", "osmesa")


def choose_backend(environ: Mapping[str, str], probes: Mapping[str, Callable[[], None]]) -> GLChoice:
    """The user's MUJOCO_GL if set, else the first candidate whose probe does not raise."""
    user = environ.get("MUJOCO_GL", "").strip().lower()
    if user:
        return GLChoice(user, "user")
    tried: list[tuple[str, str]] = []
    if "glfw" not in candidates(environ):
        tried.append(("glfw", "not tried: no display (DISPLAY and WAYLAND_DISPLAY are unset)"))
    for backend in candidates(environ):
        try:
            probes[backend]()
        except Exception as exc:  # a probe fails in many ways (missing library, no device, ...)
            tried.append((backend, _describe(exc)))
            continue
        return GLChoice(backend, "auto", tuple(tried))
    return GLChoice(None, "auto", tuple(tried))


def failure_message(choice: GLChoice, error: BaseException | None = None, detail: str = "") -> str:
    """What went wrong with which backends, and how to choose one (``detail``: more on ``error``)."""
    tried = list(choice.tried)
    if choice.backend is not None and error is not None:
        tried.append((choice.backend, _describe(error) + (f" ({detail})" if detail else "")))
    context = f"MuJoCo could not create an OpenGL context with MUJOCO_GL={choice.backend}"
    hint = ""
    if choice.source == "user":
        head = f"{context} (set in the environment)"
        hint = " Or unset MUJOCO_GL to let Maestro pick a working backend."
    elif choice.backend is None:
        head = "MuJoCo cannot render: no OpenGL backend works on this machine"
    else:
        head = f"{context} (chosen automatically)"
    lines = "\n".join(f"  {backend}: {reason}" for backend, reason in tried)
    return f"{head}. Backends tried:\n{lines}\n{HOW_TO_CHOOSE}{hint}"


# -- this process ---------------------------------------------------------------------------------
_lock = threading.Lock()
_choice: GLChoice | None = None


def configure() -> GLChoice:
    """Choose the backend once per process and export it as MUJOCO_GL (inherited by child processes)."""
    global _choice
    with _lock:
        if _choice is None:
            _choice = choose_backend(os.environ, PROBES)
            if _choice.source == "auto" and _choice.backend is not None:
                os.environ["MUJOCO_GL"] = _choice.backend
        return _choice


def new_renderer(model: mujoco.MjModel, height: int, width: int) -> mujoco.Renderer:
    """A ``mujoco.Renderer`` on the chosen backend; GLBackendError (with what to do) if none works."""
    choice = configure()
    if choice.backend is None:
        raise GLBackendError(failure_message(choice))
    import mujoco  # after configure(): mujoco reads MUJOCO_GL when first imported

    try:
        if choice.source == "auto":
            _bind(choice.backend)
        return mujoco.Renderer(model, height=height, width=width)
    except Exception as exc:
        raise GLBackendError(failure_message(choice, exc, _probe_error(choice.backend))) from exc


def _probe_error(backend: str) -> str:
    """Why ``backend``'s probe fails ("" if it passes): MuJoCo's own error is often generic."""
    try:
        PROBES.get(backend, lambda: None)()
    except Exception as exc:
        return _describe(exc)
    return ""


def _bind(backend: str) -> None:
    """Make mujoco's renderer use ``backend`` even if mujoco was imported (binding GLFW) before the choice."""
    try:
        from mujoco.rendering.classic import gl_context  # mujoco 4's home of GLContext
    except ImportError:  # another layout: MUJOCO_GL, exported by configure(), is all there is
        return
    current = getattr(gl_context, "GLContext", None)
    if current is not None and current.__module__ == f"mujoco.{backend}":
        return
    gl_context.GLContext = importlib.import_module(f"mujoco.{backend}").GLContext


# -- probes: the same steps as mujoco's backends, through ctypes, so nothing is bound yet -------------
def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".strip().rstrip(":")


def _load(name: str, *sonames: str) -> ctypes.CDLL:
    found = ctypes.util.find_library(name)
    for soname in (*sonames, *([found] if found else [])):
        try:
            return ctypes.CDLL(soname)
        except OSError:
            continue
    raise OSError(f"lib{name} not found (tried {', '.join(sonames)})")


def _probe_glfw() -> None:
    if importlib.util.find_spec("glfw") is None:
        raise RuntimeError("the glfw Python package is not installed")
    if os.environ.get("DISPLAY"):
        x11 = _load("X11", "libX11.so.6")
        x11.XOpenDisplay.restype, x11.XOpenDisplay.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
        x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        display = x11.XOpenDisplay(None)
        if not display:
            raise RuntimeError(f"cannot open the X display DISPLAY={os.environ['DISPLAY']!r}")
        x11.XCloseDisplay(display)
    elif os.environ.get("WAYLAND_DISPLAY"):
        wayland = _load("wayland-client", "libwayland-client.so.0")
        wayland.wl_display_connect.restype = ctypes.c_void_p
        wayland.wl_display_connect.argtypes = [ctypes.c_char_p]
        wayland.wl_display_disconnect.argtypes = [ctypes.c_void_p]
        display = wayland.wl_display_connect(None)
        if not display:
            raise RuntimeError(f"cannot connect to WAYLAND_DISPLAY={os.environ['WAYLAND_DISPLAY']!r}")
        wayland.wl_display_disconnect(display)
    else:
        raise RuntimeError("no display (DISPLAY and WAYLAND_DISPLAY are unset)")


def _probe_egl() -> None:
    """An OpenGL context on an EGL device display, as mujoco.egl makes it (headless, no window system)."""
    egl = _load("EGL", "libEGL.so.1")
    _load("OpenGL", "libOpenGL.so.0")  # mujoco's EGL backend calls GL through GLVND's libOpenGL
    vp, uint = ctypes.c_void_p, ctypes.c_uint
    egl.eglGetProcAddress.restype, egl.eglGetProcAddress.argtypes = vp, [ctypes.c_char_p]
    egl.eglInitialize.argtypes = [vp, vp, vp]
    egl.eglTerminate.argtypes = [vp]
    egl.eglChooseConfig.argtypes = [vp, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(vp), ctypes.c_int, vp]
    egl.eglCreateContext.restype, egl.eglCreateContext.argtypes = vp, [vp, vp, vp, vp]
    egl.eglDestroyContext.argtypes = [vp, vp]
    query, platform_display = (
        egl.eglGetProcAddress(n) for n in (b"eglQueryDevicesEXT", b"eglGetPlatformDisplayEXT")
    )
    if not query or not platform_display:
        raise RuntimeError(
            "EGL lacks the device extensions (EGL_EXT_device_enumeration, EXT_platform_device)"
        )
    query_devices = ctypes.CFUNCTYPE(uint, ctypes.c_int, ctypes.POINTER(vp), ctypes.POINTER(ctypes.c_int))(
        query
    )
    get_display = ctypes.CFUNCTYPE(vp, uint, vp, vp)(platform_display)
    devices, count = (vp * 16)(), ctypes.c_int()
    if not query_devices(16, devices, ctypes.byref(count)) or count.value == 0:
        raise RuntimeError("EGL found no device to render on")
    attributes = (ctypes.c_int * len(_EGL_CONFIG))(*_EGL_CONFIG)
    for device in devices[: count.value]:
        display = get_display(_EGL_PLATFORM_DEVICE, device, None)
        if not display or not egl.eglInitialize(display, None, None):
            continue
        try:
            config, found = vp(), ctypes.c_int()
            egl.eglChooseConfig(display, attributes, ctypes.byref(config), 1, ctypes.byref(found))
            if found.value and egl.eglBindAPI(_EGL_OPENGL_API):
                context = egl.eglCreateContext(display, config, None, None)
                if context:
                    egl.eglDestroyContext(display, context)
                    return
        finally:
            egl.eglTerminate(display)
    raise RuntimeError(
        f"none of {count.value} EGL device(s) gave an OpenGL context (eglGetError 0x{egl.eglGetError():x})"
    )


def _probe_osmesa() -> None:
    osmesa = _load("OSMesa", "libOSMesa.so.8", "libOSMesa.so.6")
    osmesa.OSMesaCreateContextExt.restype = ctypes.c_void_p
    osmesa.OSMesaCreateContextExt.argtypes = [
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_void_p,
    ]
    osmesa.OSMesaDestroyContext.argtypes = [ctypes.c_void_p]
    context = osmesa.OSMesaCreateContextExt(_OSMESA_RGBA, 24, 8, 0, None)
    if not context:
        raise RuntimeError("OSMesaCreateContextExt failed")
    osmesa.OSMesaDestroyContext(context)


PROBES: dict[str, Callable[[], None]] = {"glfw": _probe_glfw, "egl": _probe_egl, "osmesa": _probe_osmesa}
