"""The robot tools on the simulated Franka over ROS: the sim node and the motion node in their own
processes, the agent's proxy (RosClient + Robot) in this one, as in the agent.

Gripper calls return the settled opening, grasps are judged by it, a held object that is released
during a move raises ObjectDroppedError, and a move that comes to rest short of its target raises.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from control_msgs.action import GripperCommand
from control_msgs.msg import GripperCommand as GripperGoal
from rclpy.node import Node

from maestro_agent.proxy.harness import Harness
from maestro_agent.proxy.robot import REACH_TOLERANCE, Robot
from maestro_agent.proxy.ros_client import RosClient
from maestro_msgs.srv import GetSegmentation, ResetScene
from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.errors import GraspFailedError, ObjectDroppedError, StalledError
from maestro_tools.robots import get_robot
from test.ros.helpers import call, ros_graph, send_goal, spawn_node, stop, unique, wait_for

pytestmark = pytest.mark.slow
FRANKA = get_robot("franka")
GRIPPER = FRANKA.gripper
DOWN = [np.pi, 0.0, 0.0]


@dataclass
class Cell:
    robot: Robot
    ros: RosClient
    node: Node
    ns: str

    def reset(self) -> None:
        client = self.node.create_client(ResetScene, f"{self.ns}/reset_scene")
        assert call(client, ResetScene.Request(task="rotate_cube", seed=0)).success
        self.node.destroy_client(client)

    def cube(self) -> np.ndarray:
        """Where the simulator has the cube (ground truth, for setting the test up and checking it)."""
        client = self.node.create_client(GetSegmentation, f"{self.ns}/get_segmentation")
        reply = call(client, GetSegmentation.Request())
        self.node.destroy_client(client)
        point = reply.site_positions[list(reply.site_names).index("cube")]
        return np.array([point.x, point.y, point.z])


@pytest.fixture(scope="module")
def cell() -> Iterator[Cell]:
    ns = "/" + unique("grasp")
    processes = [
        spawn_node("maestro_tools.sim.node", ns, task="rotate_cube", image_width=160, image_height=120),
        spawn_node("maestro_tools.motion.node", ns, scene_camera="ceiling", scene_timeout=0.3),
    ]
    ros = RosClient(FRANKA, namespace=ns, node_name=unique("proxy"))
    try:
        with ros_graph(lambda c: Node(unique("grasp_client"), context=c)) as (node,):
            assert wait_for(lambda: ros._joints is not None and ros._tcp is not None, 60), "no robot state"
            yield Cell(Robot(ros, Harness(FRANKA)), ros, node, ns)
    finally:
        ros.close()
        outputs = [stop(p) for p in processes]
    assert not any("Traceback" in output for output in outputs), outputs


def above_the_cube(cell: Cell, height: float) -> np.ndarray:
    cell.reset()
    cube = cell.cube()
    cell.robot.open_gripper()
    cell.robot.move_gripper_to(cube + [0.0, 0.0, 0.12], DOWN)
    cell.robot.move_gripper_to(cube + [0.0, 0.0, height], DOWN, path="line", speed=0.5)
    return cube


def test_open_and_close_return_the_settled_opening(cell: Cell) -> None:
    cell.reset()
    cell.robot.move_gripper_to([0.4, -0.2, 0.3], DOWN)
    closed = cell.robot.close_gripper()
    assert closed.width <= GRIPPER.empty_width and not closed.holding
    assert cell.robot.get_state().gripper.width == pytest.approx(closed.width, abs=5e-4)
    opened = cell.robot.open_gripper()
    assert opened.width == pytest.approx(GRIPPER.max_width, abs=1e-3) and not opened.holding
    assert cell.robot.get_state().gripper.width == pytest.approx(opened.width, abs=5e-4)
    with pytest.raises(GraspFailedError, match="closed on nothing"):
        cell.robot.grasp()


def test_a_cube_grasp_holds_and_releasing_it_mid_move_raises(cell: Cell) -> None:
    above_the_cube(cell, 0.0)
    held = cell.robot.grasp(expected_width=0.05)
    assert held.holding and held.width == pytest.approx(0.05, abs=0.002)
    assert cell.robot.get_state().gripper.holding
    start = cell.robot.get_state().position[2]
    opener = ThreadSafeActionClient(cell.node, GripperCommand, f"{cell.ns}/gripper_controller/gripper_cmd")

    def release_once_lifting() -> None:  # another client opens the gripper while the arm moves
        if wait_for(lambda: cell.ros.tcp_pose()[2, 3] > start + 0.03, 30):
            send_goal(opener, GripperCommand.Goal(command=GripperGoal(position=GRIPPER.max_width / 2)))

    releasing = threading.Thread(target=release_once_lifting)
    releasing.start()
    with pytest.raises(ObjectDroppedError, match="was lost during the move: the gripper opened"):
        cell.robot.move_gripper_by([0.0, 0.0, 0.25], speed=0.3)
    releasing.join()
    assert wait_for(lambda: cell.cube()[2] < 0.04, 5)  # it fell back onto the table


def test_a_move_that_ends_short_of_its_target_raises_with_the_distance(cell: Cell) -> None:
    cube = above_the_cube(cell, 0.1)
    cell.robot.close_gripper()
    # The closed fingertips (8 mm below the TCP) would go 1 cm into the cube's top: the arm rests on it,
    # each joint within the controller's goal tolerance, so the motion itself reports success.
    target = cube + [0.0, 0.0, 0.023]
    with pytest.raises(StalledError, match=r"the move ended 0\.\d cm from its target") as stalled:
        cell.robot.move_gripper_to(target, DOWN, path="line", speed=0.3)
    assert "the gripper stopped at [" in str(stalled.value)
    assert np.linalg.norm(cell.robot.get_state().position - target) > REACH_TOLERANCE
