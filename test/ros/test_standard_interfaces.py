"""The standard interfaces built from maestro_msgs/standard on the no-ROS path (control_msgs, tf2_msgs,
nav2_msgs).

They must be the ROS 2 Jazzy types field for field, so that a stock ROS node (ros2_control's joint
trajectory and gripper controllers, robot_state_publisher, tf2, nav2's bt_navigator) talks to ours: same
fields, types, order and constants, the same CDR bytes, and the RIHS01 type hashes of upstream builds.
On a stock ROS install these tests check the real packages the same way.
"""

from __future__ import annotations

import importlib
import json
import struct
from pathlib import Path

import pytest
from builtin_interfaces.msg import Duration, Time
from control_msgs.action import FollowJointTrajectory, GripperCommand
from control_msgs.msg import GripperCommand as GripperCommandMsg
from control_msgs.msg import JointComponentTolerance, JointTolerance
from geometry_msgs.msg import (
    Point,
    Pose,
    PoseStamped,
    Quaternion,
    Transform,
    TransformStamped,
    Twist,
    Vector3,
)
from nav2_msgs.action import NavigateToPose
from rclpy.action import ActionClient, ActionServer
from rclpy.node import Node
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage
from trajectory_msgs.msg import (
    JointTrajectory,
    JointTrajectoryPoint,
    MultiDOFJointTrajectory,
    MultiDOFJointTrajectoryPoint,
)

from test.ros.helpers import goal_result, ros_graph, send_goal, unique, wait_for

