"""The one thread that owns the LIBERO environment: it creates it, steps it at 20 Hz (real time times
``real_time_factor``), renders it, runs the arm and gripper jobs and every request (``call``). No ROS.

Arm: a joint trajectory is tracked through LIBERO's operational-space controller (its benchmark action
space): each step the trajectory's joints at that instant go through LIBERO's own kinematics to a TCP
pose, and the step's delta action drives the TCP there (FINDINGS: a clipped-delta loop settles a 20 cm
move to 0.4 mm), while the trajectory's joints are the posture the controller holds in its null space
(else the redundant joint drifts: 0.11 rad on a 0.15 rad move). The trajectory's clock slows while the TCP
falls behind its pose (from SLOW_LAG, to MIN_RATE at STOP_LAG): the OSC moves the TCP at about 0.35 m/s,
and a plan at 0.65 m/s left it 30 cm behind, off the collision-checked path, its joints 0.6 rad off their
posture, and a bowl held by its rim shaken out of the fingers. A TCP held back more than BLOCKED_LAG for
BLOCKED_TIME is blocked (by contact): the job fails and the arm holds. The joints are no stall signal
here: the OSC's null space lets them drift 0.45 rad off the plan with the TCP on it. The goal is reached
when the TCP is within ``tolerance`` of the last point's pose and the joints within JOINT_TOLERANCE (or
the TCP alone, after SETTLE_TIME). A reset restores LIBERO's own null-space posture (the benchmark's
controller).
Gripper: LIBERO's gripper action is a direction (-1 open, +1 close); a goal opens or closes until the
opening reaches the target or the fingers stop (on an object: stalled, still squeezing).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from maestro_tools.robots.libero import LIBERO
from maestro_tools.sim.libero.world import CONTROL_DT, LiberoWorld, delta_action, rotation_error

T = TypeVar("T")
GRIPPER_REACHED = 0.001  # m of opening
SETTLE_TIME = 2.0  # s (sim) after a trajectory's end for the TCP to settle before it counts as failed
# rad: the TCP reached, a goal waits (up to SETTLE_TIME) for the joints to come this close in the null space
# (the profile's, which the agent's check of a joint goal uses too)
JOINT_TOLERANCE = LIBERO.arm.joint_tolerance
SLOW_LAG, STOP_LAG = 0.02, 0.06  # m the TCP lags its trajectory's pose: the clock slows from one to the other
MIN_RATE = 0.2  # the slowest clock (a blocked arm still lags more and more, and its stall is seen)
ROTATION_LEVER = 0.1  # m per rad: an orientation lag counts as a point this far from the TCP moves
# m and s (sim): a TCP this far behind for this long is blocked and the job fails (a slowed clock keeps it
# within 5.2 cm on free moves)
BLOCKED_LAG, BLOCKED_TIME = 0.1, 1.0


@dataclass
class Job:
    """An arm or gripper motion; ``done`` is set with ``ok`` and ``message`` when it ends."""

    kind: str
    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def finish(self, ok: bool, message: str) -> None:
        self.ok, self.message = ok, message
        self.done.set()


@dataclass
class ArmJob(Job):
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))  # s from start, increasing
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 7)))  # arm joints per time
    tolerance: float = 0.003  # m of TCP position; rad of orientation is 10x this
    elapsed: float = 0.0  # trajectory time
    behind: float = 0.0  # m the TCP lagged its trajectory's pose at the last step
    held_back: float = 0.0  # s (sim) the TCP has been at least BLOCKED_LAG behind
    blocked: bool = False  # ended because the TCP was held back (a path, not a goal, violation)

    def rate(self) -> float:
        """How fast the trajectory's clock runs this step (1 = real time)."""
        return float(np.clip((STOP_LAG - self.behind) / (STOP_LAG - SLOW_LAG), MIN_RATE, 1.0))

    def desired(self) -> np.ndarray:
        return np.array([np.interp(self.elapsed, self.times, self.points[:, j]) for j in range(7)])


