"""Object correspondences for policies that ask for them: the mapping's ``objects``, the metadata's
``requires``, the bridge's object tracker over a fake detector, the warp policy's choice of objects by
the prompt and its reset per connection, and the scripted programs that require the vla tool."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import maestro_agent.proxy.session  # noqa: F401  (registers the tools)
from maestro_agent.proxy.registry import registered_tools
from maestro_agent.scripted_programs import load_programs
from maestro_agent.scripted_vlm import ScriptedVLM
from maestro_tools.common.errors import InvalidArgumentError, NotFoundError
from maestro_tools.robots import get_robot
from maestro_tools.vla.mapping import OBJECTS_KEY, RobotMapping
from maestro_tools.vla.objects import ObjectTracker, needs_objects, requested_keys
from maestro_tools.vla.warp_policy import WarpPolicy, mentioned
from maestro_tools.vlm.base import VLMConfigError

FRANKA = get_robot("franka")
IMAGES = {"scene": np.zeros((48, 64, 3), np.uint8), "wrist": np.zeros((48, 64, 3), np.uint8)}


def test_objects_are_sent_only_when_given() -> None:
    mapping = RobotMapping(FRANKA)
    home = np.array(FRANKA.arm.home)
    plain = mapping.observation(IMAGES, home, 0.08, "put the ball in the bowl")
    assert OBJECTS_KEY not in plain  # a pi0.5 server never receives an unexpected key
    seen = {"tennis ball": [0.5, 0.1, 0.03], "bowl": np.array([0.45, -0.15, 0.02])}
    obs = mapping.observation(IMAGES, home, 0.08, "put the ball in the bowl", seen)
    assert set(obs[OBJECTS_KEY]) == {"tennis ball", "bowl"}
    assert obs[OBJECTS_KEY]["bowl"].dtype == np.float32 and obs[OBJECTS_KEY]["bowl"].shape == (3,)
    with pytest.raises(InvalidArgumentError, match="3 finite numbers"):
        mapping.observation(IMAGES, home, 0.08, "x", {"bowl": [0.4, np.nan, 0.0]})


def test_a_policy_asks_for_objects_in_its_metadata() -> None:
    warp = WarpPolicy([], kinematics=None)
    assert needs_objects(warp.metadata) and requested_keys({"requires": OBJECTS_KEY}) == {OBJECTS_KEY}
    assert not needs_objects({"policy": "pi05_droid"}) and not needs_objects({"requires": 3})


def _detection(label: str, xyz: tuple[float, float, float], has_3d: bool = True) -> SimpleNamespace:
    position = SimpleNamespace(x=xyz[0], y=xyz[1], z=xyz[2])
    return SimpleNamespace(label=label, has_3d=has_3d, pose=SimpleNamespace(position=position))


def test_the_tracker_detects_once_and_keeps_hidden_objects() -> None:
    answers = [
        [
            _detection("bowl", (0.4, -0.1, 0.0)),
            _detection("bowl", (9, 9, 9)),
            _detection("ball", (0.5, 0, 0)),
        ],
        [_detection("bowl", (0.41, -0.1, 0.0))],  # the ball hidden by the arm
    ]
    asked: list[object] = []

    def detect(request: object) -> SimpleNamespace:
        asked.append(request)
        return SimpleNamespace(success=True, detections=answers[len(asked) - 1])

    tracker = ObjectTracker(detect, [], "scene", refresh=0.0)
    first = tracker.current()
    assert np.allclose(first["bowl"], [0.4, -0.1, 0.0]) and set(first) == {"bowl", "ball"}  # best first
    assert tracker.current() is first and len(asked) == 1  # refresh 0: once per goal
    assert asked[0].labels == [] and asked[0].camera == "scene"  # everything the detector can name
    tracker = ObjectTracker(detect, [], "scene", refresh=1e-9)
    asked.clear()
    tracker.current()
    later = tracker.current()
    assert np.allclose(later["bowl"], [0.41, -0.1, 0.0]) and "ball" in later
    empty = ObjectTracker(lambda _: SimpleNamespace(success=True, detections=[]), ["cup"], "scene")
    with pytest.raises(NotFoundError, match="cup"):
        empty.current()


def test_the_prompt_chooses_which_item_takes_the_demonstrated_role() -> None:
    seen = {"red can": 1, "green cube": 2, "tennis ball": 3, "bowl": 4}
    assert mentioned(seen, "Put the red can into the bowl", 2) == {"red can": 1, "bowl": 4}
    assert mentioned(seen, "clear the table", 2) == seen  # too few named: all, matched by label then place


def test_the_policy_server_resets_the_policy_for_each_connection() -> None:
    from maestro_tools.vla.client import PolicyClient
    from maestro_tools.vla.server import PolicyServer

    warp = WarpPolicy([], kinematics=None)
    warp._state["prompt"] = "an old run"
    with PolicyServer(warp, port=0) as server, PolicyClient(server.url) as client:
        assert client.metadata["requires"] == [OBJECTS_KEY]
        assert warp._state == {}


def test_vla_programs_replace_their_plain_twins_only_with_the_tool(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2] / "config" / "programs"
    plain = {p.name for p in load_programs(root)}
    assert {"ball_in_bowl", "clean_table"} <= plain and not any(n.endswith("_vla") for n in plain)
    every = [t.name for t in registered_tools()]
    with_vla = ScriptedVLM(root, tools=every, registered=every)
    assert with_vla.find("Put the tennis ball into the bowl")[0].name == "ball_in_bowl_vla"
    assert with_vla.find("clean the table from big size to small size")[0].name == "clean_table_vla"
    assert "vla.run(" in with_vla.find("Drop the orange in the bowl")[0].steps[0].code
    with pytest.raises(VLMConfigError, match=r"needs tools the agent lacks: \['vla'\]"):
        load_programs(root / "ball_in_bowl_vla.yaml")
    without_vla = [t for t in every if t != "vla"]
    with pytest.raises(VLMConfigError, match=r"needs tools the agent lacks: \['vla'\]"):
        load_programs(root / "ball_in_bowl_vla.yaml", without_vla, every)


def test_a_plan_whose_rest_is_still_is_done() -> None:
    from maestro_tools.vla.warp_policy import _still

    held = np.zeros((5, 3)) + [0.4, 0.0, 0.2]
    assert _still(held, np.zeros(5, bool))  # the demonstration's still tail: the policy says done
    assert not _still(held, np.array([True, True, False, False, False]))  # the gripper opens still
    assert not _still(held + np.linspace(0, 0.05, 5)[:, None], np.zeros(5, bool))
