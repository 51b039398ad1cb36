"""Module benchmark: backend times without ROS, and service round trips across processes.

    make bench-modules      # or: .venv/bin/python bench/modules_bench.py

Backends run in this process on a rendered clean_table scene. Round trips call the detector and the
grasp planner, each in its own process beside the sim node, from this process; the grasp planner's
round trip minus its backend time is the ROS overhead. Writes bench/results/modules_bench.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 1))

import numpy as np

from maestro_tools.grasping.antipodal import antipodal_grasps
from maestro_tools.grasping.top_down import top_down_grasps
from maestro_tools.motion.kinematics import ArmKinematics
from maestro_tools.motion.planner import JointSpacePlanner
from maestro_tools.perception import geometric
from maestro_tools.perception.keypoints import keypoint
from maestro_tools.perception.objects import CameraFrame, detect_objects
from maestro_tools.sim.scene import HOME
from maestro_tools.sim.world import SimWorld

RESULTS = Path(__file__).resolve().parent / "results"


def timed(function: Callable[[], object], repeats: int) -> dict[str, float]:
    function()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append(1000 * (time.perf_counter() - start))
    samples.sort()
    return {"p50_ms": statistics.median(samples), "p95_ms": samples[int(0.95 * (len(samples) - 1))]}


def backends() -> dict[str, dict[str, float]]:
    world = SimWorld("clean_table", 0)
    cameras = world.render_cameras()
    rendered = cameras.frame(world.data, "scene")
    frame = CameraFrame(
        "scene",
        rendered.rgb,
        rendered.depth,
        world.segmentation("scene"),
        dict(enumerate(world.instance_labels)),
        cameras.intrinsics("scene"),
        cameras.pose(world.data, "scene"),
        rendered.time,
    )
    block = detect_objects(frame, ["red block"])[0]
    rng = np.random.default_rng(0)
    box_cloud = rng.uniform(-1, 1, (3000, 3)) * [0.06, 0.02, 0.03]
    face = rng.integers(0, 3, 3000)
    box_cloud[np.arange(3000), face] = (
        np.sign(box_cloud[np.arange(3000), face]) * np.array([0.06, 0.02, 0.03])[face]
    )
    box_cloud += [0.5, 0.0, 0.03]
    kinematics = ArmKinematics()
    planner = JointSpacePlanner(kinematics.model)
    target = kinematics.fk(np.array(HOME))
    target[:3, 3] = [0.5, 0.15, 0.12]
    results = {
        "detect_all_objects_640x480 (sim backend)": timed(lambda: detect_objects(frame, []), 50),
        "detect 'red block' 640x480 (geometric backend, open3d)": timed(
            lambda: geometric.detect(
                frame.rgb, frame.depth, frame.intrinsics, frame.camera_pose, ["red block"]
            ),
            20,
        ),
        "keypoint 'top of the red block'": timed(lambda: keypoint(frame, "the top of the red block"), 50),
        "top_down_grasps": timed(lambda: top_down_grasps(block.pose, block.extent), 200),
        "antipodal_grasps, 500 samples on a 3000-point box cloud": timed(
            lambda: antipodal_grasps(box_cloud, samples=500), 10
        ),
        "ik_solve (from home)": timed(lambda: kinematics.solve(target, np.array(HOME)), 200),
        "cartesian_path (25 cm line)": timed(lambda: kinematics.cartesian_path(np.array(HOME), target), 50),
        "planned joint path (OMPL RRTConnect + simplification)": timed(
            lambda: planner.plan(np.array(HOME), np.array(HOME) + [1.2, 0.5, 0.0, 0.6, 0.0, -0.4, 0.0]), 20
        ),
    }
    world.close()
    return results


def round_trips(repeats: int = 100) -> dict[str, dict[str, float]]:
    import rclpy

    from maestro_msgs.srv import Detect, PlanGrasp

    namespace = f"/bench_{os.getpid()}"
    nodes = {
        "maestro_tools.sim.node": ["-p", "task:=clean_table"],
        "maestro_tools.perception.detector_node": [],
        "maestro_tools.grasping.node": [],
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", module, "--ros-args", "-r", f"__ns:={namespace}", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for module, args in nodes.items()
    ]
    rclpy.init()
    node = rclpy.create_node("modules_bench")
    try:
        detect = node.create_client(Detect, f"{namespace}/detect")
        plan = node.create_client(PlanGrasp, f"{namespace}/plan_grasp")
        assert detect.wait_for_service(timeout_sec=30) and plan.wait_for_service(timeout_sec=30)

        def call(client, request):  # noqa: ANN001, ANN202
            future = client.call_async(request)
            rclpy.spin_until_future_complete(node, future, timeout_sec=10)
            return future.result()

        detection = call(detect, Detect.Request(labels=["red block"])).detections[0]
        plan_request = PlanGrasp.Request(detection=detection)
        checked_request = PlanGrasp.Request(detection=detection, check_reachability=True)
        results = {
            "detect round trip (renders rgb+depth+segmentation in the sim)": timed(
                lambda: call(detect, Detect.Request(labels=["red block"])), repeats // 4
            ),
            "plan_grasp round trip (no reachability check)": timed(lambda: call(plan, plan_request), repeats),
            "plan_grasp round trip (IK reachability + scene collision, grabs a camera frame)": timed(
                lambda: call(plan, checked_request), repeats // 4
            ),
        }
    finally:
        node.destroy_node()
        rclpy.shutdown()
        for process in processes:
            process.terminate()
            process.wait(10)
    return results


def main() -> int:
    results = {**backends(), **round_trips()}
    overhead = (
        results["plan_grasp round trip (no reachability check)"]["p50_ms"]
        - results["top_down_grasps"]["p50_ms"]
    )
    results["ros overhead over the backend call (plan_grasp)"] = {"p50_ms": overhead, "p95_ms": float("nan")}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "modules_bench.json").write_text(json.dumps(results, indent=2))
    width = max(map(len, results))
    for name, figures in results.items():
        print(f"{name.ljust(width)}  p50 {figures['p50_ms']:8.3f} ms   p95 {figures['p95_ms']:8.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
