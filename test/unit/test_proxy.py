"""The proxy without a robot: the generated tool docs, geometry, and the harness helpers."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from maestro_agent.proxy.docs import describe_tools
from maestro_agent.proxy.geometry import Geometry
from maestro_agent.proxy.harness import Harness, check_position, retry
from maestro_agent.proxy.session import tools
from maestro_tools.common.errors import GraspFailedError, InvalidArgumentError, OutOfLimitsError
from maestro_tools.robots import get_robot

FRANKA = get_robot("franka")


def test_every_public_tool_is_recorded_and_documented_from_its_signature() -> None:
    docs = describe_tools("franka")
    for name, obj in tools(None, Harness(FRANKA)).items():
        for attribute, member in inspect.getmembers(type(obj), inspect.isfunction):
            if attribute.startswith("_"):
                continue
            assert hasattr(member, "__wrapped__"), f"{name}.{attribute} is not a recorded @tool"
            assert f"`{name}.{attribute}(" in docs, f"{name}.{attribute} missing from the prompt"
            assert inspect.getdoc(member), f"{name}.{attribute} has no docstring"
    assert (
        "robot.move_gripper_to(position: Sequence[float], orientation: Sequence[float] | None = None" in docs
    )
    assert "`done(reason: str = '')`" in docs and "`fail(reason: str)`" in docs
    assert "GraspCandidate(position: np.ndarray" in docs and "geometry.DOWN" in docs


def test_geometry_round_trips_and_rotates_in_the_gripper_frame() -> None:
    geometry = Geometry()
    rpy = np.array([0.3, -0.2, 1.1])
    assert np.allclose(geometry.rmat_to_euler(geometry.euler_to_rmat(rpy)), rpy)
    turned = geometry.rotate_by(Geometry.DOWN, "z", 90)
    assert geometry.measure_relative_rotation(Geometry.DOWN, turned) == pytest.approx(90.0)
    down = geometry.euler_to_rmat(Geometry.DOWN)
    assert np.allclose(down[:, 2], [0, 0, -1])  # approach axis points down
    assert geometry.distance([0, 0, 0], [0.3, 0.4, 0]) == pytest.approx(0.5)
    pose = geometry.pose([0.5, 0.0, 0.2], Geometry.DOWN)
    assert np.allclose(geometry.transform_point(pose, [0, 0, 0.1]), [0.5, 0.0, 0.1])
    with pytest.raises(InvalidArgumentError, match="axis must be"):
        geometry.rotate_by(rpy, "w", 10)


def test_positions_are_validated_against_the_workspace() -> None:
    assert np.allclose(check_position([0.5, 0.1, 0.2], FRANKA.workspace), [0.5, 0.1, 0.2])
    with pytest.raises(InvalidArgumentError, match="NaN"):
        check_position([0.5, np.nan, 0.2], FRANKA.workspace)
    with pytest.raises(OutOfLimitsError, match=r"outside the workspace x -0.2..0.9"):
        check_position([0.5, 0.1, -0.3], FRANKA.workspace)
    with pytest.raises(InvalidArgumentError, match=r"\[x, y, z\]"):
        check_position([1, 2], FRANKA.workspace)


def test_retry_varies_the_attempt_and_names_earlier_failures() -> None:
    seen: list[int] = []

    def step(attempt: int) -> str:
        seen.append(attempt)
        if attempt < 2:
            raise GraspFailedError(f"miss {attempt}")
        return "held"

    assert retry(3, step) == "held" and seen == [0, 1, 2]
    with pytest.raises(GraspFailedError, match=r"miss 1 \(after 2 attempts: attempt 1: miss 0\)"):
        retry(2, lambda k: step(k - 0) if False else (_ for _ in ()).throw(GraspFailedError(f"miss {k}")))
    assert Harness(FRANKA, enabled=False).tries == 1


def test_failure_feedback_raises_only_when_the_failure_persists(monkeypatch: pytest.MonkeyPatch) -> None:
    from maestro_agent.proxy import arm_checks as robot
    from maestro_msgs.action import MoveArm
    from maestro_tools.common.errors import StalledError

    now = [100.0]
    monkeypatch.setattr(robot.time, "monotonic", lambda: now[0])
    watch = robot.FailureFeedback()
    stalled, moving = MoveArm.Feedback(state=MoveArm.Feedback.STALLED), MoveArm.Feedback()
    watch(stalled)  # a node that stops on it sends its result (with the reason) right after
    now[0] += 0.2
    watch(moving)  # recovered: the clock restarts
    watch(stalled)
    now[0] += 0.2
    watch(stalled)
    now[0] += 0.2
    with pytest.raises(StalledError, match="stalled"):
        watch(stalled)


def test_tools_follow_the_robots_capabilities() -> None:
    """A robot without an arm gets the camera tools only, and the prompt documents only those."""
    from dataclasses import replace

    from maestro_agent.proxy.registry import build_tools
    from maestro_tools.robots import register

    eyes = register(
        replace(FRANKA, name="test_cameras_only", arm=None, gripper=None, semantic_map=False, vla=None)
    )
    assert eyes.capabilities == {"cameras"}
    assert set(build_tools(None, Harness(eyes))) == {"perception", "geometry", "image_editor"}
    assert set(build_tools(None, Harness(FRANKA))) == {
        "robot",
        "perception",
        "grasping",
        "geometry",
        "image_editor",
        "semantic_map",
        "skills",
    }
    docs = describe_tools("test_cameras_only")
    assert (
        "perception.detect(" in docs and "robot.move_gripper_to" not in docs and "grasping.pick" not in docs
    )


def test_a_robot_state_reads_as_it_prints() -> None:
    from maestro_agent.proxy.types import GripperState, RobotState

    state = RobotState(np.zeros(3), np.zeros(3), np.eye(3), np.zeros(7), GripperState(0.06, 0.14, True))
    assert "holding=True" in str(state) and state.holding and state.gripper_fraction_closed == 0.14


def test_tool_groups_are_cumulative_and_the_prompt_follows_them() -> None:
    """S0 gives the robot's own interfaces; each group adds its tools; the prompt documents only those."""
    from maestro_agent.proxy.registry import TOOL_GROUPS, available_tools, build_tools
    from maestro_tools.common.errors import InvalidArgumentError

    given = {group: set(build_tools(None, Harness(FRANKA), group)) for group in TOOL_GROUPS}
    assert given["S0"] == {"robot"}
    assert given["S1"] == {"robot", "perception", "image_editor", "semantic_map"}
    assert given["S2"] == given["S1"] | {"grasping", "skills"}
    assert given["S3"] == given["S2"] | {"geometry"} == set(build_tools(None, Harness(FRANKA)))
    assert set(available_tools(FRANKA, "S1")) == given["S1"]
    base = describe_tools("franka", tool_group="S0")
    assert "robot.get_observation(" in base and "perception." not in base and "grasping." not in base
    assert "Observation(camera" in base  # the result type a base agent lifts pixels with
    with pytest.raises(InvalidArgumentError, match="unknown tool group 'S7'; valid: S0, S1, S2, S3"):
        build_tools(None, Harness(FRANKA), "S7")


def test_an_observation_carries_what_lifts_a_pixel() -> None:
    from maestro_agent.proxy.types import VALUE_TYPES, Observation

    k = np.array([[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]])
    pose = np.eye(4)
    pose[:3, 3] = [0.1, 0.0, 1.0]
    depth = np.full((480, 640), 0.8, np.float32)
    view = Observation("scene", np.zeros((480, 640, 3), np.uint8), depth, k, pose)
    assert VALUE_TYPES["Observation"] is Observation
    assert "640x480" in str(view) and "0.800..0.800" in str(view)
    u, v = 420.0, 240.0  # 100 px right of the centre at 0.8 m: 0.16 m along the optical x axis
    z = view.depth[int(v), int(u)]
    point = view.camera_pose @ [(u - k[0, 2]) * z / k[0, 0], (v - k[1, 2]) * z / k[1, 1], z, 1.0]
    assert np.allclose(point[:3], [0.26, 0.0, 1.8])
