"""What the proxy's tools return: small frozen dataclasses with numpy arrays, printed compactly.

Generated code prints these to show the VLM what happened, so ``__str__`` is short, in metres and
degrees, with three decimals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _vec(values: np.ndarray, digits: int = 3) -> str:
    return "[" + ", ".join(f"{v:.{digits}f}" for v in np.asarray(values, dtype=float).ravel()) + "]"


@dataclass(frozen=True)
class GripperState:
    width: float  # metres between the jaws, once they stopped
    fraction_closed: float  # 0 = fully open, 1 = fully closed
    holding: bool  # the fingers stopped on something closing: above the empty width, wider than commanded

    def __str__(self) -> str:
        return (
            f"GripperState(width={self.width:.3f} m, fraction_closed={self.fraction_closed:.2f}, "
            f"holding={self.holding})"
        )


@dataclass(frozen=True)
class RobotState:
    position: np.ndarray  # (3,) TCP position in the base frame, metres (after a move: where it ended)
    orientation: np.ndarray  # (3,) TCP roll, pitch, yaw in radians (static xyz)
    rotation: np.ndarray  # (3, 3) TCP rotation matrix
    joint_positions: np.ndarray  # (7,) radians
    gripper: GripperState

    @property
    def gripper_fraction_closed(self) -> float:
        return self.gripper.fraction_closed

    @property
    def holding(self) -> bool:  # printed as a field, so readable as one (code wrote state.holding)
        return self.gripper.holding

    def __str__(self) -> str:
        return (
            f"RobotState(position={_vec(self.position)}, "
            f"orientation_deg={_vec(np.degrees(self.orientation), 1)}, "
            f"gripper_fraction_closed={self.gripper.fraction_closed:.2f}, holding={self.gripper.holding})"
        )


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    position: np.ndarray  # (3,) object centre in the base frame, metres
    extent: np.ndarray  # (3,) size along the object's axes, metres
    rotation: np.ndarray  # (3, 3) object axes in the base frame
    box: tuple[int, int, int, int]  # x, y, width, height in pixels of `camera`
    camera: str
    has_3d: bool = True

    @property
    def top(self) -> np.ndarray:
        """The centre of the object's top surface."""
        return self.position + np.array([0.0, 0.0, self.extent[2] / 2])

    def __str__(self) -> str:
        return (
            f"Detection({self.label!r}, score={self.score:.2f}, position={_vec(self.position)}, "
            f"extent={_vec(self.extent)}, camera={self.camera!r})"
        )


@dataclass(frozen=True)
class Keypoint:
    label: str
    score: float
    pixel: tuple[float, float]  # u (column), v (row) in `camera`
    position: np.ndarray  # (3,) base frame, metres (NaN when depth was missing)
    camera: str

    def __str__(self) -> str:
        pixel = f"({self.pixel[0]:.0f}, {self.pixel[1]:.0f})"
        return f"Keypoint({self.label!r}, position={_vec(self.position)}, pixel={pixel})"


@dataclass(frozen=True)
class ImageCrop:
    image: np.ndarray  # (h, w, 3) uint8: part of a camera image, each camera pixel scale x scale pixels
    camera: str
    offset: tuple[int, int]  # camera pixel (u, v) of the crop's top-left corner
    scale: int  # crop pixels per camera pixel
    stamp: float  # time of the camera image, seconds

    def camera_pixel(self, u: float, v: float) -> tuple[float, float]:
        """The camera image's pixel (u, v) for the crop's pixel (u, v): about offset + (u, v) / scale."""
        left, top = self.offset
        return (left + (u + 0.5) / self.scale - 0.5, top + (v + 0.5) / self.scale - 0.5)

    def __str__(self) -> str:
        (u, v), (height, width) = self.offset, self.image.shape[:2]
        right, bottom = u + width // self.scale, v + height // self.scale
        return (
            f"ImageCrop({self.camera!r}, camera pixels u {u}..{right}, v {v}..{bottom}, scale={self.scale})"
        )


@dataclass(frozen=True)
class GraspCandidate:
    position: np.ndarray  # (3,) TCP position at the grasp, base frame
    orientation: np.ndarray  # (3,) TCP roll, pitch, yaw, radians
    rotation: np.ndarray  # (3, 3) TCP rotation; its z axis is the approach direction
    width: float  # jaw opening at the grasp, metres
    score: float
    strategy: str  # "antipodal" | "top_down"
    label: str
    reachable: bool

    @property
    def approach(self) -> np.ndarray:
        return self.rotation[:, 2].copy()

    def __str__(self) -> str:
        return (
            f"GraspCandidate({self.label!r}, position={_vec(self.position)}, "
            f"orientation_deg={_vec(np.degrees(self.orientation), 1)}, width={self.width:.3f}, "
            f"score={self.score:.2f}, strategy={self.strategy!r})"
        )


