"""Agent benchmark: overhead per substep excluding VLM time, and prompt bytes per substep.

    make bench-agent      # or: .venv/bin/python bench/agent_bench.py

Starts the Franka simulation graph with the scripted backend replaying bench/programs/overhead.yaml
(ten substeps that only read the robot state) and sends its goal from this process. The scripted VLM
answers in microseconds, so a substep's wall time is the agent's own overhead: running the code in
the sandbox (a proxy call over ROS), two camera snapshots, building the prompts, feedback and trace
writes. Prompt bytes are measured by encoding a react request as the Gemini backend would (JPEG, longer
side 768). Writes bench/results/agent_bench.json.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 1))

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node

from maestro_agent import prompt
from maestro_agent.prompt import Step
from maestro_msgs.action import RunTask
from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.spinning import BackgroundSpinner
from maestro_tools.vlm.base import encode_image

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def prompt_bytes() -> dict[str, int]:
    """Bytes of a typical react request: system prompt, text, and the scene and wrist images of a rendered
    clean_table scene plus a detection overlay, each 640x480 sent as JPEG with the longer side 768."""
    from maestro_tools.common.render import draw_detections
    from maestro_tools.sim.world import SimWorld

    world = SimWorld()
    world.reset("clean_table", 0)
    cameras = world.render_cameras()
    scene, wrist = (cameras.frame(world.data, c).rgb for c in ("scene", "wrist"))
    overlay = draw_detections(scene, ["red block"], [(300, 200, 60, 60)])
    images = [("scene camera", scene), ("wrist camera", wrist), ("detect red block", overlay)]
    world.close()
    step = Step(
        3, "grasp the tennis ball", "held = grasping.pick('tennis ball')\nprint(held)", "ok", "x" * 400, ""
    )
    message = prompt.react_message("put the tennis ball into the bowl", ["a", "b"], 0, step, [], [], images)
    text = sum(len(p.encode()) for p in message.parts if isinstance(p, str))
    pictures = sum(len(encode_image(p, 768, "jpeg")[0]) for p in message.parts if isinstance(p, np.ndarray))
    system = len(prompt.system_prompt("franka").encode())
    return {
        "system_prompt": system,
        "react_text": text,
        "react_images_jpeg": pictures,
        "react_total": system + text + pictures,
    }


def run_goal(substeps: int = 10) -> dict[str, float]:
    programs = HERE / "programs" / "overhead.yaml"
    with tempfile.TemporaryDirectory() as traces:
        env = dict(os.environ, PYTHONUNBUFFERED="1", MAESTRO_TRACE_DIR=traces)
        launcher = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "maestro_agent.cli",
                "launch",
                "franka",
                "vlm:=scripted",
                f"programs:={programs}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        context = Context()
        rclpy.init(context=context)
        node = Node("agent_bench", context=context)
        spinner = BackgroundSpinner(MultiThreadedExecutor(num_threads=2, context=context))
        spinner.executor.add_node(node)
        spinner.start()
        try:
            client = ThreadSafeActionClient(node, RunTask, "/maestro/run_task")
            assert client.wait_for_server(timeout_sec=90), "the agent did not start"
            times: list[float] = []
            stamps: list[float] = []

            def feedback(message: object) -> None:
                if message.feedback.phase == "executing":
                    stamps.append(time.monotonic())

            for _ in range(2):  # the first run warms the sandbox's ROS connections
                stamps.clear()
                started = time.monotonic()
                sent = client.send_goal_async(
                    RunTask.Goal(instruction="benchmark the agent overhead"), feedback_callback=feedback
                )
                while not sent.done():
                    time.sleep(0.01)
                result = sent.result().get_result_async()
                while not result.done():
                    time.sleep(0.01)
                total = time.monotonic() - started
                outcome = (
                    result.result().result
                )  # "fails": the ball_in_bowl scene scores 0 for reading states
                assert outcome.substeps == substeps, outcome.summary
                times = list(np.diff(stamps))
            return {
                "substeps": substeps,
                "goal_s": round(total, 3),
                "per_substep_p50_s": round(statistics.median(times), 3),
                "per_substep_max_s": round(max(times), 3),
            }
        finally:
            spinner.stop()
            node.destroy_node()
            rclpy.shutdown(context=context)
            launcher.send_signal(signal.SIGINT)
            launcher.wait(30)


def main() -> int:
    results = {"prompt_bytes": prompt_bytes(), "overhead": run_goal()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "agent_bench.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
