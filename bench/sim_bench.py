"""Simulation benchmark: physics rate, render rates, reset time, image latency across processes.

    make bench            # or: .venv/bin/python bench/sim_bench.py [--seconds 5]

Prints a table and writes bench/results/sim_bench.json. Figures are measured on this machine,
not asserted; the README quotes them with this command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 1))

from maestro_tools.sim.tasks import TASKS
from maestro_tools.sim.world import SimWorld

RESULTS = Path(__file__).resolve().parent / "results"


def rate(function, seconds: float) -> float:  # noqa: ANN001
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        function()
        count += 1
    return count / (time.perf_counter() - start)


def physics(seconds: float) -> dict[str, float]:
    world = SimWorld("clean_table", 0)
    steps_per_second = rate(lambda: world.step(10), seconds) * 10
    world.close()
    return {"physics_steps_per_s": steps_per_second, "real_time_factor": steps_per_second * world.timestep}


def rendering(seconds: float) -> dict[str, float]:
    world = SimWorld("clean_table", 0, width=640, height=480)
    cameras = world.render_cameras()
    cameras.rgb(world.data, "scene")  # warm up the GL context
    result = {
        "rgb_640x480_fps": rate(lambda: cameras.rgb(world.data, "scene"), seconds),
        "depth_640x480_fps": rate(lambda: cameras.depth(world.data, "scene"), seconds),
        "rgbd_640x480_fps": rate(lambda: cameras.frame(world.data, "scene"), seconds),
        "segmentation_640x480_fps": rate(lambda: world.segmentation("scene"), seconds),
    }
    world.close()
    return result


def resets() -> dict[str, float]:
    start = time.perf_counter()
    world = SimWorld("ball_in_bowl", 0)  # the first scene of a process also loads the Panda meshes
    first = time.perf_counter() - start
    times = []
    for task in TASKS:
        for seed in range(3):
            start = time.perf_counter()
            world.reset(task, seed, "pose")
            times.append(time.perf_counter() - start)
    world.close()
    return {"first_scene_s": first, "reset_s_median": statistics.median(times), "reset_s_max": max(times)}


PUBLISHER = r"""
import sys, time, rclpy
from std_msgs.msg import Header
from builtin_interfaces.msg import Time
from maestro_tools.common.conversions import numpy_to_image
from maestro_tools.common.qos import IMAGE_QOS
from maestro_tools.sim.world import SimWorld
from sensor_msgs.msg import Image
world = SimWorld("clean_table", 0)
rgb = world.render_cameras().rgb(world.data, "scene")
rclpy.init()
node = rclpy.create_node("bench_image_publisher")
pub = node.create_publisher(Image, "bench_image", IMAGE_QOS)
while pub.get_subscription_count() == 0:
    time.sleep(0.05)
time.sleep(0.5)
for _ in range(int(sys.argv[1])):
    now = time.time_ns()
    msg = numpy_to_image(rgb, "rgb8", Header(stamp=Time(sec=now // 10**9, nanosec=now % 10**9)))
    pub.publish(msg)
    time.sleep(1 / 30)
time.sleep(0.5)
rclpy.shutdown()
"""


def image_latency(frames: int = 150) -> dict[str, float]:
    """640x480 rgb8 frames at 30 Hz, published with the sim's conversion and QoS, received in this process."""
    import rclpy
    from sensor_msgs.msg import Image

    from maestro_tools.common.conversions import image_to_numpy
    from maestro_tools.common.qos import IMAGE_QOS

    rclpy.init()
    node = rclpy.create_node("bench_image_subscriber")
    latencies: list[float] = []

    def received(msg: Image) -> None:
        image_to_numpy(msg)
        latencies.append(time.time() - (msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9))

    node.create_subscription(Image, "bench_image", received, IMAGE_QOS)
    publisher = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(frames)])
    deadline = time.monotonic() + 60
    while publisher.poll() is None and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    publisher.wait(10)
    rclpy.shutdown()
    latencies.sort()
    return {
        "image_frames_received": len(latencies),
        "image_frames_sent": frames,
        "image_latency_ms_p50": 1000 * latencies[len(latencies) // 2],
        "image_latency_ms_p95": 1000 * latencies[int(len(latencies) * 0.95)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per figure")
    args = parser.parse_args()
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        **resets(),
        **physics(args.seconds),
        **rendering(args.seconds),
        **image_latency(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sim_bench.json").write_text(json.dumps(results, indent=2))
    width = max(map(len, results))
    for key, value in results.items():
        print(
            f"{key.ljust(width)}  {value:.3f}" if isinstance(value, float) else f"{key.ljust(width)}  {value}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
