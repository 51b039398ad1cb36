"""The agent's life cycle on a real graph: goal limits, cancel while the VLM stalls, SIGTERM mid-trial,
and a `maestro run` whose agent is SIGKILLed. The agent runs in its own process with the OpenAI-compatible
backend pointed at a fake server in this process, and without cameras (one synthetic image stands in)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from action_msgs.msg import GoalStatus
from rclpy.node import Node

from maestro_agent.replies import format_judgement, format_plan
from maestro_msgs.action import RunTask
from maestro_tools.common.action_client import ThreadSafeActionClient
from test.fakes import Canned, RecordedRequest
from test.fakes.openai_server import FakeOpenAIServer
from test.ros.helpers import goal_outcome, ros_graph, send_goal, unique, wait_for, wait_future

BOOT = """
import sys
import numpy as np
from maestro_agent import ros_scene
# No camera publishes here: one synthetic image instead of waiting 5 s per camera for each snapshot.
ros_scene.RosScene.snapshot = lambda self, cameras=(): [("scene camera", np.zeros((8, 8, 3), np.uint8))]
from maestro_agent.node import main
sys.exit(main())
"""
NS = "/" + unique("lifecycle")
INSTRUCTION = "put the tennis ball into the bowl"


class StallingServer(FakeOpenAIServer):
    """While ``stall`` is set, each request hangs (up to 60 s, or until ``release``), then gets a reply
    its caller no longer waits for (not one queued for later requests)."""

    def __init__(self) -> None:
        super().__init__()
        self.stall, self.release, self.hanging = threading.Event(), threading.Event(), threading.Event()
        self.reply("too late")
        self.late = self._queue.pop()
        report = self._server.handle_error  # a killed agent's socket is gone: not worth a traceback
        self._server.handle_error = lambda *a: None if isinstance(sys.exc_info()[1], OSError) else report(*a)

    def _next(self, request: RecordedRequest) -> Canned:
        if not self.stall.is_set():
            return super()._next(request)
        self.hanging.set()
        self.release.wait(60)
        with self._lock:
            self.requests.append(request)
        return self.late

    def plan(self, code: str) -> None:
        self.reply(format_plan(["do it"], code))

    def judge(self, decision: str = "complete") -> None:
        self.reply(format_judgement(decision, "looks done"))


class Agent:
    """The agent node in its own process; its output is collected."""

    def __init__(self, base_url: str, trace_dir: Path) -> None:
        parameters = {"vlm": "openai", "model": "fake", "base_url": base_url, "trace_dir": str(trace_dir)}
        command = [sys.executable, "-c", BOOT, "--ros-args", "-r", f"__ns:={NS}"]
        for name, value in parameters.items():
            command += ["-p", f"{name}:={value}"]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        self.lines: list[str] = []
        assert self.process.stdout is not None
        stdout = self.process.stdout
        self.reader = threading.Thread(
            target=lambda: self.lines.extend(iter(stdout.readline, "")), daemon=True
        )
        self.reader.start()

    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(5)


class Graph:
    def __init__(self, node: Node, server: StallingServer, trace_dir: Path) -> None:
        self.node, self.server, self.trace_dir = node, server, trace_dir
        self.client = ThreadSafeActionClient(node, RunTask, f"{NS}/run_task")
        self.agent: Agent | None = None

    def running_agent(self) -> Agent:
        """The module's agent, (re)started when a test ended the previous one."""
        if self.agent is None or self.agent.process.poll() is not None:
            if self.agent is not None:
                self.agent.stop()
            status = f"{NS}/run_task/_action/status"
            stale = {bytes(i.endpoint_gid) for i in self.node.get_publishers_info_by_topic(status)}
            self.agent = Agent(self.server.base_url, self.trace_dir)
            assert self.client.wait_for_server(timeout_sec=60), self.agent.output()[-3000:]
            # the server may still be the previous agent's: wait until the new agent says it is ready
            assert wait_for(lambda: "agent ready" in self.agent.output(), 60), self.agent.output()[-3000:]

            def only_the_new_server() -> bool:  # a killed agent's endpoints linger until their lease ends
                found = self.node.get_publishers_info_by_topic(status)
                return len(found) == 1 and bytes(found[0].endpoint_gid) not in stale

            assert wait_for(only_the_new_server, 60), "the killed agent's action server is still in the graph"
        return self.agent

    def trial(self, trial_id: str) -> tuple:
        db = sqlite3.connect(self.trace_dir / "traces.db")
        try:
            return db.execute(
                "SELECT ended IS NOT NULL, outcome, success, summary, reason FROM trials WHERE id = ?",
                (trial_id,),
            ).fetchone()
        finally:
            db.close()


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Graph]:
    trace_dir = tmp_path_factory.mktemp("traces")
    with (
        StallingServer() as server,
        ros_graph(lambda c: Node(unique("lifecycle_client"), context=c)) as (node,),
    ):
        graph = Graph(node, server, trace_dir)
        try:
            yield graph
        finally:
            server.release.set()
            if graph.agent is not None:
                graph.agent.stop()
                assert "Traceback" not in graph.agent.output(), graph.agent.output()[-5000:]


