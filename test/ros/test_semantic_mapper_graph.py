"""The semantic mapper on the Franka sim, across processes: sim, detector (sim backend) and mapper each in
their own process. Detections fill the map; the arm then hides the tennis ball from the scene camera, the
detector no longer finds it there, and the map (not decayed: the depth shows the arm in front) still
knows where it is; the proxy's failed detection says so. Markers are published."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from builtin_interfaces.msg import Duration
from control_msgs.action import FollowJointTrajectory
from geometry_msgs.msg import Vector3
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
from visualization_msgs.msg import Marker, MarkerArray

from maestro_agent.proxy.harness import Harness
from maestro_agent.proxy.registry import build_tools
from maestro_agent.proxy.ros_client import RosClient
from maestro_agent.proxy.session import tools  # noqa: F401  (registers the tools)
from maestro_agent.ros_scene import RosScene
from maestro_msgs.msg import ErrorCode, MapObject
from maestro_msgs.srv import Detect, QueryMap, UpdateMap
from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.errors import NotFoundError
from maestro_tools.common.qos import LATCHED_QOS
from maestro_tools.motion.kinematics import ArmKinematics
from maestro_tools.robots import get_robot
from maestro_tools.sim.world import SimWorld
from test.ros.helpers import (
    FollowedOutput,
    call,
    goal_result,
    ros_graph,
    send_goal,
    spawn_node,
    unique,
    wait_for,
)
from test.sim.franka_cell import HOME, frame, franka_model

CONFIG = Path(__file__).resolve().parents[2] / "config" / "franka"
PARAMS = (str(CONFIG / "params.yaml"), str(CONFIG / "sim_true.yaml"))


def hiding_posture() -> np.ndarray:
    """Arm joints that put the hand between the scene camera and the tennis ball (ball_in_bowl, seed 0),
    checked on a local copy of the scene: none of the ball's pixels left in the scene camera."""
    world = SimWorld("ball_in_bowl", 0)
    try:
        ball, camera = world.position("tennis ball"), frame(world, "scene").camera_pose[:3, 3]
        ray = (camera - ball) / np.linalg.norm(camera - ball)
        z = -ray  # the approach axis points from the camera to the ball: the hand sits in the line of sight
        x = np.cross([0.0, 0.0, 1.0], z)
        x /= np.linalg.norm(x)
        target = np.eye(4)
        target[:3, :3], target[:3, 3] = np.stack([x, np.cross(z, x), z], axis=1), ball + 0.15 * ray
        q = ArmKinematics(franka_model()).solve(target, HOME).q
        world.set_arm(q)
        world.step(1)
        ball_id = world.instance_labels.index("tennis ball")
        assert int((frame(world, "scene").instances == ball_id).sum()) == 0, (
            "the posture does not hide the ball"
        )
        return q
    finally:
        world.close()


def _confidence(client, object_id: str) -> float:  # type: ignore[no-untyped-def]
    answer = query(client, id=object_id)
    return answer.objects[0].confidence if answer.success else 0.0


def query(client, **fields) -> QueryMap.Response:  # type: ignore[no-untyped-def]
    return call(client, QueryMap.Request(**fields), 20)


