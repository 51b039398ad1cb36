"""Module benchmark: backend times without ROS, and service round trips across processes.

    make bench-modules      # or: .venv/bin/python bench/modules_bench.py

Backends run in this process on a rendered clean_table scene. Round trips call the detector, the
keypointer and the grasp planner, each in its own process beside the sim node, from this process.
The ROS overhead is, per call, the grasp planner's round trip minus the time its ``plan_grasp``
callback ran, which the planner process (the real node under ``run_node``, with an on_plan timer and a
``bench/callback_times`` service added) reports for the same calls. Writes bench/results/modules_bench.json.

The client spins its own SingleThreadedExecutor with ``spin_once`` until the future is done. Not
``rclpy.spin_until_future_complete``: in this rclpy (Jazzy 7.1) every spin of it adds a wake callback to
the future, each becomes an executor task when the future completes, and those tasks pile up across
calls (ros2/rclpy#1374), so the k-th call gets slower with k (a trivial service here: 0.6 ms at the
10th call, 2.6 ms at the 100th, 11 ms at the 400th): it measured the bench's own client, not ROS.
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

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 1))

import numpy as np

from maestro_tools.grasping.antipodal import antipodal_grasps
from maestro_tools.grasping.top_down import top_down_grasps
from maestro_tools.motion.kinematics import ArmKinematics
from maestro_tools.motion.path_builder import AUTO, PathBuilder
from maestro_tools.motion.planner import JointSpacePlanner
from maestro_tools.perception import geometric
from maestro_tools.perception.cloud import depth_cloud, scene_points
from maestro_tools.perception.keypoints import keypoint
from maestro_tools.perception.objects import CameraFrame, detect_objects
from maestro_tools.robots import get_robot
from maestro_tools.robots.model import RobotModel
from maestro_tools.sim.scene import CELL_SURFACES
from maestro_tools.sim.world import SimWorld

RESULTS = Path(__file__).resolve().parent / "results"

FRANKA = get_robot("franka")
HOME = FRANKA.arm.home
TOP_DOWN = (FRANKA.gripper.max_width, FRANKA.gripper.finger_depth, FRANKA.gripper.pad_clearance)
ANTIPODAL = {"max_width": FRANKA.gripper.max_width, "pad_clearance": FRANKA.gripper.pad_clearance}


def franka_model() -> RobotModel:
    return RobotModel(FRANKA, CELL_SURFACES)


def timed(function: Callable[[], object], repeats: int) -> dict[str, float]:
    function()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append(1000 * (time.perf_counter() - start))
    return percentiles(samples)


def percentiles(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
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
    kinematics = ArmKinematics(franka_model())
    planner = JointSpacePlanner(franka_model())
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
        "top_down_grasps": timed(lambda: top_down_grasps(block.pose, block.extent, *TOP_DOWN), 200),
        "antipodal_grasps, 500 samples on a 3000-point box cloud": timed(
            lambda: antipodal_grasps(box_cloud, samples=500, **ANTIPODAL), 10
        ),
        "ik_solve (from home)": timed(lambda: kinematics.solve(target, np.array(HOME)), 200),
        "cartesian_path (25 cm line)": timed(lambda: kinematics.cartesian_path(np.array(HOME), target), 50),
        "planned joint path (OMPL RRTConnect + simplification)": timed(
            lambda: planner.plan(np.array(HOME), np.array(HOME) + [1.2, 0.5, 0.0, 0.6, 0.0, -0.4, 0.0]), 20
        ),
    }
    results.update(motion_with_scene(world, kinematics, planner))
    world.close()
    return results


def motion_with_scene(
    world: SimWorld, kinematics: ArmKinematics, planner: JointSpacePlanner
) -> dict[str, dict[str, float]]:
    """The motion node's backend against the scene camera's cloud: from a 640x480 depth frame to
    obstacles, and a move whose straight line would knock the green can over (AUTO plans around it)."""
    can = world.position("green can")
    down = np.diag([1.0, -1.0, -1.0])
    start_pose, target = np.eye(4), np.eye(4)
    start_pose[:3, :3] = target[:3, :3] = down
    start_pose[:3, 3], target[:3, 3] = can + [0, 0.15, 0.007], can + [0, -0.13, 0.007]
    start = kinematics.solve(start_pose, np.array(HOME)).q
    world.set_arm(start)
    cameras = world.render_cameras()
    rendered = cameras.frame(world.data, "scene")
    pose = cameras.pose(world.data, "scene")
    frame = CameraFrame(
        "scene", rendered.rgb, rendered.depth, None, {}, cameras.intrinsics("scene"), pose, 0.0
    )
    goal = kinematics.solve(target, start).q
    paths = PathBuilder(kinematics, planner)

    def prepare() -> None:
        cloud = scene_points(depth_cloud(frame), CELL_SURFACES, limit=400_000)
        planner.use_scene(cloud, start, goal, viewpoint=pose[:3, 3])

    cloud = scene_points(depth_cloud(frame), CELL_SURFACES, limit=400_000)
    return {
        "motion: 640x480 depth frame -> obstacle cloud (voxels, arm removed, hidden backs filled)": timed(
            prepare, 20
        ),
        "motion: move past the green can, AUTO (line checked, blocked, OMPL around it)": timed(
            lambda: paths.to_poses(start, [target], AUTO, cloud, viewpoint=pose[:3, 3]), 20
        ),
    }


def timed_grasp_planner(args: list[str]) -> int:
    """Run the grasp planner node as its launch does (``run_node``), timing its ``plan_grasp`` callback.

    ``bench/callback_times`` (std_srvs/Trigger) answers the callback times (ms, JSON) since its last call.
    """
    from std_srvs.srv import Trigger

    from maestro_tools.common.node_main import run_node
    from maestro_tools.grasping.node import GraspPlannerNode

    class TimedGraspPlanner(GraspPlannerNode):
        def __init__(self) -> None:
            self.callback_ms: list[float] = []
            super().__init__()
            self.create_service(Trigger, "bench/callback_times", self.on_callback_times)

        def on_plan(self, request, response):  # noqa: ANN001, ANN202
            start = time.perf_counter()
            try:
                return super().on_plan(request, response)
            finally:
                self.callback_ms.append(1000 * (time.perf_counter() - start))

        def on_callback_times(self, request, response):  # noqa: ANN001, ANN202
            times, self.callback_ms = self.callback_ms, []
            response.success, response.message = True, json.dumps(times)
            return response

    return run_node(TimedGraspPlanner, args)


def round_trips(repeats: int = 200) -> dict[str, dict[str, float]]:
    import rclpy
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
    from std_srvs.srv import Trigger

    from maestro_msgs.srv import Detect, PlanGrasp, Point
    from maestro_tools.common.spinning import BackgroundSpinner, wait_future_blocking
    from maestro_tools.grasping.node import GraspPlannerNode

    namespace = f"/bench_{os.getpid()}"
    commands = [
        [sys.executable, "-m", "maestro_tools.sim.node", "--ros-args", "-p", "task:=clean_table"],
        [sys.executable, "-m", "maestro_tools.perception.detector_node", "--ros-args"],
        [sys.executable, "-m", "maestro_tools.perception.keypointer_node", "--ros-args"],
        [sys.executable, __file__, "--timed-grasp-planner", "--ros-args"],
    ]
    processes = [
        subprocess.Popen(
            [*command, "-r", f"__ns:={namespace}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for command in commands
    ]
    rclpy.init()
    node = rclpy.create_node("modules_bench")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    agent_node = spinner = None
    try:
        detect = node.create_client(Detect, f"{namespace}/detect")
        plan = node.create_client(PlanGrasp, f"{namespace}/plan_grasp")
        point = node.create_client(Point, f"{namespace}/point")
        callback_times = node.create_client(Trigger, f"{namespace}/bench/callback_times")
        for client in (detect, point, plan, callback_times):
            assert client.wait_for_service(timeout_sec=60), client.srv_name

        def call(client, request):  # noqa: ANN001, ANN202
            future = client.call_async(request)
            deadline = time.monotonic() + 10
            while not future.done() and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.1)
            return future.result()

        detection = call(detect, Detect.Request(labels=["red block"])).detections[0]
        plan_request = PlanGrasp.Request(detection=detection)
        checked_request = PlanGrasp.Request(detection=detection, check_reachability=True)
        results = {
            "detect round trip (renders rgb+depth+segmentation in the sim)": timed(
                lambda: call(detect, Detect.Request(labels=["red block"])), 25
            ),
            "point round trip, geometric keypointer (the sim renders rgb+depth+segmentation)": timed(
                lambda: call(point, Point.Request(description="the top of the red block")), 25
            ),
        }

        # The round trip and, per call, the planner's callback time for that call.
        call(plan, plan_request)
        call(callback_times, Trigger.Request())
        round_trip = []
        for _ in range(repeats):
            start = time.perf_counter()
            call(plan, plan_request)
            round_trip.append(1000 * (time.perf_counter() - start))
        in_callback = json.loads(call(callback_times, Trigger.Request()).message)
        results["plan_grasp round trip (no reachability check)"] = percentiles(round_trip)
        results["plan_grasp callback in the planner (same calls)"] = percentiles(in_callback)
        results["ros overhead over the backend call (plan_grasp)"] = percentiles(
            [trip - inside for trip, inside in zip(round_trip, in_callback, strict=True)]
        )
        results["plan_grasp round trip (IK reachability + scene collision, grabs a camera frame)"] = timed(
            lambda: call(plan, checked_request), 25
        )

        # The same call from a client built as the agent's (a 2-thread executor spun in the background).
        agent_node = rclpy.create_node("modules_bench_agent_style")
        agent_plan = agent_node.create_client(PlanGrasp, f"{namespace}/plan_grasp")
        spinner = BackgroundSpinner(MultiThreadedExecutor(num_threads=2))
        spinner.executor.add_node(agent_node)
        spinner.start()
        assert agent_plan.wait_for_service(timeout_sec=10)
        results["plan_grasp round trip, agent-style client (BackgroundSpinner, 2 threads)"] = timed(
            lambda: wait_future_blocking(agent_plan.call_async(plan_request), 10), repeats
        )

        # The callback alone, in this process: under the executor it runs slower, as the executor's
        # spin thread rebuilds its wait set beside it; the stricter overhead counts that slowdown too.
        planner = GraspPlannerNode()
        try:
            direct = timed(lambda: planner.on_plan(plan_request, PlanGrasp.Response()), repeats)
        finally:
            planner.destroy_node()
        results["plan_grasp callback run directly (no executor, no transport)"] = direct
        results["ros overhead counting the callback's slowdown (round trip - direct callback)"] = {
            "p50_ms": results["plan_grasp round trip (no reachability check)"]["p50_ms"] - direct["p50_ms"],
            "p95_ms": float("nan"),
        }
    finally:
        if spinner is not None:
            spinner.stop()
        if agent_node is not None:
            agent_node.destroy_node()
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown()
        for process in processes:
            process.terminate()
            process.wait(10)
    return results


def main() -> int:
    if sys.argv[1:2] == ["--timed-grasp-planner"]:
        return timed_grasp_planner(sys.argv)
    results = {**backends(), **round_trips()}
    # The earlier definition, for comparison: it also counts the callback's own work beyond
    # top_down_grasps (object box, Grasp messages, gripper markers built and published).
    results["plan_grasp round trip minus top_down_grasps (earlier definition)"] = {
        "p50_ms": results["plan_grasp round trip (no reachability check)"]["p50_ms"]
        - results["top_down_grasps"]["p50_ms"],
        "p95_ms": float("nan"),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "modules_bench.json").write_text(json.dumps(results, indent=2))
    width = max(map(len, results))
    for name, figures in results.items():
        print(f"{name.ljust(width)}  p50 {figures['p50_ms']:8.3f} ms   p95 {figures['p95_ms']:8.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
