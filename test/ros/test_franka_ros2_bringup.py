"""The `sim:=false` bringup against a fake of franka_ros2 (test/fakes/franka_ros2.py): the motion node
and the agent's tools speak to its controllers directly, with its fr3_ joint names, through the
parameters in config/franka/sim_false.yaml; a close on nothing is GRASP_FAILED although franka_gripper
reports it as reached."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from rclpy.node import Node

from maestro_agent.proxy.harness import Harness
from maestro_agent.proxy.robot import Robot
from maestro_agent.proxy.ros_client import RosClient
from maestro_msgs.action import MoveArm
from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.errors import GraspFailedError
from maestro_tools.robots import get_robot
from test.fakes.franka_ros2 import ARM, FakeFrankaRos2
from test.ros.helpers import goal_result, ros_graph, send_goal, spawn_node, stop, unique, wait_for

CONFIG = Path(__file__).resolve().parents[2] / "config" / "franka"
FRANKA = get_robot("franka")


def interface(node: str) -> dict[str, str]:
    """The robot-interface parameters sim_false.yaml gives ``node``."""
    return yaml.safe_load((CONFIG / "sim_false.yaml").read_text())[f"/**/{node}"]["ros__parameters"]


@pytest.fixture(scope="module")
def franka() -> Iterator[tuple[FakeFrankaRos2, str]]:
    ns = "/" + unique("real")
    motion = spawn_node(
        "maestro_tools.motion.node",
        ns,
        param_files=(str(CONFIG / "params.yaml"), str(CONFIG / "sim_false.yaml")),
        scene_camera="''",  # no cameras in the fake: plan against the robot and the supports
    )
    try:
        with ros_graph(lambda c: Node(unique("fake_franka_ros2"), context=c)) as (node,):
            yield FakeFrankaRos2(node, np.array(FRANKA.arm.home)), ns
    finally:
        output = stop(motion)
        assert "Traceback" not in output, output


def test_motion_drives_the_fr3_arm_controller_with_its_joint_names(franka) -> None:
    fake, ns = franka
    with ros_graph(lambda c: Node(unique("client"), context=c)) as (node,):
        move = ThreadSafeActionClient(node, MoveArm, f"{ns}/move_arm")
        assert move.wait_for_server(timeout_sec=30)
        target = (np.array(FRANKA.arm.home) + [0.3, 0.2, 0.0, 0.2, 0.0, -0.1, 0.0]).tolist()
        goal = MoveArm.Goal(
            mode=MoveArm.Goal.JOINTS, joint_names=list(FRANKA.arm.joints), joint_positions=target
        )
        result = goal_result(send_goal(move, goal), 60)
    assert result.success, result.message
    sent = fake.arm_goals[-1].trajectory
    assert tuple(sent.joint_names) == ARM
    np.testing.assert_allclose(sent.points[-1].positions, target, atol=1e-6)
    np.testing.assert_allclose(fake.q, target, atol=1e-6)
    np.testing.assert_allclose(result.final_joint_positions, target, atol=0.01)


def test_the_tools_judge_franka_gripper_grasps_by_width(franka) -> None:
    fake, ns = franka
    ros = RosClient(FRANKA, namespace=ns, node_name=unique("proxy"), **interface("agent"))
    try:
        robot = Robot(ros, Harness(FRANKA))
        assert wait_for(lambda: ros._joints is not None, 10)
        state = robot.get_state()  # fr3_ names read back in the profile's order
        np.testing.assert_allclose(state.joint_positions, fake.q, atol=1e-6)
        assert robot.open_gripper().width == pytest.approx(0.08)
        fake.object_width = None
        with pytest.raises(GraspFailedError, match="closed on nothing"):
            robot.grasp()  # franka_gripper itself reports this close as reached_goal
        robot.open_gripper()
        fake.object_width = 0.04
        held = robot.grasp(expected_width=0.04)  # franka_gripper aborts this one: it missed its target
        assert held.holding and held.width == pytest.approx(0.04)
        assert wait_for(lambda: robot.get_state().gripper.holding, 5)  # once /joint_states shows it
    finally:
        ros.close()


def test_the_vla_bridge_drives_the_same_franka_ros2_interfaces() -> None:
    """The bridge's chunks go to the controllers motion and the agent use (it reads the same param file)."""
    bridge, motion, agent = interface("vla_bridge"), interface("motion"), interface("agent")
    assert bridge["arm_action"] == motion["arm_action"] == "/fr3_arm_controller/follow_joint_trajectory"
    assert bridge["gripper_action"] == agent["gripper_action"] == "/franka_gripper/gripper_action"
    assert bridge["joint_states_topic"] == "/joint_states" and bridge["joint_prefix"] == "fr3_"
