"""Robot <-> policy mappings, the done monitor and no-progress watch, goal parsing, and the proxy's vla tool
(registered only for a robot whose profile declares a VLA spec)."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest

from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.robots import get_robot, register
from maestro_tools.robots.profile import VlaSpec
from maestro_tools.vla.errors import PolicyProtocolError
from maestro_tools.vla.mapping import PolicyFormat, RobotMapping, get_format, register_format, resize_with_pad
from maestro_tools.vla.monitor import (
    ConditionCheck,
    Monitor,
    NoProgressWatch,
    ProgressCheck,
    VlmCheck,
    parse_yes_no,
)
from maestro_tools.vla.params import parse_until
from maestro_tools.vlm.base import Usage, VLMReply, VLMRequest

FRANKA = get_robot("franka")


def test_droid_observation_from_the_franka() -> None:
    mapping = RobotMapping(FRANKA)
    assert mapping.cameras == {"exterior": "scene", "wrist": "wrist"}
    images = {"scene": np.full((480, 640, 3), 200, np.uint8), "wrist": np.zeros((120, 160, 3), np.uint8)}
    obs = mapping.observation(images, np.array(FRANKA.arm.home), 0.02, "wipe the table")
    exterior = obs["observation/exterior_image_1_left"]
    assert exterior.shape == (224, 224, 3) and exterior.dtype == np.uint8
    assert exterior[0, 112].sum() == 0 and exterior[112, 112, 0] == 200  # letterboxed, not stretched
    assert obs["observation/joint_position"].dtype == np.float32 and obs[
        "observation/joint_position"
    ].shape == (7,)
    assert obs["observation/gripper_position"] == pytest.approx([0.75])  # 2 of 8 cm open = 0.75 closed
    assert obs["prompt"] == "wipe the table"


def test_velocity_chunks_become_joint_targets_at_the_control_rate() -> None:
    lower, upper = np.full(7, -1.0), np.full(7, 1.0)
    mapping = RobotMapping(FRANKA, VlaSpec(control_rate=10.0), (lower, upper))
    chunk = np.zeros((15, 8))  # the horizon (15) is read from the shape
    chunk[:, 0], chunk[:, 1], chunk[5:, 7] = 0.5, 5.0, 1.0  # joint 2 beyond the arm's speed limit
    targets = mapping.targets(mapping.chunk({"actions": chunk.astype(np.float32)}), np.zeros(7), 8)
    assert targets.steps == 8 and targets.period == pytest.approx(0.1)
    assert targets.joints[:, 0] == pytest.approx(0.05 * np.arange(1, 9))
    assert targets.joints[-1, 1] == pytest.approx(min(1.0, 8 * 0.1 * FRANKA.arm.max_joint_velocity))
    assert targets.widths[:5] == pytest.approx(0.08) and targets.widths[5:] == pytest.approx(0.0)


def test_position_chunks_are_targets_as_they_are() -> None:
    mapping = RobotMapping(FRANKA, VlaSpec(actions="joint_position", gripper_binary=False))
    chunk = np.tile(np.r_[np.full(7, 0.3), 0.25], (4, 1))
    targets = mapping.targets(mapping.chunk({"actions": chunk}), np.zeros(7), 8)
    assert targets.steps == 4 and targets.joints == pytest.approx(np.full((4, 7), 0.3))
    assert targets.widths == pytest.approx(0.06) and targets.commanded[1:] == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        ({}, "no 'actions'"),
        ({"actions": np.zeros((4, 7))}, r"\(horizon, 8\)"),
        ({"actions": np.full((2, 8), np.nan)}, "finite"),
    ],
)
def test_bad_action_replies_are_refused(reply: dict, match: str) -> None:
    with pytest.raises(PolicyProtocolError, match=match):
        RobotMapping(FRANKA).chunk(reply)


def test_a_new_format_and_a_robot_spec_are_registrations() -> None:
    register_format(
        PolicyFormat(
            "test_one_view", {"front": "image"}, (96, 128), "state/joints", "state/gripper", extra={"v": 1}
        )
    )
    robot = register(
        replace(FRANKA, name="test_vla_one_view", vla=VlaSpec("test_one_view", (("front", "wrist"),)))
    )
    assert "vla" in robot.capabilities and "vla" in FRANKA.capabilities  # the tool: only with a bridge
    mapping = RobotMapping(robot)
    obs = mapping.observation({"wrist": np.zeros((10, 10, 3), np.uint8)}, np.zeros(7), 0.08, "go")
    assert (
        obs["image"].shape == (96, 128, 3) and obs["v"] == 1 and obs["state/gripper"] == pytest.approx([0.0])
    )
    with pytest.raises(InvalidArgumentError, match=r"valid: .*droid"):
        get_format("nope")
    with pytest.raises(InvalidArgumentError, match="not among"):
        replace(FRANKA, vla=VlaSpec(cameras=(("exterior", "ceiling"),)))


def test_resize_with_pad_keeps_the_aspect() -> None:
    out = resize_with_pad(np.full((100, 50, 3), 255, np.uint8), 64, 64)
    assert out.shape == (64, 64, 3) and out[:, :16].max() == 0 and out[:, 20:44].min() == 255


class FakeVLM:
    name, model = "fake", "fake-1"

    def __init__(self, answers: list[str]) -> None:
        self.answers, self.requests = answers, []

    def generate(self, request: VLMRequest) -> VLMReply:
        self.requests.append(request)
        return VLMReply(self.answers.pop(0) if self.answers else "yes", Usage(), self.model, 0.0)


def test_the_vlm_check_asks_yes_or_no_about_the_image() -> None:
    vlm = FakeVLM(["No, the cup is still on the table.", "Yes. It is in the bowl."])
    check = VlmCheck(vlm, "put the cup in the bowl", lambda: np.zeros((8, 8, 3), np.uint8))
    first, second = check(), check()
    assert not first.done and second.done and "in the bowl" in second.detail
    assert "put the cup in the bowl" in vlm.requests[0].messages[0].text
    assert isinstance(vlm.requests[0].messages[0].parts[0], np.ndarray)
    assert parse_yes_no("Answer: yes") is True and parse_yes_no("maybe") is None


def test_the_monitor_runs_checks_in_the_background_until_done() -> None:
    score = [0.0]
    monitor = Monitor([ProgressCheck(lambda: (score[0], "stage"), threshold=60.0, period=0.02)]).start()
    try:
        time.sleep(0.1)
        assert not monitor.done and monitor.verdict.source == "progress"
        score[0] = 70.0
        deadline = time.monotonic() + 2.0
        while not monitor.done and time.monotonic() < deadline:
            time.sleep(0.01)
        assert monitor.done and monitor.verdict.progress == pytest.approx(0.7)
    finally:
        monitor.stop()


def test_a_failing_check_is_recorded_not_fatal() -> None:
    def broken() -> bool:
        raise InvalidArgumentError("the detector is down")

    monitor = Monitor([ConditionCheck(broken, "cup seen")])
    assert not monitor.check_once().done and "detector is down" in monitor.last_error


def test_no_progress_when_the_arm_or_the_policy_is_idle() -> None:
    watch = NoProgressWatch(window=1.0, tolerance=0.01)
    for k in range(30):  # commanded but not moving: blocked
        watch.update(k * 0.05, np.zeros(7), 0.08, 0.01, 0.08)
    assert "although the policy commanded" in watch.stalled()
    watch.reset()
    for k in range(30):  # nothing commanded
        watch.update(k * 0.05, np.zeros(7), 0.08, 0.0, 0.08)
    assert "commanded ~no motion" in watch.stalled()
    watch.reset()
    for k in range(30):  # moving
        watch.update(k * 0.05, np.full(7, 0.01 * k), 0.08, 0.01, 0.08)
    assert watch.stalled() == ""
    watch.reset()
    for k in range(10):  # moving, then 3 s waiting on the server's next chunk: the wait does not count
        watch.update(k * 0.05, np.full(7, 0.01 * k), 0.08, 0.01, 0.08)
    watch.update(3.5, np.full(7, 0.1), 0.08, 0.0, 0.08)
    assert watch.stalled() == ""
    for k in range(30):  # but a full window of steps commanding nothing still is no progress
        watch.update(3.55 + k * 0.05, np.full(7, 0.1), 0.08, 0.0, 0.08)
    assert "commanded ~no motion" in watch.stalled()


def test_until_is_parsed_with_the_choices_named() -> None:
    assert parse_until("", "vlm").kind == "vlm"
    assert parse_until("vlm: is the drawer open?", "none").argument == "is the drawer open?"
    assert parse_until("progress: 60", "vlm").threshold == 60.0
    assert parse_until("detect: open drawer", "vlm").argument == "open drawer"
    for bad in ("whenever", "progress: 0", "detect:", "none: x"):
        with pytest.raises(InvalidArgumentError, match=r"detect|score|label"):
            parse_until(bad, "vlm")


def test_the_vla_tool_is_registered_only_with_the_capability_and_a_bridge() -> None:
    from maestro_agent.proxy.docs import describe_tools
    from maestro_agent.proxy.harness import Harness
    from maestro_agent.proxy.registry import build_tools, enable_capabilities

    robot = get_robot("test_vla_franka") if "test_vla_franka" in _names() else None
    robot = robot or register(replace(FRANKA, name="test_vla_franka", vla=VlaSpec()))
    no_vla = get_robot("test_no_vla") if "test_no_vla" in _names() else None
    no_vla = no_vla or register(replace(FRANKA, name="test_no_vla", vla=None))
    assert FRANKA.vla is not None  # declared, but the tool needs a running vla_bridge (the agent's vla)
    assert "vla" not in build_tools(None, Harness(robot)) and "vla.run" not in describe_tools("franka")
    enable_capabilities(["vla"])
    try:
        assert "vla" in build_tools(None, Harness(robot)) and "vla" not in build_tools(None, Harness(no_vla))
        docs = describe_tools("test_vla_franka")
        assert "vla.run(instruction: str, timeout_s: float = 30.0, until: str = 'vlm')" in docs
        tool = build_tools(None, Harness(robot))["vla"]
        with pytest.raises(InvalidArgumentError, match="until must be one of"):
            tool.run("wipe", until="later")
    finally:
        enable_capabilities(["vla"], enabled=False)
    assert "vla" not in build_tools(None, Harness(FRANKA))


def _names() -> tuple[str, ...]:
    from maestro_tools.robots import robot_names

    return robot_names()
