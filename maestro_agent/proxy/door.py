"""Opening a hinged door by its lever handle with a mobile manipulator: ``base.open_door``'s geometry and
sequence (plain Python over the ``base``, ``robot`` and ``perception`` tools).

The door and its handle come from the detector's boxes: the door's thinnest horizontal axis is its normal,
the near lever lies on the robot's side of the handle's box, its pivot at the end away from the door's
middle (a lever points towards the hinge). The base stands square to the door with the lever within the
arm's reach; the hand grips the lever from the front, its approach tilted 26 degrees down (level, the
PiPER's wrist is at its singularity and IK stalls at a joint limit), turns it down about the pivot, and
the base pushes the unlatched door ajar while the hand still holds the handle down (measured in the
simulation: a 0.25 m push opens the leaf 0.4 rad). Then the hand lets go, the base backs away (turning
in place by the door would sweep its corners into the wall), lines up with the doorway and drives through,
pushing the leaf open.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from maestro_agent.proxy.types import BasePose
from maestro_tools.common.errors import InvalidArgumentError, MaestroError, NotFoundError, StalledError

UP = np.array([0.0, 0.0, 1.0])
LEVER_RADIUS = 0.012  # m: the lever's axis lies this far inside its box's near face and its pivot end
GRIP_FROM_PIVOT = 0.075  # m along the lever: the middle of a 12 cm lever, a few cm to spare either way
STAND = 0.50  # m from the grip point back to the base's centre: within the PiPER's reach, clear of the door
HAND_TILT = 0.45  # rad the approach points down from level
GRIP_OPENING, GRIP_FORCE = 0.05, 40.0  # m and N: the jaws open around the lever, then hold it
PRESS_DEGREES = 55.0  # the lever's turn commanded (a lever stops at about 45 degrees)
PUSH = 0.25  # m the base drives the unlatched door with the handle held down
BACK_UP = 0.45  # m the base backs straight away from the door: room to turn (a goal behind is backed onto)
LINE_UP = 1.0  # m before the doorway the base lines up with it
LINE_UP_TOLERANCE = 0.1  # m: a 0.45 m wide base in a 0.9 m doorway (tighter: a skid-steer dithers)
BACK_OFF = 0.08  # m the hand withdraws from the handle


@dataclass(frozen=True)
class DoorGeometry:
    """A door seen from the robot, in the frame of the boxes it was built from."""

    normal: np.ndarray  # (3,) level unit vector through the door, away from the robot: how it is pushed
    along: np.ndarray  # (3,) level unit vector in the door's plane from the lever's pivot to its free end
    pivot: np.ndarray  # (3,) the near lever's pivot
    grip: np.ndarray  # (3,) where the hand holds the lever
    centre: np.ndarray  # (3,) the door's centre: the doorway's

    def hand(self) -> np.ndarray:
        """The hand's rotation gripping the lever: approach along the normal tilted down, the jaws closing
        across the lever in the vertical plane."""
        approach = self.normal * math.cos(HAND_TILT) - UP * math.sin(HAND_TILT)
        jaws = -(UP * math.cos(HAND_TILT) + self.normal * math.sin(HAND_TILT))
        return np.column_stack([np.cross(jaws, approach), jaws, approach])

    def press_axis(self) -> np.ndarray:
        """The axis about which turning the lever is pressing it down (right-handed, positive degrees)."""
        return np.cross(self.along, -UP)

    def moved(self, transform: np.ndarray) -> DoorGeometry:
        """The same door in another frame (``transform``: 4x4, from this frame to that one)."""
        rotation, shift = transform[:3, :3], transform[:3, 3]
        return DoorGeometry(
            rotation @ self.normal,
            rotation @ self.along,
            rotation @ self.pivot + shift,
            rotation @ self.grip + shift,
            rotation @ self.centre + shift,
        )


def base_to_map(pose: BasePose) -> np.ndarray:
    """4x4 transform from the base frame to the map at ``pose`` (the floor at z = -height in the base)."""
    c, s = math.cos(pose.yaw), math.sin(pose.yaw)
    transform = np.eye(4)
    transform[:3, :3] = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
    transform[:3, 3] = [pose.x, pose.y, pose.height]
    return transform


def _span(box: Any, direction: np.ndarray) -> float:
    """The size of a detection's box along ``direction``."""
    return float(sum(abs(float(np.dot(box.rotation[:, k], direction))) * box.extent[k] for k in range(3)))


