"""The body posture as a trajectory controller: the virtual joints ``body_height`` (m from the stand, - =
lower) and ``body_pitch`` (rad, + = nose down) follow a validated trajectory (the arm's ``Trajectory``,
interpolated in sim time) through ``WheeledRobotSim.set_body_posture`` (rate-limited leg IK); its job
finishes when the measured posture is within tolerance of the last point, or stalls ``SETTLE_TIMEOUT``
after the trajectory's end. Plain Python, run by the physics thread (``MobileWorld.step``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from maestro_tools.common.errors import ErrorCode, InvalidArgumentError, PreemptedError, StalledError
from maestro_tools.robots.body_posture import HEIGHT_JOINT, PITCH_JOINT, BodyPosture
from maestro_tools.sim.control import JointLimits, Trajectory, validate_trajectory
from maestro_tools.sim.mobile.robot import WheeledRobotSim
from maestro_tools.sim.runner import Job

BODY_JOINTS = (HEIGHT_JOINT, PITCH_JOINT)
TOLERANCE = np.array([0.01, 0.02])  # m, rad: the body's default goal tolerance
SETTLE_TIMEOUT = 1.5  # s after the trajectory's end to reach the tolerance


class BodyMotion:
    """Follows body posture trajectories on one robot; ``update`` runs every control period."""

    def __init__(self, robot: WheeledRobotSim) -> None:
        self.robot, base = robot, robot.base
        self.limits = JointLimits(
            BODY_JOINTS, np.array([base.min_height_offset, -base.max_pitch]), np.array([0.0, base.max_pitch])
        )
        self.trajectory: Trajectory | None = None
        self.job: Job | None = None
        self._tolerance = TOLERANCE

    @property
    def joints(self) -> tuple[str, ...]:
        """The virtual joints it serves; () for a robot whose body does not move."""
        return BODY_JOINTS if self.robot.legs is not None else ()

    def positions(self) -> np.ndarray:
        """The measured posture: height (m), pitch (rad)."""
        posture = self.robot.body_posture()
        return np.array([posture.height, posture.pitch])

    def validate(
        self, names: Sequence[str], times: Sequence[float], points: Sequence[Sequence[float]]
    ) -> Trajectory:
        """A Trajectory, or an error naming the valid ranges (in m and rad) and joints."""
        if not self.joints:
            raise InvalidArgumentError(f"the {self.robot.profile.name}'s body does not lower or pitch")
        goal = self.robot.body_goal
        for point in points:  # each point within the ranges and the legs' reach
            values = dict(zip(names, point, strict=False))
            posture = BodyPosture(
                float(values.get(HEIGHT_JOINT, goal.height)), float(values.get(PITCH_JOINT, goal.pitch))
            )
            assert self.robot.legs is not None
            self.robot.legs.solve(posture.check(self.robot.base))
        return validate_trajectory(self.limits, names, times, points)

    def start(self, trajectory: Trajectory, tolerances: dict[str, float], now: float) -> Job:
        """Begin ``trajectory`` at ``now`` from the current set-point goal, preempting a running one;
        ``tolerances``: by joint name ("": every joint), the defaults where none is given."""
        self.finish_running(PreemptedError.code, "preempted by a newer body goal")
        goal = self.robot.body_goal
        trajectory.start = np.array([goal.height, goal.pitch])[trajectory.indices]
        trajectory.start_time = now
        self.trajectory, self.job = trajectory, Job("body")
        every = tolerances.get("", 0.0)
        self._tolerance = np.array(
            [
                tolerances.get(name, every) or default
                for name, default in zip(BODY_JOINTS, TOLERANCE, strict=True)
            ]
        )
        return self.job

    def cancel(self, job: Job) -> None:
        """Stop where the body is now."""
        if self.job is job:
            self.robot.set_body_posture(self.robot.body_setpoint)
            self.trajectory, self.job = None, None
        if not job.done.is_set():
            job.finish(ErrorCode.CANCELED, "body goal canceled; the body holds its posture")

    def finish_running(self, code: ErrorCode, message: str) -> None:
        if self.job is not None and not self.job.done.is_set():
            self.job.finish(code, message)
        self.trajectory, self.job = None, None

    def moving(self) -> bool:
        return self.job is not None or not self.robot.body_settled()

    def update(self, now: float) -> None:
        trajectory, job = self.trajectory, self.job
        if trajectory is None or job is None:
            return
        target = np.array([self.robot.body_goal.height, self.robot.body_goal.pitch])
        target[trajectory.indices] = trajectory.target(now)
        self.robot.set_body_posture(BodyPosture(float(target[0]), float(target[1])))
        elapsed = now - trajectory.start_time
        actual = self.positions()[trajectory.indices]
        error = np.abs(actual - trajectory.positions[-1])
        job.progress = min(1.0, elapsed / trajectory.duration)
        job.details.update(desired=trajectory.target(now), actual=actual, elapsed=elapsed)
        if elapsed >= trajectory.duration and np.all(error <= self._tolerance[trajectory.indices]):
            job.finish(ErrorCode.OK, "body posture reached", final=actual, max_error=float(error.max()))
            self.trajectory, self.job = None, None
        elif elapsed >= trajectory.duration + SETTLE_TIMEOUT:
            worst = int(np.argmax(error / self._tolerance[trajectory.indices]))
            job.finish(
                StalledError.code,
                f"the body stalled: {BODY_JOINTS[trajectory.indices[worst]]} is {error[worst]:.3f} from its "
                f"goal {SETTLE_TIMEOUT:.1f} s after the trajectory ended",
                final=actual,
            )
            self.trajectory, self.job = None, None
