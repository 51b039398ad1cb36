"""LIBERO as a robot, end to end: `maestro launch libero` fails cleanly without .venv-libero; with it,
the LIBERO node resets libero_object task 0 (initial state 0) and moves the arm and the gripper through
the standard control_msgs actions. The second test needs `make setup-libero` (skipped otherwise) and one
LIBERO environment (its first start compiles robosuite's numba kernels: minutes on 2 busy cores)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pytest
import rclpy
from control_msgs.action import FollowJointTrajectory, GripperCommand
from rclpy.action import ActionClient
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectoryPoint

from maestro_msgs.srv import GetSegmentation, GetTaskProgress, ResetScene
from maestro_tools.common.conversions import image_to_numpy, seconds_to_time
from maestro_tools.common.teardown import destroy_node
from maestro_tools.robots import get_robot
from maestro_tools.sim.libero import launcher

ARM = list(get_robot("libero").arm.joints)


@pytest.mark.timeout(120)
def test_launch_fails_cleanly_without_the_libero_venv(tmp_path: os.PathLike) -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1", **{launcher.VENV_ENV: str(tmp_path / "none")})
    done = subprocess.run(
        [sys.executable, "-m", "maestro_agent.cli", "launch", "libero", "vlm:=scripted"],
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )
    out = done.stdout + done.stderr
    assert done.returncode != 0, out[-3000:]
    assert "make setup-libero" in out and "required node ended" in out, out[-3000:]


def _libero_ready() -> str:
    try:
        launcher.check_packages(launcher.venv_python())
    except launcher.LiberoMissingError as exc:
        return str(exc)
    return ""


def _call(node: Any, client: Any, request: Any, timeout: float) -> Any:
    assert client.wait_for_service(timeout_sec=timeout), f"{client.srv_name} not up"
    future = client.call_async(request)
    rclpy.spin_until_future_complete(node, future, timeout_sec=timeout)
    assert future.done(), f"{client.srv_name}: no answer in {timeout} s"
    return future.result()


def _act(node: Any, client: Any, goal: Any, timeout: float) -> Any:
    assert client.wait_for_server(timeout_sec=30)
    sent = client.send_goal_async(goal)
    rclpy.spin_until_future_complete(node, sent, timeout_sec=30)
    result = sent.result().get_result_async()
    rclpy.spin_until_future_complete(node, result, timeout_sec=timeout)
    assert result.done(), "no action result"
    return result.result().result


@pytest.mark.timeout(1200)
@pytest.mark.skipif(bool(_libero_ready()), reason=f"LIBERO is not set up: {_libero_ready()}")
def test_libero_node_resets_and_moves() -> None:
    process = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "libero_sim_node"), "--ros-args", "-r", "__ns:=/e2e"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    rclpy.init()
    node = rclpy.create_node("libero_e2e")
    try:
        started = time.monotonic()
        reset = node.create_client(ResetScene, "/e2e/reset_scene")
        assert reset.wait_for_service(timeout_sec=900), "the LIBERO node did not come up"
        print(f"node start: {time.monotonic() - started:.1f} s")
        began = time.monotonic()
        reply = _call(node, reset, ResetScene.Request(task="libero_object/0", seed=0), 600)
        print(f"first reset: {time.monotonic() - began:.1f} s")
        assert reply.success, reply.message
        assert "alphabet soup" in reply.instruction and "basket" in reply.objects
        states: list[JointState] = []
        node.create_subscription(JointState, "/e2e/joint_states", states.append, 10)
        while not states:
            rclpy.spin_once(node, timeout_sec=1.0)
        began, first = time.monotonic(), len(states)
        while time.monotonic() - began < 5.0:
            rclpy.spin_once(node, timeout_sec=0.1)
        rate = (len(states) - first) / (time.monotonic() - began)
        print(f"steps: {rate:.1f} per wall second (20 = real time)")
        start = np.array(states[-1].position[:7])
        # The arm: 0.15 rad on joints 1 and 4 in 2 s, then back.
        goal = FollowJointTrajectory.Goal()
        goal.trajectory.joint_names = ARM
        goal.trajectory.points = [
            JointTrajectoryPoint(
                positions=(start + [0.15, 0, 0, 0.15, 0, 0, 0]).tolist(), time_from_start=seconds_to_time(2.0)
            )
        ]
        arm = ActionClient(node, FollowJointTrajectory, "/e2e/arm_controller/follow_joint_trajectory")
        began = time.monotonic()
        result = _act(node, arm, goal, 120)
        print(f"arm (2 s trajectory): {time.monotonic() - began:.1f} s wall; {result.error_string}")
        assert result.error_code == FollowJointTrajectory.Result.SUCCESSFUL, result.error_string
        rclpy.spin_once(node, timeout_sec=0.5)
        moved = np.array(states[-1].position[:7]) - start
        assert abs(moved[0] - 0.15) < 0.05 and abs(moved[3] - 0.15) < 0.05, moved
        # The gripper: close on nothing, then open.
        gripper = ActionClient(node, GripperCommand, "/e2e/gripper_controller/gripper_cmd")
        command = GripperCommand.Goal()
        command.command.position = 0.0
        closed = _act(node, gripper, command, 60)
        assert closed.position < 0.005
        command.command.position = 0.039
        opened = _act(node, gripper, command, 60)
        assert opened.position > 0.03
        progress = _call(
            node, node.create_client(GetTaskProgress, "/e2e/get_task_progress"), GetTaskProgress.Request(), 60
        )
        assert progress.success and progress.progress < 100 and progress.stages
        began = time.monotonic()
        seg = _call(
            node, node.create_client(GetSegmentation, "/e2e/get_segmentation"), GetSegmentation.Request(), 60
        )
        print(f"segmentation: {time.monotonic() - began:.1f} s")
        assert seg.success and "alphabet soup" in seg.instance_labels
        ids = set(np.unique(image_to_numpy(seg.segmentation)).tolist())
        assert len(ids - {0}) >= 3, ids  # objects in view
        depth = image_to_numpy(seg.depth)
        assert 0.3 < float(np.median(depth)) < 3.0
    finally:
        destroy_node(node)  # with its action clients: the participant ends now, not at a later collection
        rclpy.shutdown()
        process.send_signal(signal.SIGINT)
        try:
            out, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        print(out[-3000:])
