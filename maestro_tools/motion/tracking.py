"""Watching a trajectory as the robot executes it: where along the motion it is, and whether it stalls.

A joint lagging its desired position by more than ``tolerance`` for ``stall_time`` seconds of trajectory
time counts as stalled (the arm is pushing against something); the node then stops the motion. A contact
motion (``contact_limit`` set) also stops when the TCP lags its desired position by more than that many
metres for CONTACT_TIME seconds: a surface higher than seen holds it back (the lag is the depth proxy; no
force is measured).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

CONTACT_TIME = 0.3  # s of trajectory time the TCP must stay held back before a contact motion stops


@dataclass(frozen=True)
class TrackingState:
    waypoint: int  # index of the target being approached
    tcp: np.ndarray  # 4x4 TCP pose of the actual positions
    distance_remaining: float  # metres from the TCP to the last target


class TrackingWatch:
    def __init__(
        self,
        joint_names: Sequence[str],
        times: np.ndarray,
        segment_ends: Sequence[int],
        end: np.ndarray,
        fk: Callable[[np.ndarray], np.ndarray],
        tolerance: float,
        stall_time: float,
        contact_limit: float | None = None,
    ) -> None:
        self.joint_names, self.times, self.segment_ends = (
            tuple(joint_names),
            np.asarray(times),
            list(segment_ends),
        )
        self.end, self.fk = np.asarray(end), fk
        self.tolerance, self.stall_time = tolerance, stall_time
        self.lagging_since: float | None = None
        self.stalled = ""  # why, once stalled
        self.contact_limit = contact_limit
        self.pressed = ""  # why, once a contact motion pressed deeper than its limit
        self.behind_since: float | None = None

    def update(self, time_from_start: float, desired: np.ndarray, actual: np.ndarray) -> TrackingState:
        tcp = self.fk(actual)
        point = min(int(np.searchsorted(self.times, time_from_start)), len(self.times) - 1)
        segment = int(np.searchsorted(self.segment_ends, point, side="right"))
        lag = np.abs(np.asarray(desired) - actual) if len(desired) == len(actual) else np.zeros(len(actual))
        if self.contact_limit is not None and len(desired) == len(actual) and not self.pressed:
            behind = float(np.linalg.norm(self.fk(np.asarray(desired))[:3, 3] - tcp[:3, 3]))
            if behind <= self.contact_limit:
                self.behind_since = None
            elif self.behind_since is None:
                self.behind_since = time_from_start  # a corner's brief tracking lag is no contact
            elif time_from_start - self.behind_since >= CONTACT_TIME:
                where = np.round(tcp[:3, 3], 3).tolist()
                self.pressed = (
                    f"contact deeper than allowed: the gripper is held {behind * 100:.1f} cm behind its path "
                    f"at {where} (limit {self.contact_limit * 100:.1f} cm: max_depth + 1 cm); the motion was "
                    "stopped and the arm holds; the surface is higher than seen: move back and aim higher"
                )
        if lag.max() <= self.tolerance:
            self.lagging_since = None
        elif self.lagging_since is None:
            self.lagging_since = time_from_start
        elif time_from_start - self.lagging_since >= self.stall_time and not self.stalled:
            worst = int(np.argmax(lag))
            where = np.round(tcp[:3, 3], 3).tolist()
            self.stalled = (
                f"the arm stalled: {self.joint_names[worst]} lags its trajectory by {lag[worst]:.2f} rad for "
                f"{self.stall_time:.1f} s with the gripper at {where} (blocked by contact?); the motion was "
                "stopped and the arm holds"
            )
        return TrackingState(
            waypoint=min(segment, len(self.segment_ends) - 1),
            tcp=tcp,
            distance_remaining=float(np.linalg.norm(self.end - tcp[:3, 3])),
        )