# RIHS01 hashes of the upstream packages, read from public rosidl output of stock builds: tf2_msgs
# built from geometry2 against /opt/ros/jazzy (build/tf2_msgs/.../tf_message__description.c in
# github.com/kuenem/Group-12_MotionPlanning-New), control_msgs built from ros-controls/control_msgs
# (aprs_ws/build/control_msgs/.../*__description.c in github.com/saahu27/aprs; that build is against
# a Rolling install whose std_msgs, trajectory_msgs, builtin_interfaces, unique_identifier_msgs and
# service_msgs hashes all equal Jazzy's, and these control_msgs types are unchanged across 4.x-6.x).
UPSTREAM_HASHES = {
    "tf2_msgs/msg/TFMessage": "e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087",
    "control_msgs/msg/GripperCommand": "57eb8f326c9889ca8bb34ead82cc94cc09bf6bc5c3b6c09546dca3a00b589890",
    "control_msgs/msg/JointTolerance": "c254f9cece0f3b733017b6990fd46d1326e25242d6b8844398c97d9a88e7d648",
    "control_msgs/msg/JointComponentTolerance": (
        "739ea7566931944d33830fa10f1bf5e7a7fbdc3172bce7a7eaac642bd6e3ffa4"
    ),
    "control_msgs/action/FollowJointTrajectory": (
        "738ebcb7a2d7cfa42f9f1001cc99ce3a4383d1cfe508015d9be8485e4b1c66f6"
    ),
    "control_msgs/action/FollowJointTrajectory_Goal": (
        "8a9060704b269608f5a340934cc26e66869dd14bdac29e2e7fd9ec8b9882d205"
    ),
    "control_msgs/action/FollowJointTrajectory_Result": (
        "8002e99ed2c14c6faa522f2a93c26d744c5982f254f9e98ff9c6f19789bdb220"
    ),
    "control_msgs/action/FollowJointTrajectory_Feedback": (
        "3fd0aaecf71725121ae1ff7f01098a5e0da581e672be18a6b2c286cb43d96b49"
    ),
    "control_msgs/action/FollowJointTrajectory_SendGoal_Request": (
        "179c93691f1f6d1d115881ff88c3917b7cc6eac2ba4bf56766cc7c4389e19ef1"
    ),
    "control_msgs/action/FollowJointTrajectory_SendGoal_Response": (
        "e6a48ba740ae254500129a877f0b071be8663a115da1a539b74599cc97921fbf"
    ),
    "control_msgs/action/FollowJointTrajectory_GetResult_Request": (
        "ecf7ea8463d3beec7084bca75216d0b01b87b6e1e4e09679bb26093041efcbe9"
    ),
    "control_msgs/action/FollowJointTrajectory_GetResult_Response": (
        "08eefbaa146ce02ba45898d5e99160afd6c4c54a30d159aee0f2ca6035b1580f"
    ),
    "control_msgs/action/FollowJointTrajectory_FeedbackMessage": (
        "80398fcb9674a79081a9906e2ccf0c804dd7cb15e22e362e606ee87186beab71"
    ),
    "control_msgs/action/GripperCommand": "e17c0e644eccf14bea84a0a93e0977182872c2eb7873ca6694900059b46dbc84",
    "control_msgs/action/GripperCommand_Goal": (
        "607d9f41eb241e1922e90f02125e87ae6bfb78f7f64a71dc92630263d01f8b6d"
    ),
    "control_msgs/action/GripperCommand_Result": (
        "bf512d5aa6a0e4fe4d8be22b2ec4a1973c3d250fa1f65e47450322c25c45c0a0"
    ),
    "control_msgs/action/GripperCommand_Feedback": (
        "8f7c520077bab528bb9161ee3b83c81eee1f8aecadb8922ce82c79d667a819c4"
    ),
    "control_msgs/action/GripperCommand_SendGoal_Request": (
        "1b869b7b4042272dc0f8ed65468c4e57c9e532ea5e53ce74fda0767eefbfa983"
    ),
    "control_msgs/action/GripperCommand_SendGoal_Response": (
        "0c8dda5e9d39ab5e3162b66e79b292a4258659ddfcf8722d39463f718b6c59bc"
    ),
    "control_msgs/action/GripperCommand_GetResult_Request": (
        "1a3308da3acbc62cd8a3c823de80ba9e5f9b6bb6f6056d1ad6b29f5f285f97ae"
    ),
    "control_msgs/action/GripperCommand_GetResult_Response": (
        "32ed5e1b5906767a3e9914dca4c4aed22529918f6c2360e6fb382363d4df4b45"
    ),
    "control_msgs/action/GripperCommand_FeedbackMessage": (
        "392ff03fcd872f9dc2405cbeb2897fcf011ad9998458b6aa85c603b8a49e431d"
    ),
}
# nav2_msgs built from ros-navigation/navigation2 by a stock colcon build, read from its public rosidl
# output (build/nav2_msgs/rosidl_generator_type_description/nav2_msgs/action/NavigateToPose.json in
# github.com/thomasankara/hive_ws2 at a983b6c8): its NavigateToPose has Jazzy's fields (error_msg, no
# tracking errors), and the hashes it lists for std_msgs/Header, geometry_msgs/PoseStamped,
# builtin_interfaces, unique_identifier_msgs/UUID and service_msgs/ServiceEventInfo equal the Jazzy wheels'.
UPSTREAM_HASHES.update(
    {
        f"nav2_msgs/action/NavigateToPose{suffix}": value
        for suffix, value in {
            "": "a56dba8a3234a1215e610180dc703ae25bbf406dded8b54887891c9732857eab",
            "_Goal": "22a9dffbd6733011220460bd52edbc7843c8fc86282d40bc7ad3ca176a9dec10",
            "_Result": "ddbff7fc6d1e51d774d5defdb8398a57cb23fa8709355002d676408bb4860b85",
            "_Feedback": "9ebc544c7d41bd8c6060b191bf9f5e4ddca6c2f61ee9e04fcb62ed5d67218a33",
            "_SendGoal_Request": "e9381f2acfe9fa8c4838a277d0cde28a93c483564827b9f13496b9c2092e4f09",
            "_SendGoal_Response": "99f97fcbb07daf024df4b8c3f02f19ce7fa3183fcedfb76b8772a61a371a55fa",
            "_GetResult_Request": "106d3457cf0db4c4a8d3373bab3ff6aa8ba8ad99ae6392ce9784830a7d04ac93",
            "_GetResult_Response": "c59f178c377de5318919c00bdbf7884cb3b185acfdffceba6c9f161e0aa3cc81",
            "_FeedbackMessage": "9d1f6fa2eb975ce733b419ac2e97b134d8ff92b6478b6559feed9a50bdfd82b3",
        }.items()
    }
)

