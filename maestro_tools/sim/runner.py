"""The physics thread: owns the SimWorld, steps it in lock-step with the published clock, runs jobs.

Everything that touches MuJoCo (stepping, resets, rendering, scoring) happens in this one thread.
Other threads (ROS executor callbacks) submit work with ``call()`` and wait on the returned
future, so the executor is never blocked by rendering and MuJoCo is never used concurrently.
Plain Python: the node wires its publishers in through the ``Outputs`` callbacks.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from maestro_tools.common.errors import (
    ErrorCode,
    MaestroError,
    OutOfLimitsError,
    PreemptedError,
    StalledError,
)
from maestro_tools.sim.cameras import Frame
from maestro_tools.sim.control import GripperState, Trajectory
from maestro_tools.sim.world import SimWorld

if TYPE_CHECKING:  # the mobile robot's world has the same members
    from maestro_tools.sim.mobile.world import MobileWorld

T = TypeVar("T")
STILL_SPEED = 0.01  # rad/s (m/s for fingers): slower on every robot joint, the robot holds still


@dataclass
class Outputs:
    """Where the physics thread sends what it produces (the node's publishers)."""

    clock: Callable[[float], None] = lambda t: None
    joint_state: Callable[[float, list[str], np.ndarray, np.ndarray, np.ndarray], None] = lambda *a: None
    frame: Callable[[str, Frame, np.ndarray, np.ndarray], None] = lambda *a: None  # camera, frame, K, pose
    wants_camera: Callable[[str], bool] = lambda camera: False
    alive: Callable[[], bool] = lambda: True  # False once the node's context is shut down
    crashed: Callable[[BaseException], None] = lambda error: None  # the physics thread died


@dataclass
class Job:
    """A running trajectory or gripper command; ``done`` fires with an error code and message."""

    kind: str
    done: threading.Event = field(default_factory=threading.Event)
    code: ErrorCode = ErrorCode.OK
    message: str = ""
    progress: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def finish(self, code: ErrorCode, message: str, **details: Any) -> None:
        self.code, self.message = code, message
        self.details.update(details)
        self.done.set()


@dataclass(frozen=True)
class RunnerConfig:
    real_time_factor: float = 1.0  # 0 = as fast as possible
    steps_per_tick: int = 5  # physics steps per loop iteration (jobs are updated, outputs checked)
    clock_rate: float = 10.0  # /clock, Hz (sim time): it serves timestamps and sim-time timers only
    joint_state_rate: float = 100.0  # while the robot moves, a camera is watched or a command just ran
    joint_state_idle_rate: float = 10.0  # otherwise: every node that listens wakes for each message
    idle_after: float = 1.0  # s (sim time) of all of that stopping before the idle rate
    idle_period: float = 0.05  # s (wall) between the physics thread's wakes while idle (a command wakes it)
    camera_rate: float = 10.0
    cameras: tuple[str, ...] = ("scene", "wrist")
    goal_tolerance: float = 0.02  # rad
    settle_timeout: float = 1.5  # s after the trajectory's end to reach the tolerance


class PhysicsRunner:
    def __init__(
        self,
        world: SimWorld | MobileWorld,
        config: RunnerConfig,
        outputs: Outputs,
        moving: Callable[[], bool] = lambda: False,
    ) -> None:
        """``world``: a SimWorld or an object with the same members (``sim.mobile.world.MobileWorld``).
        ``moving``: motion besides the arm's and fingers' that keeps the full rate (a base driving)."""
        self.world, self.config, self.outputs, self.moving = world, config, outputs, moving
        self._commands: queue.Queue[tuple[Callable[[], Any], Future[Any]]] = queue.Queue()
        self._stop = threading.Event()
        self._wake = threading.Event()  # a command or stop(): ends an idle wait
        self._thread = threading.Thread(target=self._run, name="physics", daemon=True)
        self.trajectory_job: Job | None = None
        self._trajectory_tolerance = config.goal_tolerance
        self.gripper_job: Job | None = None
        self._gripper: GripperState | None = None
        self._last_joint_state = -np.inf
        self._next_clock = 0.0
        self._next_frame = 0.0
        self._active_until = 0.0  # sim time until which joint states go out at the full rate
        self.error: BaseException | None = None

    # -- thread control --------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)

    def call(self, function: Callable[[], T], timeout: float = 30.0) -> T:
        """Run ``function`` in the physics thread and return its result (or raise its error)."""
        return self.submit(function).result(timeout=timeout)

    def submit(self, function: Callable[[], T]) -> Future[T]:
        """Queue ``function`` for the physics thread without waiting (a subscription callback must not
        block); the future holds its result or error."""
        if not self._thread.is_alive():
            raise MaestroError("the physics thread is not running")
        future: Future[T] = Future()
        self._commands.put((function, future))
        self._wake.set()
        return future

    def _run(self) -> None:
        rtf = self.config.real_time_factor
        wall_start, sim_start = time.monotonic(), self.world.time
        try:
            while not self._stop.is_set():
                self._drain_commands()
                if rtf > 0 and not self._active(self.world.time):
                    wall_start, sim_start = self._idle(wall_start, sim_start)
                    continue
                now = self._tick(self.config.steps_per_tick)
                if rtf > 0:
                    ahead = (now - sim_start) / rtf - (time.monotonic() - wall_start)
                    if ahead > 0:
                        self._stop.wait(ahead)
                    elif ahead < -0.05:  # fell behind (rendering, load): run on, do not burst to catch up
                        wall_start, sim_start = time.monotonic(), now
        except BaseException as exc:
            if self.outputs.alive():
                self.error = exc
                self.outputs.crashed(exc)
                raise
            # The process is shutting down (SIGINT/SIGTERM) and publishing failed: end quietly.
        finally:
            self.world.close()
            for job in (self.trajectory_job, self.gripper_job):
                if job is not None and not job.done.is_set():
                    job.finish(ErrorCode.CANCELED, "the simulation stopped")

    def _tick(self, steps: int) -> float:
        """Step, then /clock, jobs and the other outputs that are due; the new sim time."""
        self.world.step(steps)
        now = self.world.time
        if now >= self._next_clock:
            self._next_clock = now + 1.0 / self.config.clock_rate - 1e-9
            self.outputs.clock(now)
        self._update_jobs(now)
        self._publish(now)
        return now

    def _idle(self, wall_start: float, sim_start: float) -> tuple[float, float]:
        """Nothing moves: sleep up to ``idle_period`` (a command or stop() wakes it), then step the whole
        ticks that real time has passed, in one go. Waking 20 rather than 100 times a second saves a
        third of the idle loop's CPU. Stepping after the wait keeps the sim behind real time, never
        ahead, and a command runs at once (then the sim catches up). Returns the pacing reference."""
        rtf, period = self.config.real_time_factor, self.config.idle_period
        tick = self.config.steps_per_tick * float(self.world.model.opt.timestep)

        def lag() -> float:  # sim seconds the sim is behind its real-time schedule
            return (time.monotonic() - wall_start) * rtf - (self.world.time - sim_start)

        self._wake.clear()
        wait = period - lag() / rtf
        if wait > 0 and self._commands.empty():
            self._wake.wait(wait)
        if not self._commands.empty():  # run it first: the idle sim is at most ``period`` behind
            return wall_start, sim_start
        behind = lag()
        ticks = min(int(behind / tick + 1e-6), max(1, round(period * rtf / tick)))
        if ticks > 0:
            self._tick(ticks * self.config.steps_per_tick)
        if behind - ticks * tick > 0.05:  # fell behind (load): run on, do not burst to catch up
            return time.monotonic(), self.world.time
        return wall_start, sim_start

    def _drain_commands(self) -> None:
        while True:
            try:
                function, future = self._commands.get_nowait()
            except queue.Empty:
                return
            self._active_until = self.world.time + self.config.idle_after  # resets, goals: state changes
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(function())
                except BaseException as exc:
                    future.set_exception(exc)

    # -- publishing ------------------------------------------------------------------------------
    def _active(self, now: float) -> bool:
        """Whether joint states go out at the full rate: a job runs or the robot moves, or either (or a
        command, or a watched camera) did so within ``idle_after`` s."""
        busy = any(j is not None and not j.done.is_set() for j in (self.trajectory_job, self.gripper_job))
        qvel, world = self.world.data.qvel, self.world  # indices change with the scene (resets)
        speed = max(np.abs(qvel[world.arm_dof]).max(), np.abs(qvel[world.finger_dof]).max())
        if busy or speed > STILL_SPEED or self.moving():
            self._active_until = now + self.config.idle_after
        return now < self._active_until

    def _publish(self, now: float) -> None:
        wanted: list[str] = []
        if self.config.camera_rate > 0 and now >= self._next_frame:
            # Asked every tick until a camera is watched (1 us each): its first frame comes at once.
            wanted = [c for c in self.config.cameras if self.outputs.wants_camera(c)]
            if wanted:  # a consumer pairs frames with joint states of their instant (motion's cloud)
                self._next_frame = now + 1.0 / self.config.camera_rate
                self._active_until = now + self.config.idle_after
        active = self._active(now)
        rate = self.config.joint_state_rate if active else self.config.joint_state_idle_rate
        if now >= self._last_joint_state + 1.0 / rate - 1e-9:
            self._last_joint_state = now
            self.outputs.joint_state(now, *self.world.joint_state())
        if wanted:
            cameras = self.world.render_cameras()
            for camera in wanted:
                frame = cameras.frame(self.world.data, camera)
                self.outputs.frame(
                    camera, frame, cameras.intrinsics(camera), cameras.pose(self.world.data, camera)
                )

    # -- jobs (run in the physics thread through call()) -----------------------------------------
    def preempt(self, reason: str) -> None:
        for job in (self.trajectory_job, self.gripper_job):
            if job is not None and not job.done.is_set():
                job.finish(ErrorCode.PREEMPTED, reason)
        self.trajectory_job = self.gripper_job = None
        self._gripper = None

    def start_trajectory(self, trajectory: Trajectory, tolerance: float) -> Job:
        if self.trajectory_job is not None and not self.trajectory_job.done.is_set():
            self.trajectory_job.finish(PreemptedError.code, "preempted by a newer trajectory goal")
        job = Job("trajectory")
        self.world.start_trajectory(trajectory)
        self.trajectory_job, self._trajectory_tolerance = job, tolerance or self.config.goal_tolerance
        return job

    def cancel_trajectory(self, job: Job) -> None:
        if self.trajectory_job is job:
            self.world.hold()
            self.trajectory_job = None
        if not job.done.is_set():
            job.finish(ErrorCode.CANCELED, "trajectory canceled; the arm holds its position")

    def start_gripper(self, width: float) -> Job:
        limit = self.world.gripper.max_width
        if not 0.0 <= width <= limit:
            raise OutOfLimitsError(f"gripper width {width:.4f} m is outside [0, {limit}] m")
        if self.gripper_job is not None and not self.gripper_job.done.is_set():
            self.gripper_job.finish(PreemptedError.code, "preempted by a newer gripper goal")
        self.world.set_gripper(width)
        self.gripper_job = Job("gripper")
        self._gripper = GripperState(width, self.world.time)
        return self.gripper_job

    def _update_jobs(self, now: float) -> None:
        job, trajectory = self.trajectory_job, self.world.trajectory
        if job is not None and trajectory is not None:
            elapsed = now - trajectory.start_time
            job.progress = min(1.0, elapsed / trajectory.duration)
            actual = self.world.arm_positions()[trajectory.indices]
            error = np.abs(actual - trajectory.positions[-1])
            job.details.update(desired=trajectory.target(now), actual=actual, elapsed=elapsed)
            if elapsed >= trajectory.duration and error.max() <= self._trajectory_tolerance:
                job.finish(ErrorCode.OK, "trajectory complete", final=actual, max_error=float(error.max()))
                self.trajectory_job = None
            elif elapsed >= trajectory.duration + self.config.settle_timeout:
                worst = int(np.argmax(error))
                name = self.world.limits.names[trajectory.indices[worst]]
                self.world.hold()
                job.finish(
                    StalledError.code,
                    f"the arm stalled: {name} is {error[worst]:.3f} rad from its goal "
                    f"{self.config.settle_timeout:.1f} s after the trajectory ended (blocked by contact?)",
                    final=actual,
                    max_error=float(error.max()),
                )
                self.trajectory_job = None
        gripper, state = self.gripper_job, self._gripper
        if gripper is not None and state is not None:
            width = self.world.gripper_width()
            gripper.details["width"] = width
            if state.update(now, width):
                held = [label for label in self.world.info.objects if self.world.grasped(label)]
                gripper.finish(ErrorCode.OK, f"gripper at {width:.4f} m", width=width, held=held)
                self.gripper_job, self._gripper = None, None