def door_geometry(door: Any, handle: Any, viewer: np.ndarray) -> DoorGeometry:
    """The door's geometry from its box and its handle's (anything with position, extent, rotation; one
    frame), seen from ``viewer`` (the robot's position in that frame)."""
    axes = [door.rotation[:, k] for k in range(3)]
    level = [k for k in range(3) if abs(axes[k][2]) < 0.5]
    if len(level) < 2:
        raise InvalidArgumentError("the door's box is not upright: it has no level axis to push along")
    normal = axes[min(level, key=lambda k: door.extent[k])].copy()
    normal[2] = 0.0
    normal /= np.linalg.norm(normal)
    if np.dot(normal, door.position - viewer) < 0:
        normal = -normal
    along = np.cross(UP, normal)
    if np.dot(door.position - handle.position, along) < 0:  # the lever points towards the door's middle
        along = -along
    face = handle.position - normal * (_span(handle, normal) / 2 - LEVER_RADIUS)
    pivot = face - along * (_span(handle, along) / 2 - LEVER_RADIUS)
    return DoorGeometry(normal, along, pivot, pivot + along * GRIP_FROM_PIVOT, door.position.copy())


def rpy(rotation: np.ndarray) -> list[float]:
    """Roll, pitch, yaw (static xyz, the robot tool's orientation) of a rotation matrix."""
    return [
        math.atan2(rotation[2, 1], rotation[2, 2]),
        math.asin(-float(np.clip(rotation[2, 0], -1.0, 1.0))),
        math.atan2(rotation[1, 0], rotation[0, 0]),
    ]


class DoorOpener:
    """``base.open_door``'s sequence over the tools (``base``, ``robot``, ``perception``)."""

    def __init__(self, base: Any, robot: Any, perception: Any) -> None:
        self.base, self.robot, self.perception = base, robot, perception

    def look(self, door: str, handle: str) -> DoorGeometry:
        """The door's geometry in the base frame, from the detector now."""
        seen: dict[str, Any] = {}
        for detection in self.perception.detect([door, handle]):  # the best of each label
            seen.setdefault(detection.label, detection)
        missing = [label for label in (door, handle) if label not in seen]
        if missing:
            raise NotFoundError(
                f"{' and '.join(repr(m) for m in missing)} not in view (saw {sorted(seen)}); face the door "
                "first (base.go_to, base.search)"
            )
        return door_geometry(seen[door], seen[handle], np.zeros(3))

    def open(self, door: str, handle: str, through: float) -> BasePose:
        # From afar the head camera sees the whole door and handle (from the stand, not all of it): the
        # geometry is taken here, kept in the map and brought into the base frame at the stand.
        seen = self.look(door, handle).moved(base_to_map(self.base.get_pose()))
        yaw = math.atan2(seen.normal[1], seen.normal[0])
        stand = seen.grip - seen.normal * STAND
        self.base.go_to(float(stand[0]), float(stand[1]), yaw, tolerance=0.03, timeout=60.0)
        self._press_and_push(seen.moved(np.linalg.inv(base_to_map(self.base.get_pose()))))
        here = self.base.get_pose()
        back = np.array([here.x, here.y]) - BACK_UP * seen.normal[:2]
        self.base.go_to(float(back[0]), float(back[1]), yaw, timeout=30.0)
        line_up = seen.centre - LINE_UP * seen.normal
        self.base.go_to(float(line_up[0]), float(line_up[1]), yaw, tolerance=LINE_UP_TOLERANCE, timeout=90.0)
        end = seen.centre + through * seen.normal
        return self.base.go_to(float(end[0]), float(end[1]), yaw, push=True, timeout=60.0)

    def _press_and_push(self, door: DoorGeometry) -> None:
        """Grip the lever, press it down, push the door ajar with the base, let go and withdraw the arm."""
        robot, hand = self.robot, rpy(door.hand())
        robot.open_gripper(GRIP_OPENING)
        robot.move_gripper_to(door.grip - 0.1 * door.normal, hand)
        try:
            robot.move_gripper_to(door.grip + 0.005 * door.normal, hand, path="line", speed=0.3, contact=True)
            robot.grasp(force=GRIP_FORCE)
            with contextlib.suppress(StalledError):  # the lever's end stop holds the hand back: pressed
                robot.move_gripper_arc(
                    door.pivot, door.press_axis(), PRESS_DEGREES, speed=0.3, contact=True, max_depth=0.03
                )
            here = self.base.get_pose()
            ahead = base_to_map(here)[:3, :3] @ door.normal * PUSH
            try:
                self.base.go_to(here.x + ahead[0], here.y + ahead[1], push=True, timeout=20.0)
            except StalledError as exc:
                raise StalledError(
                    f"the door did not give with its handle pressed (locked, or it opens towards the "
                    f"robot): {exc}"
                ) from None
        finally:  # never leave the hand on the handle
            with contextlib.suppress(MaestroError):
                robot.open_gripper()
            with contextlib.suppress(MaestroError):
                robot.move_gripper_by(list(-BACK_OFF * door.normal), path="auto")
        robot.move_home()
