"""`maestro launch` on a real graph: names, namespaces, parameters, remaps, respawn and shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from builtin_interfaces.msg import Time
from rcl_interfaces.srv import GetParameters
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from std_msgs.msg import String

from test.ros.helpers import FIXTURES, ros_graph, unique, wait_for, wait_future

SPEC = """\
version: 1
robot: testbot
namespace: /{namespace}
use_sim_time: $(arg sim)
arguments:
  sim: {{default: true, description: simulated clock, choices: [true, false]}}
  steps: {{default: 3, description: feedback steps}}
nodes:
  - name: echo
    executable: {executable}
    respawn: true
    respawn_delay: 0.2
    param_files: [config/testbot.yaml]
    parameters: {{steps: $(arg steps)}}
    remappings: {{chatter: /{namespace}/renamed}}
"""


def test_launch_runs_the_spec_and_stops_cleanly(tmp_path: Path) -> None:
    namespace = unique("launch")
    (tmp_path / "config" / "bringup").mkdir(parents=True)
    (tmp_path / "config" / "testbot.yaml").write_text("/**/echo:\n  ros__parameters:\n    mode: slow\n")
    # A console-script-like executable whose interpreter is this venv's Python.
    executable = tmp_path / "echo_node"
    executable.write_text(
        f"#!{sys.executable}\nimport runpy\n"
        f"runpy.run_path({str(FIXTURES / 'echo_node.py')!r}, run_name='__main__')\n"
    )
    executable.chmod(0o755)
    (tmp_path / "config" / "bringup" / "testbot.yaml").write_text(
        SPEC.format(namespace=namespace, executable=executable)
    )
    env = dict(os.environ, MAESTRO_SHARE_DIR=str(tmp_path))
    launcher = subprocess.Popen(
        [sys.executable, "-m", "maestro_agent.cli", "launch", "testbot", "steps:=7"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(launcher.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        with ros_graph(lambda c: Node(unique("observer"), context=c)) as (node,):
            # use_sim_time is on: the node's timer only runs while someone publishes /clock.
            clock = node.create_publisher(Clock, "/clock", 10)
            ticks = iter(range(1, 1 << 30))

            def tick() -> None:
                nanoseconds = next(ticks) * 20_000_000
                clock.publish(Clock(clock=Time(sec=nanoseconds // 10**9, nanosec=nanoseconds % 10**9)))

            node.create_timer(0.02, tick)
            received: list[str] = []
            node.create_subscription(String, f"/{namespace}/renamed", lambda m: received.append(m.data), 10)
            assert wait_for(lambda: bool(received), 20), "".join(lines)
            assert received[0] == f"/{namespace}/echo"

            client = node.create_client(GetParameters, f"/{namespace}/echo/get_parameters")
            assert client.wait_for_service(timeout_sec=10)
            future = client.call_async(GetParameters.Request(names=["steps", "mode", "use_sim_time"]))
            assert wait_future(future)
            steps, mode, sim_time = future.result().values
            assert (steps.integer_value, mode.string_value, sim_time.bool_value) == (7, "slow", True)

            # Kill the node: the supervisor respawns it and it publishes again.
            pid = next(int(line.split("pid ")[1]) for line in lines if "started pid" in line)
            os.kill(pid, signal.SIGKILL)
            assert wait_for(lambda: any("respawned" in line for line in lines), 10), "".join(lines)
            received.clear()
            assert wait_for(lambda: bool(received), 20)
            respawned = int(next(line for line in lines if "respawned" in line).split("pid ")[1])
    finally:
        launcher.send_signal(signal.SIGINT)
        code = launcher.wait(20)
        reader.join(5)
    text = "".join(lines)
    assert code == 0, text
    assert "echo ready: steps=7 mode=slow" in text
    assert (
        not os.path.exists(f"/proc/{respawned}")
        or Path(f"/proc/{respawned}/stat").read_text().split()[2] == "Z"
    )
    assert "Traceback" not in text, text
