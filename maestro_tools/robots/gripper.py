"""Judging a parallel gripper the way a real one reports: by where the fingers stopped.

A grasp holds something when the fingers stopped on it: the final opening is above the gripper's
``empty_width`` (closing on nothing ends fully closed), short of the commanded opening, and, when the
object's width is known, not far below it. The same rule says whether the gripper is holding something
at any time, from the finger joints; a held object that falls out lets the fingers close fully
(``dropped``). Contact ground truth from a simulator never enters this judgement.
"""

from __future__ import annotations

from dataclasses import dataclass

from maestro_tools.robots.profile import GripperSpec

WIDTH_TOLERANCE = 0.015  # m the fingers may close past an object's expected width (it deforms, slips)


@dataclass(frozen=True)
class GraspJudgement:
    held: bool
    width: float  # final opening, m
    message: str


def holding(width: float, gripper: GripperSpec, commanded: float | None = None) -> bool:
    """The fingers stopped on something as they closed: wider than ``empty_width`` (fully closed) and
    more than that wider than the ``commanded`` opening (m). Fingers that stopped short of an opening
    command (against a wall as they opened) hold nothing. Unknown command: anything short of fully open
    and not fully closed counts."""
    if width <= gripper.empty_width:
        return False
    if commanded is None:
        return gripper.max_width - width > gripper.empty_width
    return width - commanded > gripper.empty_width


def dropped(width: float, gripper: GripperSpec) -> bool:
    """Fingers that held something and now read at most ``empty_width``: it fell out."""
    return width <= gripper.empty_width


def judge_grasp(width: float, gripper: GripperSpec, expected_width: float | None = None) -> GraspJudgement:
    """Whether a grasp that ended at opening ``width`` (m) holds the object."""
    if width <= gripper.empty_width:
        return GraspJudgement(
            False,
            width,
            f"the gripper closed on nothing (opening {width * 1000:.1f} mm at the end, at most "
            f"{gripper.empty_width * 1000:g} mm means empty)",
        )
    if expected_width is not None and width < expected_width - WIDTH_TOLERANCE:
        return GraspJudgement(
            False,
            width,
            f"the fingers closed to {width * 1000:.1f} mm on an object expected to be "
            f"{expected_width * 1000:.0f} mm wide: it slipped or the grasp missed its middle",
        )
    return GraspJudgement(True, width, f"holding an object {width * 1000:.1f} mm wide")


def command_position(width: float, gripper: GripperSpec) -> float:
    """control_msgs/GripperCommand ``position`` for an opening: one finger joint's position, as
    franka_gripper and ros2_control's gripper controller on a mimic-jointed hand take it."""
    return width / len(gripper.finger_joints)


def opening(position: float, gripper: GripperSpec) -> float:
    """The opening (m) from a GripperCommand result's ``position``."""
    return position * len(gripper.finger_joints)