def test_an_object_hidden_by_the_arm_is_still_found_through_the_map() -> None:
    posture = hiding_posture()
    ns = "/" + unique("map")
    processes = [
        spawn_node("maestro_tools.sim.node", ns, PARAMS, task="ball_in_bowl", use_sim_time=True),
        spawn_node(
            "maestro_tools.perception.detector_node",
            ns,
            PARAMS,
            backend="sim",
            timeout=20.0,
            use_sim_time=True,
        ),
        spawn_node("maestro_tools.mapping.node", ns, PARAMS, storage="memory", use_sim_time=True),
    ]
    outputs = [FollowedOutput(p) for p in processes]
    ros = None
    try:
        with ros_graph(
            lambda c: Node(unique("map_client"), context=c),
            lambda c: Node(unique("agent_view"), namespace=ns, context=c),  # as the agent node sits
        ) as (node, agent_node):
            detect = node.create_client(Detect, f"{ns}/detect")
            query_map = node.create_client(QueryMap, f"{ns}/query_map")
            update_map = node.create_client(UpdateMap, f"{ns}/update_map")
            markers: list[MarkerArray] = []
            lock = threading.Lock()

            def keep(message: MarkerArray) -> None:
                with lock:
                    markers.append(message)

            node.create_subscription(MarkerArray, f"{ns}/semantic_map/markers", keep, LATCHED_QOS)
            assert query_map.wait_for_service(timeout_sec=60) and detect.wait_for_service(timeout_sec=60)
            empty = query(query_map, label="tennis ball")
            assert empty.error_code == ErrorCode.NOT_FOUND and "the map is empty" in empty.message

            # The detector publishes frames only to a subscriber it has discovered: a call made before it
            # has discovered the mapper fills nothing, so the first sighting may take a second call.
            for _ in range(3):
                seen = call(detect, Detect.Request(labels=["tennis ball", "bowl"], camera="scene"), 40)
                assert seen.success, seen.message
                if wait_for(lambda: query(query_map, label="ball").success, 15):
                    break
            else:
                raise AssertionError(f"the map never got the ball: {[o.tail() for o in outputs]}")
            ball = next(d for d in seen.detections if d.label == "tennis ball").pose.position
            before = query(query_map, label="tennis ball", frame="base")
            (mapped,) = before.objects
            p = mapped.pose.position
            assert np.linalg.norm([p.x - ball.x, p.y - ball.y, p.z - ball.z]) < 0.002
            assert mapped.camera == "scene" and mapped.header.frame_id == "base"
            bowl_sightings = query(query_map, label="bowl").objects[0].observations
            assert (
                sorted(before.known_labels) == ["bowl", "tennis ball"]
                and "'tennis ball' at" in before.description
            )

            def has_cube() -> bool:
                with lock:
                    last = markers[-1].markers if markers else []
                return any(m.type == Marker.CUBE for m in last) and any("tennis ball" in m.text for m in last)

            assert wait_for(has_cube, 10), "no map markers"

            # The arm moves in front of the ball: the scene camera loses it, the map keeps it.
            arm = ThreadSafeActionClient(
                node, FollowJointTrajectory, f"{ns}/arm_controller/follow_joint_trajectory"
            )
            goal = FollowJointTrajectory.Goal(
                trajectory=JointTrajectory(
                    joint_names=list(get_robot("franka").arm.joints),
                    points=[
                        JointTrajectoryPoint(positions=posture.tolist(), time_from_start=Duration(sec=4))
                    ],
                )
            )
            result = goal_result(send_goal(arm, goal), 90)
            assert result.error_code == 0, result.error_string
            hidden = call(detect, Detect.Request(labels=["tennis ball"], camera="scene"), 40)
            assert hidden.error_code == ErrorCode.NOT_FOUND, hidden.message
            assert call(detect, Detect.Request(labels=["bowl"], camera="scene"), 40).success
            assert wait_for(
                lambda: query(query_map, label="bowl").objects[0].observations == bowl_sightings + 1, 20
            )
            after = query(query_map, label="tennis ball", frame="base")
            assert after.success and after.objects[0].id == mapped.id, after.message
            assert after.objects[0].confidence >= mapped.confidence  # hidden, not missing

            # The agent's view: the plan and react prompts get this text (maestro_agent.loop._memory).
            scene = RosScene(agent_node, ReentrantCallbackGroup(), None, ("scene",), "base")
            assert scene.map_client.wait_for_service(timeout_sec=20)
            assert "'tennis ball' at (" in scene.map_description()

            # The proxy: a failed detection says where the map last saw the ball; find and near answer.
            profile = get_robot("franka")
            ros = RosClient(profile, namespace=ns, node_name=unique("proxy"))
            proxy = build_tools(ros, Harness(profile, attempts=1))
            try:
                proxy["perception"].detect("tennis ball", "scene")
                raise AssertionError("the hidden ball was detected")
            except NotFoundError as exc:
                assert "semantic map last saw 'tennis ball' at [" in str(exc), str(exc)
                assert "from the scene camera" in str(exc)
            (found,) = proxy["semantic_map"].find("ball")
            assert np.linalg.norm(found.position - [p.x, p.y, p.z]) < 0.002 and found.age >= 0
            assert [o.label for o in proxy["semantic_map"].near(found.position, 0.05)] == ["tennis ball"]
            assert "tennis ball" in proxy["semantic_map"].describe()
            assert proxy["semantic_map"].forget("bowl") == 1 and proxy["semantic_map"].forget("bowl") == 0

            # Negative evidence: a mug put into the map where the table is in plain view is looked for three
            # times and not detected: it is forgotten (the hidden ball stays).
            mug = MapObject(label="red mug", extent=Vector3(x=0.08, y=0.08, z=0.1), confidence=1.0)
            mug.header.frame_id = "base"
            mug.pose.position.x, mug.pose.position.y, mug.pose.position.z = 0.3, -0.25, 0.05
            (mug_id,) = call(update_map, UpdateMap.Request(upserts=[mug]), 20).ids
            for k in range(3):
                missing = call(detect, Detect.Request(labels=["red mug"], camera="scene"), 40)
                assert missing.error_code == ErrorCode.NOT_FOUND
                expected = 1.0 - 0.34 * (k + 1)
                if k < 2:
                    assert wait_for(lambda e=expected: _confidence(query_map, mug_id) < e + 0.01, 20), k
            assert wait_for(lambda: query(query_map, id=mug_id).error_code == ErrorCode.NOT_FOUND, 20)
            assert query(query_map, label="tennis ball").success

            bad = call(update_map, UpdateMap.Request(remove_ids=["obj999"]), 20)
            assert bad.error_code == ErrorCode.NOT_FOUND and mapped.id in bad.message
    finally:
        if ros is not None:
            ros.close()
        logs = [o.stop() for o in outputs]
    assert not any("Traceback" in log for log in logs), logs