def test_goals_beyond_the_limits_are_refused_quoting_a_prefix(graph: Graph) -> None:
    agent = graph.running_agent()
    huge = "put the ball " + "x" * 1_000_000
    for goal, expected in [
        (
            RunTask.Goal(instruction=INSTRUCTION, max_substeps=10**9),
            "max_substeps must be 0 (the default) to 200",
        ),
        (RunTask.Goal(instruction=INSTRUCTION, trials=10**6), "trials must be 0 or 1 (one trial) to 20"),
        (RunTask.Goal(instruction=huge), "1000013 characters, more than 4000: 'put the ball xxx"),
        (RunTask.Goal(instruction="  "), "the instruction is empty"),
    ]:
        status, result = goal_outcome(send_goal(graph.client, goal), timeout=10)
        assert status == GoalStatus.STATUS_ABORTED and expected in result.summary, result.summary
        assert result.summary.startswith("invalid goal: ") and len(result.summary) < 300
    assert not graph.server.requests  # nothing reached the VLM
    assert wait_for(lambda: "run_task refused" in agent.output(), 5)
    assert max(len(line) for line in agent.lines) < 500  # the 1 MB instruction is not logged


def test_cancel_while_the_vlm_stalls_is_honoured_and_the_next_goal_runs(graph: Graph) -> None:
    graph.running_agent()
    server = graph.server
    server.stall.set()
    handle = send_goal(graph.client, RunTask.Goal(instruction=INSTRUCTION))
    assert wait_for(server.hanging.is_set, 30), "the plan request never reached the VLM"
    cancelled_at = time.monotonic()
    handle.cancel_goal_async()
    status, result = goal_outcome(handle, timeout=10)
    latency = time.monotonic() - cancelled_at
    print(f"\ncancel during a stalled VLM call: result after {latency:.2f} s")
    assert status == GoalStatus.STATUS_CANCELED and latency < 2.0
    assert "the client cancelled the goal" in result.summary and result.trial_id, result.summary
    assert graph.trial(result.trial_id)[:3] == (1, "cancelled", 0)
    # the next goal is served, not refused as busy (the stalled call is abandoned)
    server.stall.clear()
    server.release.set()  # the abandoned request takes its (default) answer before the next are queued
    assert wait_for(lambda: len(server.requests) == 1, 5)
    server.plan('print("done")')
    server.judge("complete")
    status, result = goal_outcome(send_goal(graph.client, RunTask.Goal(instruction=INSTRUCTION)), timeout=60)
    assert status == GoalStatus.STATUS_SUCCEEDED and result.success, result.summary
    assert graph.trial(result.trial_id)[:3] == (1, "success", 1)


def test_sigterm_mid_substep_ends_the_trial_as_cancelled_and_exits_within_5_s(graph: Graph) -> None:
    agent = graph.running_agent()
    graph.server.plan("import time\ntime.sleep(30)\nprint('slept')")
    feedback: list = []
    handle = send_goal(graph.client, RunTask.Goal(instruction=INSTRUCTION), feedback)
    assert wait_for(lambda: any(f.feedback.phase == "executing" for f in feedback), 30), agent.output()
    time.sleep(0.5)  # inside the substep's code
    result_future = handle.get_result_async()  # asked before the agent goes, as `maestro run` does
    signalled = time.monotonic()
    agent.process.send_signal(signal.SIGTERM)
    assert wait_future(result_future, 10), agent.output()[-3000:]
    status, result = result_future.result().status, result_future.result().result
    code = agent.process.wait(10)
    exited = time.monotonic() - signalled
    print(f"\nSIGTERM mid-substep: result and exit after {exited:.2f} s")
    assert code == 0 and exited < 5.0, agent.output()[-3000:]
    assert status == GoalStatus.STATUS_ABORTED and not result.success
    assert "cancelled after 1 substep(s)" in result.summary and "shutting down" in result.summary
    ended, outcome, success, summary, reason = graph.trial(result.trial_id)
    assert (ended, outcome, success) == (1, "cancelled", 0) and "shutting down" in reason, summary
    assert "Traceback" not in agent.output() and "exiting anyway" not in agent.output()