INTERFACE_FILES = {  # the type-description JSON rosidl installs for each interface file
    "tf2_msgs": ["msg/TFMessage"],
    "control_msgs": [
        "msg/GripperCommand",
        "msg/JointTolerance",
        "msg/JointComponentTolerance",
        "action/FollowJointTrajectory",
        "action/GripperCommand",
    ],
    "nav2_msgs": ["action/NavigateToPose"],
}

GRIPPER_STATE = {"position": "double", "effort": "double", "stalled": "boolean", "reached_goal": "boolean"}


def installed_hashes() -> dict[str, str]:
    """type name -> RIHS01 hash of every type in the installed packages' type-description files."""
    hashes: dict[str, str] = {}
    for package, files in INTERFACE_FILES.items():
        # <prefix>/lib/pythonX.Y/site-packages/<package>/__init__.py -> <prefix>/share/<package>
        # (the venv, /opt/ros/<distro> and colcon install spaces alike)
        share = Path(importlib.import_module(package).__file__).parents[4] / "share" / package
        for name in files:
            with open(share / f"{name}.json") as stream:
                for entry in json.load(stream)["type_hashes"]:
                    hashes[entry["type_name"]] = entry["hash_string"]
    return hashes


def test_follow_joint_trajectory_fields() -> None:
    assert FollowJointTrajectory.Goal.get_fields_and_field_types() == {
        "trajectory": "trajectory_msgs/JointTrajectory",
        "multi_dof_trajectory": "trajectory_msgs/MultiDOFJointTrajectory",
        "path_tolerance": "sequence<control_msgs/JointTolerance>",
        "component_path_tolerance": "sequence<control_msgs/JointComponentTolerance>",
        "goal_tolerance": "sequence<control_msgs/JointTolerance>",
        "component_goal_tolerance": "sequence<control_msgs/JointComponentTolerance>",
        "goal_time_tolerance": "builtin_interfaces/Duration",
    }
    assert FollowJointTrajectory.Result.get_fields_and_field_types() == {
        "error_code": "int32",
        "error_string": "string",
    }
    assert FollowJointTrajectory.Feedback.get_fields_and_field_types() == {
        "header": "std_msgs/Header",
        "joint_names": "sequence<string>",
        "desired": "trajectory_msgs/JointTrajectoryPoint",
        "actual": "trajectory_msgs/JointTrajectoryPoint",
        "error": "trajectory_msgs/JointTrajectoryPoint",
        "multi_dof_joint_names": "sequence<string>",
        "multi_dof_desired": "trajectory_msgs/MultiDOFJointTrajectoryPoint",
        "multi_dof_actual": "trajectory_msgs/MultiDOFJointTrajectoryPoint",
        "multi_dof_error": "trajectory_msgs/MultiDOFJointTrajectoryPoint",
    }
    result = FollowJointTrajectory.Result
    codes = {name: getattr(result, name) for name in dir(result) if name.isupper() and name != "SLOT_TYPES"}
    assert codes == {
        "SUCCESSFUL": 0,
        "INVALID_GOAL": -1,
        "INVALID_JOINTS": -2,
        "OLD_HEADER_TIMESTAMP": -3,
        "PATH_TOLERANCE_VIOLATED": -4,
        "GOAL_TOLERANCE_VIOLATED": -5,
    }
    assert result().error_code == result.SUCCESSFUL and result().error_string == ""


def test_gripper_command_fields() -> None:
    assert GripperCommand.Goal.get_fields_and_field_types() == {"command": "control_msgs/GripperCommand"}
    assert GripperCommand.Result.get_fields_and_field_types() == GRIPPER_STATE
    assert GripperCommand.Feedback.get_fields_and_field_types() == GRIPPER_STATE
    assert GripperCommandMsg.get_fields_and_field_types() == {"position": "double", "max_effort": "double"}
    assert isinstance(GripperCommand.Goal().command, GripperCommandMsg)


