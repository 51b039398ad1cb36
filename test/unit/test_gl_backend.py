"""MuJoCo's GL backend is chosen without the user exporting anything; failures say what to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from maestro_tools.common import gl
from maestro_tools.common.gl import GLChoice, choose_backend, failure_message

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def probes(failing: dict[str, str], calls: list[str]) -> dict[str, Callable[[], None]]:
    """Fake probes: each records its call, those in ``failing`` raise their message."""

    def probe(backend: str) -> Callable[[], None]:
        def run() -> None:
            calls.append(backend)
            if backend in failing:
                raise RuntimeError(failing[backend])

        return run

    return {backend: probe(backend) for backend in ("glfw", "egl", "osmesa")}


def test_a_backend_the_user_set_is_respected_untested() -> None:
    calls: list[str] = []
    choice = choose_backend({"MUJOCO_GL": " OSMesa ", "DISPLAY": ":0"}, probes({}, calls))
    assert choice == GLChoice("osmesa", "user") and calls == []


@pytest.mark.parametrize("display", [{"DISPLAY": ":0"}, {"WAYLAND_DISPLAY": "wayland-0"}])
def test_a_display_picks_glfw(display: dict[str, str]) -> None:
    calls: list[str] = []
    assert choose_backend(display, probes({}, calls)) == GLChoice("glfw", "auto")
    assert calls == ["glfw"]


def test_no_display_picks_egl_without_trying_glfw() -> None:
    calls: list[str] = []
    choice = choose_backend({"MUJOCO_GL": ""}, probes({}, calls))
    assert (choice.backend, choice.source, calls) == ("egl", "auto", ["egl"])
    assert choice.tried[0][0] == "glfw" and "no display" in choice.tried[0][1]


def test_fallback_order_and_each_error_is_kept() -> None:
    calls: list[str] = []
    choice = choose_backend({}, probes({"egl": "no EGL device"}, calls))
    assert (choice.backend, calls) == ("osmesa", ["egl", "osmesa"])
    assert ("egl", "RuntimeError: no EGL device") in choice.tried

    calls.clear()
    choice = choose_backend({"DISPLAY": ":7"}, probes({"glfw": "cannot open :7"}, calls))
    assert (choice.backend, calls) == ("egl", ["glfw", "egl"])


def test_when_nothing_works_the_error_names_each_backend_and_the_fix() -> None:
    calls: list[str] = []
    choice = choose_backend({}, probes({"egl": "libEGL missing", "osmesa": "libOSMesa missing"}, calls))
    assert choice.backend is None
    text = failure_message(choice)
    for needed in (
        "glfw: not tried: no display",
        "egl: RuntimeError: libEGL missing",
        "osmesa: RuntimeError: libOSMesa",
    ):
        assert needed in text
    for needed in ("MUJOCO_GL=egl", "MUJOCO_GL=osmesa", "MUJOCO_GL=glfw", "libegl1", "libosmesa6"):
        assert needed in text


def test_a_render_failure_names_the_backend_its_error_and_the_probe_detail() -> None:
    text = failure_message(GLChoice("glfw", "user"), RuntimeError("no context"), "no display")
    assert "MUJOCO_GL=glfw (set in the environment)" in text
    assert "glfw: RuntimeError: no context (no display)" in text and "unset MUJOCO_GL" in text
    tried = (("glfw", "not tried: no display"),)
    auto = failure_message(GLChoice("egl", "auto", tried), OSError("eglInitialize failed"))
    assert "(chosen automatically)" in auto and "egl: OSError: eglInitialize failed" in auto
    assert auto.index("glfw: not tried") < auto.index("egl: OSError")


def test_configure_exports_the_choice_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(gl, "_choice", None)
    monkeypatch.setenv("MUJOCO_GL", "placeholder")  # so that monkeypatch restores the original
    for name in ("MUJOCO_GL", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(gl, "PROBES", probes({"egl": "no device"}, calls))
    assert gl.configure().backend == "osmesa" and os.environ["MUJOCO_GL"] == "osmesa"
    assert gl.configure().backend == "osmesa" and calls == ["egl", "osmesa"]


HEADLESS_RENDER = """
import json, os
from maestro_tools.sim.world import SimWorld
world = SimWorld("ball_in_bowl", 0, width=160, height=120)
cameras = world.render_cameras()
frame = cameras.frame(world.data, "scene")
labels = world.segmentation("scene")
print(json.dumps({"backend": os.environ.get("MUJOCO_GL"), "rgb_std": float(frame.rgb.std()),
                  "depth": float((frame.depth > 0).mean()), "labels": len(set(labels.ravel().tolist()))}))
world.close()
"""


def test_a_process_with_no_gl_settings_and_no_display_renders_the_franka_scene() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("PYOPENGL_PLATFORM", None)
    done = subprocess.run(
        [sys.executable, "-c", HEADLESS_RENDER],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["backend"] in ("egl", "osmesa")
    assert result["rgb_std"] > 10 and result["depth"] > 0.5 and result["labels"] >= 3, result