@dataclass(frozen=True)
class Observation:
    """One camera's raw view: what a code-as-policies agent gets without perception tools."""

    camera: str
    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 metres along the optical axis; 0 = no depth
    intrinsics: np.ndarray  # (3, 3) K: pixel (u, v) = (fx * x / z + cx, fy * y / z + cy)
    camera_pose: np.ndarray  # (4, 4) the optical frame (x right, y down, z forward) in the base frame

    def __str__(self) -> str:
        height, width = self.depth.shape
        return (
            f"Observation({self.camera!r}, {width}x{height}, camera at {_vec(self.camera_pose[:3, 3])}, "
            f"fx={self.intrinsics[0, 0]:.1f}, depth {self.depth.min():.3f}..{self.depth.max():.3f} m)"
        )


# The dataclasses that cross the sandbox boundary (tool results, and arguments such as a grasp).
VALUE_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (GripperState, RobotState, Detection, Keypoint, ImageCrop, GraspCandidate, Observation)
}


@dataclass(frozen=True)
class MappedObject:
    """An object the semantic map remembers (a memory, not a fresh detection)."""

    id: str
    label: str
    position: np.ndarray  # (3,) centre in the base frame, metres, where it was last seen
    extent: np.ndarray  # (3,) size along its axes, metres
    rotation: np.ndarray  # (3, 3) its axes in the base frame
    confidence: float  # 0..1: grows with sightings, drops when in plain view but not detected
    observations: int  # times seen
    age: float  # seconds since it was last seen
    camera: str  # the camera that saw it last

    def __str__(self) -> str:
        return (
            f"MappedObject({self.id}, {self.label!r}, position={_vec(self.position)}, "
            f"confidence={self.confidence:.2f}, seen {self.observations}x, last {self.age:.0f} s ago "
            f"by the {self.camera} camera)"
        )


VALUE_TYPES[MappedObject.__name__] = MappedObject


@dataclass(frozen=True)
class TurnResult:
    """What skills.turn did: the part's direction after the turn."""

    label: str
    part: str  # the part's keypoint label, e.g. "cube/purple_face_1"
    normal: np.ndarray  # (3,) base frame: from the object's centre towards the part, after the turn
    target: np.ndarray  # (3,) the direction the part was to face
    deviation_deg: float  # angle between normal and target
    done: bool  # the part faces the target (within the skill's tolerance)
    turns: int  # tips and twists made
    position: np.ndarray  # (3,) the object's centre after the turn

    def __str__(self) -> str:
        return (
            f"TurnResult({self.label!r}, part={self.part!r}, normal={_vec(self.normal)}, "
            f"deviation_deg={self.deviation_deg:.1f}, turns={self.turns}, done={self.done}, "
            f"position={_vec(self.position)})"
        )


@dataclass(frozen=True)
class FoldResult:
    """What skills.fold_corner did: where the corner ended."""

    start: np.ndarray  # (3,) where the corner was
    end: np.ndarray  # (3,) where the corner lies after the fold (perceived again when asked to)
    target: np.ndarray  # (3,) where it was to go
    distance: float  # m, horizontal, between end and target

    def __str__(self) -> str:
        return f"FoldResult(end={_vec(self.end)}, target={_vec(self.target)}, distance={self.distance:.3f} m)"


VALUE_TYPES.update({cls.__name__: cls for cls in (TurnResult, FoldResult)})


@dataclass(frozen=True)
class BasePose:
    """Where the mobile base is in the map: position (m), heading (rad, counter-clockwise from map x) and
    the base frame's height above the map's floor (m; it changes as the body crouches): the floor lies at
    z = -height in the base frame."""

    x: float
    y: float
    yaw: float
    height: float = 0.0

    def __str__(self) -> str:
        return (
            f"BasePose(x={self.x:.3f}, y={self.y:.3f}, yaw_deg={np.degrees(self.yaw):.1f}, "
            f"height={self.height:.3f})"
        )


VALUE_TYPES[BasePose.__name__] = BasePose


@dataclass(frozen=True)
class PushResult:
    """What skills.push did: where the object was and where it is seen now."""

    label: str
    start: np.ndarray  # (3,) the object's centre before the push
    end: np.ndarray  # (3,) its centre seen after the push
    moved: float  # m, how far it moved along the push direction

    def __str__(self) -> str:
        return (
            f"PushResult({self.label!r}, start={_vec(self.start)}, end={_vec(self.end)}, "
            f"moved={self.moved:.3f} m)"
        )


VALUE_TYPES[PushResult.__name__] = PushResult
