"""A weight-free, CPU policy: demonstrations warped to the scene through object correspondences
(``warping``), served over the openpi protocol.

``WarpPolicy`` (``PolicyServer``): the prompt picks the nearest demonstration (word overlap), the
observation's ``observation/object_positions`` ({label: xyz in the base frame}) gives the
correspondences (the metadata's ``requires`` asks the vla_bridge for them), and every query re-plans
from where the arm is now (the nearest point of the plan ahead of the last one), answering a chunk of
DROID rows (7 joint velocities + gripper) and ``done`` once the plan's end is reached. A new connection
(a new run_policy goal) starts from the plan's beginning.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from maestro_tools.common.errors import NoDataError
from maestro_tools.vla.mapping import OBJECTS_KEY
from maestro_tools.vla.warping import (
    TIME_WEIGHT,
    Demonstration,
    load_demonstrations,
    match_objects,
    plan,
    prepare,
    segment,
)

MAKE_DEMOS = (
    "make demonstrations with `maestro data collect --sweep RESULTS.json --out DIR` (successful trials of "
    "a sweep, e.g. `maestro eval` with vlm:=scripted), optionally `maestro data amplify DIR --out ...`"
)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def nearest_demonstration(demos: Sequence[Demonstration], prompt: str) -> Demonstration:
    """The demonstration whose instruction shares the most words with ``prompt`` (Jaccard)."""
    if not demos:
        raise NoDataError("the warp policy has no demonstrations")
    asked = _words(prompt)
    return max(
        demos, key=lambda d: len(asked & _words(d.instruction)) / max(1, len(asked | _words(d.instruction)))
    )


def mentioned(seen: Mapping[str, Any], prompt: str, roles: int) -> dict[str, Any]:
    """The seen objects the prompt names ("put the red can into the bowl": the can and the bowl) when they
    are enough to fill the demonstration's ``roles``; else all of them. Another item than the
    demonstrated one then takes its role only when the prompt asks for it."""
    words = _words(prompt)
    named = {label: xyz for label, xyz in seen.items() if _words(str(label)) <= words}
    return named if len(named) >= roles else dict(seen)


def _still(positions: np.ndarray, closed: np.ndarray, tolerance: float = 0.003) -> bool:
    """The rest of the plan neither moves the TCP (m) nor the gripper: nothing is left to do."""
    return bool(np.abs(positions - positions[0]).max() < tolerance and (closed == closed[0]).all())


@dataclass
class WarpPolicy:
    """The openpi-protocol policy (see the module docstring): ``metadata`` and ``infer(observation)``."""

    demos: Sequence[Demonstration]
    kinematics: Any  # ArmKinematics of the robot
    max_velocity: float = 0.8
    control_rate: float = 15.0  # Hz of the rows
    horizon: int = 10  # rows per chunk
    execute_rows: int = 8  # rows the client runs before asking again (the vla_bridge's replan_steps)
    actions: str = "joint_velocity"  # or joint_position
    _state: dict[str, Any] = field(default_factory=dict)

    @property
    def metadata(self) -> Mapping[str, Any]:
        return {
            "policy": "maestro-warp",
            "horizon": self.horizon,
            "control_rate": self.control_rate,
            "actions": self.actions,
            "execute_rows": self.execute_rows,
            "demonstrations": len(self.demos),
            "requires": [OBJECTS_KEY],  # the vla_bridge sends the detector's objects only when asked
        }

    def reset(self) -> None:
        """Forget the plan in progress (the server calls it for each new connection)."""
        self._state.clear()

    def infer(self, observation: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        q = np.asarray(observation["observation/joint_position"], np.float64).reshape(-1)
        grip = float(np.asarray(observation.get("observation/gripper_position", [0.0])).reshape(-1)[0])
        prompt = str(observation.get("prompt", ""))
        seen = observation.get(OBJECTS_KEY)
        if not isinstance(seen, Mapping) or not seen:
            raise NoDataError(
                f"the warp policy needs {OBJECTS_KEY!r} ({{label: xyz}} in the base frame) in "
                f"each observation; got keys {sorted(observation)}"
            )
        state = self._state
        if state.get("prompt") != prompt:  # a new instruction: a new demonstration and plan from the start
            demo, poses = prepare(nearest_demonstration(self.demos, prompt), self.kinematics)
            state.clear()
            state.update(prompt=prompt, demo=demo, poses=poses, cursor=0, frozen={})
        demo, frozen = state["demo"], state["frozen"]
        candidates = mentioned({str(k): np.asarray(v) for k, v in seen.items()}, prompt, len(demo.objects))
        objects = match_objects(demo, candidates)
        warped = plan(demo, self.kinematics, objects, frozen, state["poses"])
        # Where the arm is on the plan: near the time the last chunk's executed rows reached (still
        # stretches, a closing gripper, keep time), else the nearest TCP position ahead (never back).
        tcp = self.kinematics.fk(q)[:3, 3]
        period = 1.0 / self.control_rate
        last = state["cursor"]
        expected = warped.times[last] + (period * self.execute_rows if state.get("sent") else 0.0)
        ahead = np.flatnonzero((warped.times >= warped.times[last]) & (warped.times <= expected + 1.0))
        score = np.linalg.norm(warped.poses[ahead, :3, 3] - tcp, axis=1) + TIME_WEIGHT * np.abs(
            warped.times[ahead] - expected
        )
        cursor = int(ahead[int(np.argmin(score))])
        for seg in segment(demo, warped.poses[:, :3, 3]):  # anchors already reached no longer move
            if seg.anchor and seg.end <= cursor and seg.anchor not in frozen:
                frozen[seg.anchor] = objects[seg.anchor] - demo.objects[seg.anchor]
        state["cursor"], state["sent"] = cursor, True
        # Resample the plan ahead at the control rate and solve only those rows.
        t = warped.times[cursor] + period * np.arange(1, self.horizon + 1)
        index = np.minimum(np.searchsorted(warped.times, t), len(warped.times) - 1)
        rows = np.empty((self.horizon, len(q) + 1))
        previous = q
        for r, k in enumerate(index):
            target = self.kinematics.solve(warped.poses[k], previous, iterations=80).q
            rows[r, :-1] = (target - previous) / period if self.actions == "joint_velocity" else target
            rows[r, -1] = 1.0 if warped.closed[k] else 0.0
            previous = target
        if self.actions == "joint_velocity":
            rows[:, :-1] = np.clip(rows[:, :-1], -self.max_velocity, self.max_velocity)
        done = cursor >= len(warped.times) - 2 or _still(warped.poses[cursor:, :3, 3], warped.closed[cursor:])
        return {
            "actions": rows.astype(np.float32),
            "done": done,
            "cursor": cursor,
            "gripper_in": grip,
            "server_timing": {"plan_ms": (time.monotonic() - started) * 1000.0},
        }


def main(argv: Sequence[str] | None = None) -> int:
    """``warp_policy_server``: serve the warp policy on 127.0.0.1 (openpi protocol)."""
    from maestro_tools.motion.kinematics import ArmKinematics
    from maestro_tools.robots import get_robot
    from maestro_tools.robots.model import RobotModel
    from maestro_tools.vla.server import PolicyServer

    argv = list(sys.argv[1:] if argv is None else argv)
    if "--ros-args" in argv:  # started by a bringup as if it were a node
        argv = argv[: argv.index("--ros-args")]
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("demos", type=Path, help="a demonstration (.npz) or a folder of them")
    parser.add_argument("--robot", default="franka")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--horizon", type=int, default=10)
    parser.add_argument("--actions", default="joint_velocity", choices=("joint_velocity", "joint_position"))
    args = parser.parse_args(argv)
    demos = args.demos.expanduser()
    if not demos.exists() or (demos.is_dir() and not any(demos.glob("*.npz"))):
        print(f"warp_policy_server: no demonstrations (*.npz) at {demos}; {MAKE_DEMOS}", file=sys.stderr)
        return 2
    profile = get_robot(args.robot)
    assert profile.arm is not None
    policy = WarpPolicy(
        load_demonstrations(demos),
        ArmKinematics(RobotModel(profile)),
        profile.arm.max_joint_velocity,
        horizon=args.horizon,
        actions=args.actions,
    )
    server = PolicyServer(policy, args.host, args.port)
    print(f"warp policy ({len(policy.demos)} demonstrations) at {server.start().url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
