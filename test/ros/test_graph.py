"""A real rclpy graph with maestro_msgs types: in one process, and across two OS processes."""

from __future__ import annotations

import rclpy
from action_msgs.msg import GoalStatus
from control_msgs.action import GripperCommand
from control_msgs.msg import GripperCommand as GripperGoal
from rclpy.context import Context
from rclpy.node import Node

from maestro_msgs.msg import ErrorCode
from maestro_msgs.srv import Detect
from maestro_tools.common.action_client import ThreadSafeActionClient
from test.ros.helpers import ros_graph, spawn_fixture, stop, unique, wait_future


def _call(client, request, timeout: float = 10.0):
    future = client.call_async(request)
    assert wait_future(future, timeout), "no response"
    return future.result()


def test_in_process_service_with_typed_errors() -> None:
    service_name = unique("detect")

    def server(context: Context) -> Node:
        node = Node(unique("server"), context=context)

        def detect(request: Detect.Request, response: Detect.Response) -> Detect.Response:
            response.visible_labels = ["cube"]
            if request.labels != ["cube"]:
                response.error_code = ErrorCode.NOT_FOUND
                response.message = f"unknown label(s) {list(request.labels)}; visible: ['cube']"
                return response
            response.success = True
            return response

        node.create_service(Detect, service_name, detect)
        return node

    with ros_graph(server, lambda c: Node(unique("client"), context=c)) as (_, client_node):
        client = client_node.create_client(Detect, service_name)
        assert client.wait_for_service(timeout_sec=10)
        ok = _call(client, Detect.Request(labels=["cube"]))
        assert ok.success and ok.error_code == ErrorCode.OK
        bad = _call(client, Detect.Request(labels=["mug"]))
        assert not bad.success and bad.error_code == ErrorCode.NOT_FOUND and "visible" in bad.message


def test_cross_process_action_feedback_and_result() -> None:
    namespace = "/" + unique("xproc")
    server = spawn_fixture("echo_node.py", "-r", f"__ns:={namespace}", "-p", "steps:=4")
    try:
        feedback: list[float] = []
        with ros_graph(lambda c: Node(unique("client"), context=c)) as (node,):
            client = ThreadSafeActionClient(node, GripperCommand, f"{namespace}/gripper")
            assert client.wait_for_server(timeout_sec=20), "action server in the other process not found"
            goal = GripperCommand.Goal(command=GripperGoal(position=0.04))
            sent = client.send_goal_async(
                goal, feedback_callback=lambda m: feedback.append(m.feedback.position)
            )
            assert wait_future(sent, 10)
            handle = sent.result()
            assert handle.accepted
            result_future = handle.get_result_async()
            assert wait_future(result_future, 20)
            result = result_future.result().result
            assert result.reached_goal and abs(result.position - 0.04) < 1e-6
            assert len(feedback) == 4 and abs(feedback[-1] - 0.04) < 1e-6

            detect = node.create_client(Detect, f"{namespace}/detect")
            assert detect.wait_for_service(timeout_sec=10)
            reply = _call(detect, Detect.Request(labels=["spoon"]))
            assert reply.error_code == ErrorCode.NOT_FOUND and reply.visible_labels == ["cube", "bowl"]
    finally:
        output = stop(server)
    assert "echo ready: steps=4" in output
    assert "Traceback" not in output, output


def test_cross_process_cancel() -> None:
    namespace = "/" + unique("cancel")
    server = spawn_fixture("echo_node.py", "-r", f"__ns:={namespace}", "-p", "steps:=50", "-p", "mode:=slow")
    try:
        with ros_graph(lambda c: Node(unique("client"), context=c)) as (node,):
            client = ThreadSafeActionClient(node, GripperCommand, f"{namespace}/gripper")
            assert client.wait_for_server(timeout_sec=20)
            sent = client.send_goal_async(GripperCommand.Goal(command=GripperGoal(position=0.025)))
            assert wait_future(sent, 10)
            handle = sent.result()
            cancel = handle.cancel_goal_async()
            assert wait_future(cancel, 10)
            result_future = handle.get_result_async()
            assert wait_future(result_future, 10)
            assert result_future.result().status == GoalStatus.STATUS_CANCELED
    finally:
        stop(server)


def test_rclpy_is_not_left_initialised() -> None:
    assert not rclpy.ok()