def test_tolerance_and_tf_fields() -> None:
    assert JointTolerance.get_fields_and_field_types() == {
        "name": "string",
        "position": "double",
        "velocity": "double",
        "acceleration": "double",
    }
    assert JointComponentTolerance.get_fields_and_field_types() == {
        "joint_name": "string",
        "component": "uint16",
        "position": "double",
        "velocity": "double",
        "acceleration": "double",
    }
    components = [
        JointComponentTolerance.X_AXIS,
        JointComponentTolerance.Y_AXIS,
        JointComponentTolerance.Z_AXIS,
    ]
    assert components == [1, 2, 3]
    assert (JointComponentTolerance.TRANSLATION, JointComponentTolerance.ROTATION) == (4, 5)
    assert TFMessage.get_fields_and_field_types() == {
        "transforms": "sequence<geometry_msgs/TransformStamped>"
    }


def test_navigate_to_pose_fields() -> None:
    assert NavigateToPose.Goal.get_fields_and_field_types() == {
        "pose": "geometry_msgs/PoseStamped",
        "behavior_tree": "string",
    }
    assert NavigateToPose.Result.get_fields_and_field_types() == {
        "error_code": "uint16",
        "error_msg": "string",
    }
    assert NavigateToPose.Feedback.get_fields_and_field_types() == {
        "current_pose": "geometry_msgs/PoseStamped",
        "navigation_time": "builtin_interfaces/Duration",
        "estimated_time_remaining": "builtin_interfaces/Duration",
        "number_of_recoveries": "int16",
        "distance_remaining": "float",
    }
    result = NavigateToPose.Result
    codes = {name: getattr(result, name) for name in dir(result) if name.isupper() and name != "SLOT_TYPES"}
    assert codes == {"NONE": 0}  # Jazzy's only constant (Kilted adds GOAL_REJECTED, TIMEOUT, ...)


def nav2_pose(x: float) -> PoseStamped:
    return PoseStamped(
        header=Header(frame_id="map", stamp=Time(sec=12, nanosec=5)),
        pose=Pose(position=Point(x=x, y=-1.5), orientation=Quaternion(z=0.6, w=0.8)),
    )


def sample_goal() -> FollowJointTrajectory.Goal:
    joints = ["panda_joint1", "panda_joint2"]
    return FollowJointTrajectory.Goal(
        trajectory=JointTrajectory(
            header=Header(frame_id="base", stamp=Time(sec=3, nanosec=4)),
            joint_names=joints,
            points=[
                JointTrajectoryPoint(positions=[0.0, 0.1], velocities=[0.0, 0.0], time_from_start=Duration()),
                JointTrajectoryPoint(positions=[0.5, -0.2], time_from_start=Duration(sec=1, nanosec=500)),
            ],
        ),
        multi_dof_trajectory=MultiDOFJointTrajectory(
            joint_names=["base_footprint"],
            points=[
                MultiDOFJointTrajectoryPoint(
                    transforms=[Transform(translation=Vector3(x=1.0), rotation=Quaternion(z=1.0, w=0.0))],
                    velocities=[Twist(linear=Vector3(x=0.2))],
                    time_from_start=Duration(sec=2),
                )
            ],
        ),
        path_tolerance=[JointTolerance(name="panda_joint1", position=0.05, velocity=-1.0)],
        component_path_tolerance=[
            JointComponentTolerance(
                joint_name="base_footprint", component=JointComponentTolerance.ROTATION, position=0.1
            )
        ],
        goal_tolerance=[JointTolerance(name="panda_joint2", position=0.01, acceleration=2.0)],
        component_goal_tolerance=[
            JointComponentTolerance(
                joint_name="base_footprint", component=JointComponentTolerance.TRANSLATION
            )
        ],
        goal_time_tolerance=Duration(sec=0, nanosec=250_000_000),
    )


