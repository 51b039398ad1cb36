"""Where the hand goes to look (part of the grasping tool): above a planned grasp before re-planning from
the hand camera, and down at a spot no other camera sees (a floor toy the semantic map remembers, or an
object the caller last saw there)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from transforms3d.euler import mat2euler

from maestro_agent.proxy.harness import Harness
from maestro_agent.proxy.perception import Perception
from maestro_agent.proxy.robot import Robot
from maestro_agent.proxy.types import GraspCandidate
from maestro_tools.common.errors import CollisionError, StalledError, UnreachableError
from maestro_tools.grasping.tilted import tilted_grasps

ABOVE = 0.12  # m back along the approach where pick() looks again with the hand camera
LOOK_BACKS = (0.25, 0.18)  # m back along a grasp's approach from which the hand camera looks for it


class HandViews:
    """Moves of the hand camera for the grasping tool (which provides these attributes)."""

    _harness: Harness
    _robot: Robot
    _perception: Perception

    def _remembered_low(self, label: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The semantic map's box of ``label`` (base frame) within the arm's reach and below the base frame
        (a floor toy: under the detection camera's view and the look poses'), or None (or harness off)."""
        recall = self._perception.remember if self._harness.enabled else None
        reach = self._harness.robot.arm.reach
        for pose, extent in recall(label) if recall else []:
            if np.linalg.norm(pose[:2, 3]) <= reach and pose[2, 3] < 0.0:
                return pose, extent
        return None

    def _look_near(self, near: Any, label: str) -> bool:
        """Point the hand camera at ``near`` (a base-frame point, where the caller last saw ``label``) as at
        a remembered box; False without the harness, a point, or a view the arm reaches."""
        try:
            spot = np.asarray(near if near is not None else (), dtype=float)
        except (TypeError, ValueError):
            return False
        if not self._harness.enabled or spot.shape != (3,) or not np.all(np.isfinite(spot)):
            return False
        pose = np.eye(4)
        pose[:3, 3] = spot
        return self._look_at((pose, np.full(3, 0.05)), label)

    def _look_at(self, box: tuple[np.ndarray, np.ndarray], label: str) -> bool:
        """Point the hand camera at a remembered box: from LOOK_BACKS m back along the grasps a ball there
        would offer, straight out from the arm's base first (clear of what lies beside it); False when the
        arm reaches none of those poses."""
        robot = self._harness.robot
        arm, gripper = robot.arm, robot.gripper
        at = np.eye(4)
        at[:3, 3] = box[0][:3, 3]
        size = min(float(np.max(box[1])), gripper.max_width)
        views = tilted_grasps(
            at,
            np.full(3, size),  # round: the best view comes in along the line from the arm's base
            gripper.max_width,
            gripper.finger_depth,
            gripper.pad_clearance,
            arm.grasp_tilts or (np.pi / 4,),
            arm.down_yaw,
        )
        try:
            self._move_above([_view(v, label) for v in views], backs=LOOK_BACKS)
        except (UnreachableError, CollisionError):
            return False
        return True

    def _move_above(
        self, candidates: Sequence[GraspCandidate], backs: Sequence[float] = (ABOVE, ABOVE / 2)
    ) -> None:
        """Move to where pick() looks again: above the first candidate whose look pose (ABOVE m back, else
        half that) the arm reaches clear of the scene; the planner checked the grasps, not the poses
        before them. A move held back on the way (the hand against furniture the cameras missed, e.g. a
        sofa's corner beside a toy behind it) goes home and on to the next candidate: nearer along the
        same line is no clearer."""
        refusals = []
        for candidate in candidates:
            for back in backs:
                try:
                    self._robot.move_gripper_to(_above(candidate, back), candidate.orientation)
                    return
                except (UnreachableError, CollisionError) as exc:  # out of reach, or against what is seen
                    refusals.append(str(exc))
                except StalledError as exc:
                    refusals.append(str(exc))
                    self._robot.move_home()
                    break
        raise UnreachableError(
            f"no pose above any of the {len(candidates)} grasp(s) is reachable and clear ({refusals[0]}); "
            "move the base"
        )


def _above(candidate: GraspCandidate, back: float = ABOVE) -> np.ndarray:
    """Where pick() looks again before the grasp: ``back`` m over it (back along a tilted approach)."""
    if candidate.strategy == "tilted":
        return candidate.position - candidate.approach * back
    return candidate.position + np.array([0.0, 0.0, back])


def _view(grasp: object, label: str) -> GraspCandidate:
    """A grasp computed here (maestro_tools.grasping's GraspCandidate) as the proxy's, for _move_above."""
    return GraspCandidate(
        position=grasp.pose[:3, 3].copy(),
        orientation=np.array(mat2euler(grasp.pose[:3, :3], "sxyz")),
        rotation=grasp.pose[:3, :3].copy(),
        width=float(grasp.width),
        score=float(grasp.score),
        strategy=grasp.strategy,
        label=label,
        reachable=False,
    )