@dataclass
class GripperJob(Job):
    target: float = 0.0  # m of opening
    steps: int = 0
    last_width: float = -1.0
    still: int = 0


@dataclass
class Outputs:
    """Callbacks of the node, called from the sim thread after each step."""

    step: Callable[[LiberoWorld], None]  # joint states, TF, clock
    frame: Callable[[LiberoWorld, str], None]  # render and publish one camera
    watched: Callable[[str], bool]  # is anyone subscribed to this camera
    crashed: Callable[[BaseException], None]


class SimThread:
    def __init__(
        self,
        make_world: Callable[[], LiberoWorld],
        outputs: Outputs,
        real_time_factor: float = 1.0,
        camera_rate: float = 5.0,
    ) -> None:
        self.make_world, self.out = make_world, outputs
        self.rtf, self.camera_rate = real_time_factor, camera_rate
        self.world: LiberoWorld | None = None
        self.arm: ArmJob | None = None
        self.gripper: GripperJob | None = None
        self.hold: np.ndarray | None = None  # TCP pose the arm holds between jobs
        self._calls: queue.Queue[tuple[Callable[[], Any], Future]] = queue.Queue()
        self._stop = threading.Event()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._last_frame: dict[str, float] = {}
        self.steps, self.step_seconds, self.render_seconds, self.renders = 0, 0.0, 0.0, 0
        self._thread = threading.Thread(target=self._run, name="libero", daemon=True)

    def start(self, timeout: float = 900.0) -> None:
        self._thread.start()
        if not self.ready.wait(timeout) or self.error is not None:
            raise RuntimeError(f"LIBERO did not start: {self.error!r}")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10.0)

    def call(self, function: Callable[[], T], timeout: float = 120.0) -> T:
        """Run ``function`` in the sim thread between steps; its exception is raised here."""
        future: Future = Future()
        self._calls.put((function, future))
        return future.result(timeout)

    # -- jobs (sim thread) -------------------------------------------------------------------------
    def preempt(self, reason: str) -> None:
        for job in (self.arm, self.gripper):
            if job is not None and not job.done.is_set():
                job.finish(False, f"preempted: {reason}")
        self.arm = self.gripper = None
        self.hold = None

    def start_arm(self, times: np.ndarray, points: np.ndarray, tolerance: float) -> ArmJob:
        world = self._world
        current = world.joints()[0]
        if times[0] > 0:  # FollowJointTrajectory: start from where the arm is
            times, points = np.concatenate([[0.0], times]), np.vstack([current, points])
        if self.arm is not None and not self.arm.done.is_set():
            self.arm.finish(False, "preempted by a newer trajectory")
        self.arm = ArmJob("arm", times=times, points=points, tolerance=tolerance)
        return self.arm

    def cancel_arm(self, job: ArmJob) -> None:
        if self.arm is job:
            self.arm, self.hold = None, self._world.tcp_pose()
        job.finish(False, "canceled")

    def start_gripper(self, width: float) -> GripperJob:
        world = self._world
        if self.gripper is not None and not self.gripper.done.is_set():
            self.gripper.finish(False, "preempted by a newer gripper goal")
        world.gripper_command = -1.0 if width > world.gripper_width() else 1.0
        self.gripper = GripperJob("gripper", target=width)
        return self.gripper

    @property
    def _world(self) -> LiberoWorld:
        if self.world is None:
            raise RuntimeError("LIBERO is not running")
        return self.world

    def _arm_action(self, world: LiberoWorld) -> np.ndarray:
        job = self.arm
        if job is None:
            if self.hold is None:
                self.hold = world.tcp_pose()
            return delta_action(self.hold, world.tcp_pose())
        # the trajectory's clock waits for a lagging TCP; the settling after its end runs in real time
        job.elapsed += CONTROL_DT * (job.rate() if job.elapsed < job.times[-1] else 1.0)
        world.set_posture(job.desired())
        target = world.fk_tcp(job.desired())
        tcp = world.tcp_pose()
        position = float(np.linalg.norm(target[:3, 3] - tcp[:3, 3]))
        angle = float(np.linalg.norm(rotation_error(target[:3, :3], tcp[:3, :3])))
        job.behind = max(position, ROTATION_LEVER * angle)
        job.held_back = job.held_back + CONTROL_DT if job.behind >= BLOCKED_LAG else 0.0
        job.details = {"desired": job.desired(), "actual": world.joints()[0], "elapsed": job.elapsed}
        if job.held_back >= BLOCKED_TIME:
            self.arm, self.hold, job.blocked = None, tcp, True
            where = np.round(tcp[:3, 3], 3).tolist()
            job.finish(
                False,
                f"blocked: the TCP was held {position * 100:.1f} cm, {np.degrees(angle):.0f} deg behind its "
                f"trajectory for {BLOCKED_TIME:.1f} s at {where} (world frame; contact?); the arm holds",
            )
        elif job.elapsed >= job.times[-1]:
            joints = float(np.max(np.abs(job.desired() - world.joints()[0])))
            off = f"TCP {position * 1000:.1f} mm, {np.degrees(angle):.2f} deg, joints {joints:.3f} rad off"
            reached = position <= job.tolerance and angle <= 10 * job.tolerance
            settled = job.elapsed >= job.times[-1] + SETTLE_TIME
            if reached and (joints <= JOINT_TOLERANCE or settled):
                self.arm, self.hold = None, target
                job.finish(True, f"reached: {off}")
            elif settled:
                self.arm, self.hold = None, tcp
                job.finish(False, f"stopped short: {off}")
        return delta_action(target, tcp)

    def _watch_gripper(self, world: LiberoWorld) -> None:
        job = self.gripper
        if job is None:
            return
        width = world.gripper_width()
        job.steps += 1
        job.still = job.still + 1 if abs(width - job.last_width) < 2e-4 else 0
        job.last_width = width
        job.details = {"width": width}
        if abs(width - job.target) <= GRIPPER_REACHED:
            job.finish(True, "reached")
            self.gripper = None
        elif job.steps >= 3 and job.still >= 3:
            job.finish(True, "stalled")  # stopped short: on an object (squeezing) or at its limit
            self.gripper = None

    # -- the loop ----------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self.world = self.make_world()
            self.ready.set()
            start_wall, start_sim = time.monotonic(), self.world.time
            while not self._stop.is_set():
                self._serve_calls()
                world = self._world
                began = time.monotonic()
                world.step(self._arm_action(world))
                self.steps, self.step_seconds = self.steps + 1, self.step_seconds + time.monotonic() - began
                self._watch_gripper(world)
                self.out.step(world)
                self._cameras(world)
                if self.rtf > 0:
                    ahead = (world.time - start_sim) / self.rtf - (time.monotonic() - start_wall)
                    if ahead > 0:
                        self._stop.wait(ahead)
                    elif ahead < -1.0:  # far behind (a slow machine): do not try to catch up
                        start_wall, start_sim = time.monotonic(), world.time
        except BaseException as exc:  # a dead sim thread leaves nothing to serve
            self.error = exc
            self.ready.set()
            self.out.crashed(exc)
        finally:
            self.preempt("LIBERO stopped")
            if self.world is not None:
                self.world.close()

    def _serve_calls(self) -> None:
        while True:
            try:
                function, future = self._calls.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(function())
                except Exception as exc:
                    future.set_exception(exc)

    def _cameras(self, world: LiberoWorld) -> None:
        if self.camera_rate <= 0:
            return
        for camera in ("scene", "wrist"):
            due = self._last_frame.get(camera, -1e9) + 1.0 / self.camera_rate
            if world.time >= due and self.out.watched(camera):
                began = time.monotonic()
                self.out.frame(world, camera)
                self.renders, self.render_seconds = (
                    self.renders + 1,
                    self.render_seconds + time.monotonic() - began,
                )
                self._last_frame[camera] = world.time
