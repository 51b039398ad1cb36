"""Navigation benchmark: time to a goal 5 m away in the house, the Go2-W sim node and the navigation node
each in its own process, the way the bringup runs them.

    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID=130 .venv/bin/python bench/navigation_bench.py

The robot first drives (untimed) to the east end of the room, (4.3, -0.4); then it navigates to the
north-west corner, (-0.45, 1.0), 4.95 m away in a straight line, between the white table and the sofa,
and back. Printed per leg: navigation time (sim seconds, the action's result), wall time, the distance
driven (odometry), the mean speed, recoveries, the final position and heading error, and the CPU time
the navigation process used. ``--rtf`` sets the sim's real-time factor (1 = real time, as on a robot),
``--size`` the camera images (the head camera renders while navigation watches it).
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import time
from pathlib import Path

from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from maestro_msgs.action import NavigateBase
from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.qos import STATE_QOS
from test.ros.helpers import goal_result, ros_graph, send_goal, spawn_node, stop, unique, wait_for

EAST, WEST = (4.3, -0.4, math.pi), (-0.45, 1.0, math.pi / 2)


def goal(x: float, y: float, yaw: float, timeout: float) -> NavigateBase.Goal:
    pose = PoseStamped()
    pose.header.frame_id = "map"
    pose.pose.position.x, pose.pose.position.y = x, y
    pose.pose.orientation.z, pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
    return NavigateBase.Goal(goal=pose, timeout=timeout)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rtf", type=float, default=1.0, help="sim real-time factor")
    parser.add_argument("--size", default="640x480", help="camera image size, WxH")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    ns = "/" + unique("navbench")
    sim = spawn_node(
        "maestro_tools.sim.mobile.node",
        ns,
        image_width=width,
        image_height=height,
        real_time_factor=args.rtf,
    )
    nav = spawn_node("maestro_tools.navigation.node", ns, robot="go2w_piper", use_sim_time=True)
    odom: list[Odometry] = []
    try:
        with ros_graph(lambda c: Node(unique("navbench_client"), context=c)) as (node,):
            node.create_subscription(Odometry, f"{ns}/odom", odom.append, STATE_QOS)
            client = ThreadSafeActionClient(node, NavigateBase, f"{ns}/navigate")
            assert wait_for(lambda: len(odom) > 3, 60), "no odom from the sim node"
            assert client.wait_for_server(timeout_sec=60), "no navigate action"
            setup = goal_result(send_goal(client, goal(*EAST, 120.0)), 600)
            assert setup.success, setup.message
            print(f"sim rtf {args.rtf:g}, cameras {width}x{height}")
            for name, end in (("east -> west", WEST), ("west -> east", EAST)):
                here = odom[-1].pose.pose.position
                first = len(odom)
                cpu, wall = cpu_seconds(nav.pid), time.monotonic()
                result = goal_result(send_goal(client, goal(*end, 120.0)), 600)
                wall, cpu = time.monotonic() - wall, cpu_seconds(nav.pid) - cpu
                track = [m.pose.pose.position for m in odom[first:]]
                driven = sum(math.dist((a.x, a.y), (b.x, b.y)) for a, b in itertools.pairwise(track))
                straight = math.dist((here.x, here.y), end[:2])
                outcome = "ok" if result.success else f"FAILED: {result.message}"
                seconds = result.navigation_time
                print(
                    f"{name}: {outcome}; straight {straight:.2f} m, driven {driven:.2f} m, navigation time "
                    f"{seconds:.1f} s (sim), wall {wall:.1f} s, mean speed {driven / max(seconds, 1e-6):.2f} "
                    f"m/s, recoveries {result.number_of_recoveries}, final error "
                    f"{result.position_error * 100:.1f} cm / {math.degrees(result.yaw_error):.1f} deg, "
                    f"navigation node CPU {cpu:.1f} s ({100 * cpu / wall:.0f}% of a core)"
                )
    finally:
        for process in (nav, sim):
            output = stop(process)
            if "Traceback" in output:
                print(output[-3000:], file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
