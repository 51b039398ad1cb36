"""The semantic_mapper node alone in its own process: frames from the detector topic fill it, bad requests
are refused naming the field while the node lives on, a restart keeps the map, a scene reset clears it
(and frames taken before it are skipped), and a foreign map file stops it with a message naming the file."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from rclpy.node import Node
from visualization_msgs.msg import MarkerArray

from maestro_msgs.msg import DetectionFrame, ErrorCode, MapObject
from maestro_msgs.srv import QueryMap, ResetScene, UpdateMap
from maestro_tools.common.qos import LATCHED_QOS
from test.ros.helpers import call, ros_graph, spawn_node, stop, unique, wait_for, wait_future

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from map_bench import frame_message  # a 640 x 480 frame with 10 detections


def mapper(ns: str, folder: Path) -> subprocess.Popen[str]:
    # fixed_frame base: the detections' own frame, so that no TF publisher is needed here
    return spawn_node(
        "maestro_tools.mapping.node", ns, directory=str(folder), map_name="cell", fixed_frame="base"
    )


def test_frames_fill_the_map_bad_requests_are_refused_and_a_restart_keeps_it(tmp_path: Path) -> None:
    ns = "/" + unique("mapper")
    process = mapper(ns, tmp_path)
    try:
        with ros_graph(lambda c: Node(unique("mapper_client"), context=c)) as (node,):
            query = node.create_client(QueryMap, f"{ns}/query_map")
            update = node.create_client(UpdateMap, f"{ns}/update_map")
            frames = node.create_publisher(DetectionFrame, f"{ns}/detector/frames", 5)
            markers: list[MarkerArray] = []
            node.create_subscription(MarkerArray, f"{ns}/semantic_map/markers", markers.append, LATCHED_QOS)
            assert query.wait_for_service(timeout_sec=30)
            assert wait_for(lambda: frames.get_subscription_count() > 0, 20)
            frames.publish(frame_message(5.0, np.random.default_rng(0)))
            assert wait_for(lambda: len(call(query, QueryMap.Request(label="cube"), 20).objects) == 10, 20)
            answer = call(query, QueryMap.Request(label="red cube 0"), 20)
            assert answer.success and answer.objects[0].camera == "scene" and answer.version == 1
            assert wait_for(lambda: markers and len(markers[-1].markers) == 2 + 2 * 10, 10)

            def refused(reply: object, *parts: str) -> None:
                assert not reply.success and reply.error_code == ErrorCode.INVALID_ARGUMENT, reply.message
                assert all(p in reply.message for p in parts), reply.message

            refused(call(query, QueryMap.Request(use_region=True, radius=float("nan"))), "radius")
            box = QueryMap.Request(use_box=True)
            box.box_min.x = 1.0
            refused(call(query, box), "box_min", "box_max")
            refused(call(query, QueryMap.Request(label="q" * 5000)), "label", "too long")
            unknown = call(query, QueryMap.Request(frame="nowhere"))
            assert unknown.error_code == ErrorCode.NOT_FOUND and "nowhere" in unknown.message
            bad = MapObject(label="cup")
            bad.pose.orientation.w = 0.0  # a zero quaternion
            refused(call(update, UpdateMap.Request(upserts=[bad])), "upserts[0].pose.orientation")
            refused(call(update, UpdateMap.Request(from_cameras=True)), "from_cameras")
            good = MapObject(label="cup", confidence=0.5)
            good.pose.orientation.w, good.pose.position.x = 1.0, 0.7
            added = call(update, UpdateMap.Request(upserts=[good]))
            assert added.success and added.size == 11 and added.ids == ["obj11"]
            near = call(query, QueryMap.Request(use_region=True, radius=0.05, center=good.pose.position))
            assert [o.label for o in near.objects] == ["cup"] and "'cup' at (0.700" in near.description
        assert process.poll() is None, "the mapper died"
    finally:
        first = stop(process)
    assert "Traceback" not in first, first

    again = mapper(ns, tmp_path)
    try:
        with ros_graph(lambda c: Node(unique("mapper_client2"), context=c)) as (node,):
            query = node.create_client(QueryMap, f"{ns}/query_map")
            assert query.wait_for_service(timeout_sec=30)
            answers: list[QueryMap.Response] = []

            def asked() -> bool:  # a request sent before the new server matched the client is lost: ask again
                future = query.call_async(QueryMap.Request())
                if wait_future(future, 5.0):
                    answers.append(future.result())
                return bool(answers)

            assert wait_for(asked, 30), "the restarted mapper's query_map did not answer in 30 s"
            kept = answers[0]
            assert len(kept.objects) == 11 and "cup" in kept.known_labels and kept.version == 2
    finally:
        second = stop(again)
    assert "Traceback" not in second and "cell.sqlite: 11 objects" in second, second


def test_a_scene_reset_clears_the_map_and_frames_taken_before_it_are_skipped(tmp_path: Path) -> None:
    ns = "/" + unique("reset")
    process = spawn_node(
        "maestro_tools.mapping.node", ns, storage="memory", fixed_frame="base", reset_topic=f"{ns}/scene"
    )
    try:
        with ros_graph(lambda c: Node(unique("reset_client"), context=c)) as (node,):
            query = node.create_client(QueryMap, f"{ns}/query_map")
            frames = node.create_publisher(DetectionFrame, f"{ns}/detector/frames", 5)
            scene = node.create_publisher(ResetScene.Response, f"{ns}/scene", LATCHED_QOS)
            assert query.wait_for_service(timeout_sec=30)
            assert wait_for(lambda: frames.get_subscription_count() > 0, 20)
            assert wait_for(lambda: scene.get_subscription_count() > 0, 20)
            size = lambda: len(call(query, QueryMap.Request(), 20).objects)  # noqa: E731
            rng = np.random.default_rng(1)
            before = time.time()  # the node's clock: wall time here (sim time in the simulation)
            frames.publish(frame_message(before, rng))
            assert wait_for(lambda: size() == 10, 20)
            scene.publish(ResetScene.Response(success=True, task="ball_in_bowl"))
            assert wait_for(lambda: size() == 0, 20)
            frames.publish(frame_message(before, rng))  # in flight across the reset: the old world
            frames.publish(frame_message(time.time() + 1.0, rng))  # the new one
            assert wait_for(lambda: size() == 10, 20)
            time.sleep(1.0)
            assert size() == 10  # the old frame added nothing
        assert process.poll() is None, "the mapper died"
    finally:
        output = stop(process)
    assert "taken before the scene was reset skipped" in output and "Traceback" not in output, output


def test_a_foreign_map_file_stops_the_node_naming_it(tmp_path: Path) -> None:
    (tmp_path / "cell.sqlite").write_bytes(b"not a map " * 200)
    process = mapper("/" + unique("foreign"), tmp_path)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2, output
    assert f"semantic map file {tmp_path / 'cell.sqlite'} refused" in output and "Traceback" not in output