def sample_feedback() -> FollowJointTrajectory.Feedback:
    return FollowJointTrajectory.Feedback(
        header=Header(frame_id="base"),
        joint_names=["panda_joint1"],
        desired=JointTrajectoryPoint(positions=[0.3]),
        actual=JointTrajectoryPoint(positions=[0.29]),
        error=JointTrajectoryPoint(positions=[0.01]),
        multi_dof_joint_names=["base_footprint"],
        multi_dof_desired=MultiDOFJointTrajectoryPoint(transforms=[Transform()]),
    )


ROUND_TRIPS = {
    "FollowJointTrajectory.Goal": sample_goal,
    "FollowJointTrajectory.Result": lambda: FollowJointTrajectory.Result(
        error_code=FollowJointTrajectory.Result.PATH_TOLERANCE_VIOLATED,
        error_string="panda_joint1 off by 0.2 rad",
    ),
    "FollowJointTrajectory.Feedback": sample_feedback,
    "FollowJointTrajectory_SendGoal_Request": lambda: FollowJointTrajectory.Impl.SendGoalService.Request(
        goal=sample_goal()
    ),
    "GripperCommand.Goal": lambda: GripperCommand.Goal(
        command=GripperCommandMsg(position=0.04, max_effort=20.0)
    ),
    "GripperCommand.Result": lambda: GripperCommand.Result(
        position=0.021, effort=19.5, stalled=True, reached_goal=False
    ),
    "GripperCommand.Feedback": lambda: GripperCommand.Feedback(position=0.03, effort=2.0, reached_goal=True),
    "NavigateToPose.Goal": lambda: NavigateToPose.Goal(pose=nav2_pose(2.0), behavior_tree="/bt/nav.xml"),
    "NavigateToPose.Result": lambda: NavigateToPose.Result(error_code=208, error_msg="no valid path"),
    "NavigateToPose.Feedback": lambda: NavigateToPose.Feedback(
        current_pose=nav2_pose(0.5),
        navigation_time=Duration(sec=3, nanosec=200),
        estimated_time_remaining=Duration(sec=4),
        number_of_recoveries=-2,
        distance_remaining=1.25,
    ),
    "NavigateToPose_SendGoal_Request": lambda: NavigateToPose.Impl.SendGoalService.Request(
        goal=NavigateToPose.Goal(pose=nav2_pose(1.0))
    ),
    "TFMessage": lambda: TFMessage(
        transforms=[
            TransformStamped(
                header=Header(frame_id="world", stamp=Time(sec=7)),
                child_frame_id="panda_link0",
                transform=Transform(translation=Vector3(x=0.5, y=-0.25, z=0.1), rotation=Quaternion(w=1.0)),
            ),
            TransformStamped(header=Header(frame_id="panda_link0"), child_frame_id="panda_link1"),
        ]
    ),
}


@pytest.mark.parametrize("name", list(ROUND_TRIPS))
def test_round_trip_through_serialization(name: str) -> None:
    message = ROUND_TRIPS[name]()
    data = serialize_message(message)
    back = deserialize_message(data, type(message))
    assert back == message and back is not message


def test_cdr_layout_is_upstream_field_order() -> None:
    """Byte for byte: the CDR encapsulation header, then the fields in upstream's order."""
    header = b"\x00\x01\x00\x00"  # CDR, little endian
    command = serialize_message(GripperCommandMsg(position=0.04, max_effort=20.0))
    assert command == header + struct.pack("<dd", 0.04, 20.0)
    result = serialize_message(
        FollowJointTrajectory.Result(
            error_code=FollowJointTrajectory.Result.INVALID_JOINTS, error_string="ab"
        )
    )
    assert result == header + struct.pack("<iI", -2, 3) + b"ab\x00"


def test_type_hashes_match_the_upstream_packages() -> None:
    hashes = installed_hashes()
    mismatched = {
        name: hashes.get(name)
        for name, value in UPSTREAM_HASHES.items()
        if hashes.get(name) != f"RIHS01_{value}"
    }
    assert not mismatched, f"type hashes differ from upstream control_msgs/tf2_msgs/nav2_msgs: {mismatched}"