def test_maestro_run_fails_within_seconds_when_its_agent_is_killed(graph: Graph) -> None:
    agent = graph.running_agent()
    graph.server.hanging.clear()
    graph.server.stall.set()
    graph.server.release.clear()
    command = [sys.executable, "-m", "maestro_agent.cli", "run", INSTRUCTION, "--namespace", NS]
    client = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(graph.server.hanging.is_set, 30), "the goal never reached the VLM"
        time.sleep(0.5)  # the trial's start is committed (the store writes in 0.2 s batches)
        killed = time.monotonic()
        agent.process.kill()
        output, _ = client.communicate(timeout=30)
        noticed = time.monotonic() - killed
    finally:
        if client.poll() is None:
            client.kill()
        graph.server.release.set()
    print(f"\nmaestro run noticed the killed agent after {noticed:.2f} s")
    assert client.returncode == 2 and noticed < 10.0, output
    assert "nothing heard from the agent" in output and "killed or hangs" in output, output
    # the next agent on the same store ends the dead agent's trial as interrupted
    graph.server.stall.clear()
    graph.running_agent()
    db = sqlite3.connect(graph.trace_dir / "traces.db")
    rows = db.execute("SELECT outcome, summary FROM trials WHERE outcome = 'interrupted'").fetchall()
    db.close()
    assert len(rows) == 1 and f"pid {agent.process.pid}" in rows[0][1], rows


def test_vlm_faults_end_the_trial_cleanly_and_the_next_goal_runs(graph: Graph) -> None:
    graph.running_agent()
    server = graph.server
    server.stall.clear()
    server.release.set()
    outcomes = []
    for _ in range(5):  # the first try and every retry: an outage
        server.fail(500, retry_after=0.05)
    outcomes.append(goal_outcome(send_goal(graph.client, RunTask.Goal(instruction=INSTRUCTION)), timeout=90))
    server.reply("I would rather chat.")  # not the plan format, twice (the one correction included)
    server.reply("Still chatting.")
    outcomes.append(goal_outcome(send_goal(graph.client, RunTask.Goal(instruction=INSTRUCTION)), timeout=60))
    server.fail(429, retry_after=0.05)  # rate limited once: retried
    server.plan('print("done")')
    server.judge("complete")
    outcomes.append(goal_outcome(send_goal(graph.client, RunTask.Goal(instruction=INSTRUCTION)), timeout=60))
    kinds = [graph.trial(result.trial_id)[1] for _, result in outcomes]
    assert kinds == ["vlm_error", "unusable_reply", "success"], [r.summary for _, r in outcomes]
    assert [status for status, _ in outcomes] == [
        GoalStatus.STATUS_ABORTED,
        GoalStatus.STATUS_ABORTED,
        GoalStatus.STATUS_SUCCEEDED,
    ]
    assert "500" in outcomes[0][1].summary, outcomes[0][1].summary


def test_ctrl_c_on_maestro_run_cancels_its_goal_and_exits(graph: Graph) -> None:
    """SIGINT reaches `maestro run`'s wait as KeyboardInterrupt: the goal is cancelled, the client says so
    and exits, and the trial ends cancelled. The client starts with SIGINT ignored, as a background job
    of a shell does (in CI it was, and `maestro run` went on)."""
    graph.running_agent()
    server = graph.server
    server.hanging.clear()
    server.release.clear()
    server.stall.set()
    command = [sys.executable, "-m", "maestro_agent.cli", "run", INSTRUCTION, "--namespace", NS]
    client = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        assert wait_for(server.hanging.is_set, 30), "the goal never reached the VLM"
        interrupted = time.monotonic()
        client.send_signal(signal.SIGINT)
        output, _ = client.communicate(timeout=30)
        exited = time.monotonic() - interrupted
    finally:
        if client.poll() is None:
            client.kill()
        server.stall.clear()
        server.release.set()
    print(f"\nCtrl-C on maestro run: exited after {exited:.2f} s")
    assert client.returncode == 1 and exited < 10.0, output
    assert "cancelling ..." in output and "the client cancelled the goal" in output, output
    trial_id = output.rsplit("trial ", 1)[-1].split()[0]
    assert graph.trial(trial_id)[:3] == (1, "cancelled", 0), output