def advertised_hash(node: Node, topic: str) -> str:
    return str(node.get_publishers_info_by_topic(topic)[0].topic_type_hash)


def test_the_hashes_are_what_the_graph_advertises() -> None:
    """What rmw puts on the wire for a /tf publisher and an action's feedback topic (a stock node
    compares these)."""
    topic, action, nav2 = unique("tf"), unique("follow_joint_trajectory"), unique("nav2_feedback")

    def execute(handle):
        handle.succeed()
        return FollowJointTrajectory.Result()

    with ros_graph(lambda c: Node(unique("standard_types"), context=c)) as (node,):
        node.create_publisher(TFMessage, topic, 10)
        # bt_navigator's feedback topic carries this type; a plain publisher advertises the same hash
        node.create_publisher(NavigateToPose.Impl.FeedbackMessage, nav2, 10)
        server = ActionServer(node, FollowJointTrajectory, action, execute)
        try:
            feedback_topic = f"/{action}/_action/feedback"
            assert wait_for(lambda: node.get_publishers_info_by_topic(feedback_topic), 10)
            tf_hash = advertised_hash(node, f"/{topic}")
            feedback_hash = advertised_hash(node, feedback_topic)
            nav2_hash = advertised_hash(node, f"/{nav2}")
        finally:
            server.destroy()
    assert tf_hash == f"RIHS01_{UPSTREAM_HASHES['tf2_msgs/msg/TFMessage']}"
    feedback_type = "control_msgs/action/FollowJointTrajectory_FeedbackMessage"
    assert feedback_hash == f"RIHS01_{UPSTREAM_HASHES[feedback_type]}"
    assert nav2_hash == f"RIHS01_{UPSTREAM_HASHES['nav2_msgs/action/NavigateToPose_FeedbackMessage']}"


def test_actions_carry_goal_feedback_and_result_between_nodes() -> None:
    """A FollowJointTrajectory and a GripperCommand goal, served and answered across two nodes."""
    trajectory_action, gripper_action = unique("follow_joint_trajectory"), unique("gripper_cmd")
    received: list = []

    def follow(handle):
        received.append(handle.request)
        handle.publish_feedback(sample_feedback())
        handle.abort()
        return FollowJointTrajectory.Result(
            error_code=FollowJointTrajectory.Result.GOAL_TOLERANCE_VIOLATED, error_string="panda_joint2"
        )

    def grip(handle):
        received.append(handle.request)
        handle.succeed()
        return GripperCommand.Result(position=handle.request.command.position, effort=5.0, reached_goal=True)

    nodes = (lambda c: Node(unique("controller"), context=c), lambda c: Node(unique("client"), context=c))
    with ros_graph(*nodes) as (server_node, client_node):
        servers = [
            ActionServer(server_node, FollowJointTrajectory, trajectory_action, follow),
            ActionServer(server_node, GripperCommand, gripper_action, grip),
        ]
        clients = [
            ActionClient(client_node, FollowJointTrajectory, trajectory_action),
            ActionClient(client_node, GripperCommand, gripper_action),
        ]
        try:
            feedback: list = []
            result = goal_result(send_goal(clients[0], sample_goal(), feedback), timeout=30)
            assert result.error_code == FollowJointTrajectory.Result.GOAL_TOLERANCE_VIOLATED
            assert result.error_string == "panda_joint2"
            assert received[0] == sample_goal()
            assert wait_for(lambda: feedback, 5) and feedback[0].feedback == sample_feedback()

            goal = GripperCommand.Goal(command=GripperCommandMsg(position=0.035, max_effort=30.0))
            result = goal_result(send_goal(clients[1], goal), timeout=30)
            assert (result.position, result.effort, result.stalled, result.reached_goal) == (
                0.035,
                5.0,
                False,
                True,
            )
            assert received[1] == goal
        finally:
            for entity in clients + servers:
                entity.destroy()
