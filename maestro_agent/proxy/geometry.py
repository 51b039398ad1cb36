"""Rotations, vectors, frames, hinge axes and wiping paths for generated code (plain numpy + transforms3d,
no robot calls)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from transforms3d.euler import euler2mat, mat2euler

from maestro_agent.proxy.harness import tool
from maestro_agent.proxy.registry import register_tool
from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.perception.objects import fit_sphere


def check_vector(values: Sequence[float] | np.ndarray, size: int, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    if array.size != size or not np.isfinite(array).all():
        raise InvalidArgumentError(f"{what} must be {size} finite numbers; got {values!r}")
    return array


def rpy_rotation(orientation: Sequence[float] | np.ndarray) -> np.ndarray:
    """The 3x3 rotation of a [roll, pitch, yaw] (radians, static xyz) orientation, checked."""
    values = np.asarray(orientation, dtype=float).ravel()
    if values.size != 3 or not np.isfinite(values).all():
        raise InvalidArgumentError(f"orientation must be [roll, pitch, yaw] in radians; got {orientation!r}")
    return euler2mat(*values, "sxyz")


def _points(values: Sequence[Sequence[float]] | np.ndarray, least: int, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 2 or array.shape[1] != 3 or len(array) < least or not np.isfinite(array).all():
        raise InvalidArgumentError(f"{what} must be at least {least} finite [x, y, z] points; got {values!r}")
    return array


def unit_vector(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    vector = check_vector(values, 3, what)
    norm = float(np.linalg.norm(vector))
    if norm < 1e-9:
        raise InvalidArgumentError(f"{what} must not be zero; got {values!r}")
    return vector / norm


def circle_fit(points: np.ndarray, axis: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The circle through ``points`` in planes normal to ``axis``: centre (on the points' mean plane),
    radius, rms residual (m). Least squares on x^2 + y^2 = 2ax + 2by + c in the plane."""
    helper = np.array([1.0, 0, 0]) if abs(axis[0]) < 0.9 else np.array([0, 1.0, 0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    v = np.cross(axis, u)
    mean = points.mean(axis=0)
    flat = np.column_stack([(points - mean) @ u, (points - mean) @ v])
    (a, b), radius, residual = fit_sphere(flat)  # a circle: the points are 2D in the plane
    return mean + a * u + b * v, radius, residual


def arc_poses(
    start: np.ndarray, pivot: np.ndarray, axis: np.ndarray, degrees: float, step: float = 5.0
) -> list[np.ndarray]:
    """4x4 poses from ``start`` (excluded) turning ``degrees`` about the line through ``pivot`` along unit
    ``axis`` (right-handed), every ``step`` degrees at most: position and orientation turn together."""
    count = max(1, int(np.ceil(abs(degrees) / step - 1e-9)))
    poses = []
    for k in range(1, count + 1):
        angle = np.radians(degrees) * k / count
        x, y, z = axis
        skew = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
        turn = np.eye(3) + np.sin(angle) * skew + (1 - np.cos(angle)) * skew @ skew
        pose = np.eye(4)
        pose[:3, :3] = turn @ start[:3, :3]
        pose[:3, 3] = pivot + turn @ (start[:3, 3] - pivot)
        poses.append(pose)
    return poses


class Geometry:
    """Rotations as roll, pitch, yaw in radians (static x-y-z axes) or 3x3 matrices; positions in metres."""

    module = "geometry"
    #: Gripper pointing straight down (approach along -z), fingers closing along the base y axis.
    DOWN = np.array([np.pi, 0.0, 0.0])

    @tool("geometry")
    def euler_to_rmat(self, orientation: Sequence[float]) -> np.ndarray:
        """Roll, pitch, yaw (radians) -> 3x3 rotation matrix."""
        roll, pitch, yaw = check_vector(orientation, 3, "orientation")
        return euler2mat(roll, pitch, yaw, "sxyz")

    @tool("geometry")
    def rmat_to_euler(self, rotation: np.ndarray) -> np.ndarray:
        """3x3 rotation matrix -> roll, pitch, yaw (radians)."""
        matrix = np.asarray(rotation, dtype=float)
        if matrix.shape != (3, 3) or not np.allclose(matrix @ matrix.T, np.eye(3), atol=1e-4):
            raise InvalidArgumentError("rotation must be a 3x3 orthonormal matrix")
        return np.array(mat2euler(matrix, "sxyz"))

    @tool("geometry")
    def rotate_by(
        self, orientation: Sequence[float], axis: str, degrees: float, frame: str = "gripper"
    ) -> np.ndarray:
        """Rotate an orientation (roll, pitch, yaw) by ``degrees`` about axis "x", "y" or "z" of the
        gripper's own frame (frame="gripper") or of the base frame (frame="base").
        Returns roll, pitch, yaw."""
        if axis not in ("x", "y", "z") or frame not in ("gripper", "base"):
            raise InvalidArgumentError('axis must be "x", "y" or "z" and frame "gripper" or "base"')
        angle = np.radians(float(degrees))
        step = euler2mat(*(angle if a == axis else 0.0 for a in "xyz"), "sxyz")
        current = self.euler_to_rmat(orientation)
        rotated = current @ step if frame == "gripper" else step @ current
        return np.array(mat2euler(rotated, "sxyz"))

    @tool("geometry")
    def measure_vector(self, start: Sequence[float], end: Sequence[float]) -> np.ndarray:
        """The vector from ``start`` to ``end`` (metres)."""
        return check_vector(end, 3, "end") - check_vector(start, 3, "start")

    @tool("geometry")
    def distance(self, a: Sequence[float], b: Sequence[float]) -> float:
        """Euclidean distance between two points (metres)."""
        return float(np.linalg.norm(check_vector(a, 3, "a") - check_vector(b, 3, "b")))

    @tool("geometry")
    def measure_relative_rotation(self, a: Sequence[float], b: Sequence[float]) -> float:
        """Angle in degrees of the rotation taking orientation ``a`` to orientation ``b``."""
        relative = self.euler_to_rmat(a).T @ self.euler_to_rmat(b)
        return float(np.degrees(np.arccos(np.clip((np.trace(relative) - 1) / 2, -1.0, 1.0))))

    @tool("geometry")
    def pose(self, position: Sequence[float], orientation: Sequence[float]) -> np.ndarray:
        """4x4 homogeneous transform from a position and roll, pitch, yaw."""
        matrix = np.eye(4)
        matrix[:3, :3] = self.euler_to_rmat(orientation)
        matrix[:3, 3] = check_vector(position, 3, "position")
        return matrix

    @tool("geometry")
    def transform_point(self, pose: np.ndarray, point: Sequence[float]) -> np.ndarray:
        """A point given in the frame ``pose`` (4x4), expressed in the base frame."""
        matrix = np.asarray(pose, dtype=float)
        if matrix.shape != (4, 4):
            raise InvalidArgumentError("pose must be a 4x4 matrix (see geometry.pose)")
        return matrix[:3, :3] @ check_vector(point, 3, "point") + matrix[:3, 3]

    @tool("geometry")
    def hinge_axis(self, pivot: Sequence[float], direction: Sequence[float] = (0.0, 0.0, 1.0)) -> dict:
        """A hinge from a point on it (e.g. perception.point("the hinge of the lower door")) and its
        direction (default vertical): {"pivot": (3,), "axis": (3,) unit}, for robot.move_gripper_arc."""
        return {"pivot": check_vector(pivot, 3, "pivot"), "axis": unit_vector(direction, "direction")}

    @tool("geometry")
    def fit_hinge(self, points: Sequence[Sequence[float]], axis: Sequence[float] | None = None) -> dict:
        """The hinge a part turns about, from 3 or more positions of one point on it (e.g. a door handle
        seen before and after pulls; spread them over 30 degrees or more: with millimetres of noise the
        pivot is then good to a few cm, a hinge keypoint is better). With ``axis`` (e.g. [0, 0, 1] for a
        door), the points only need to lie on a circle about it; without, they must span a plane (its
        normal is the axis, turned to point up or, if level, as the points turn counterclockwise).
        Returns {"pivot": (3,) the circle's centre, "axis": (3,), "radius": m, "angle": degrees turned from
        the first point to the last about the axis, "rms": m the points lie off the circle}. Raises
        InvalidArgumentError for collinear points or points that do not turn (under 1 cm apart)."""
        array = _points(points, 3, "points")
        if np.linalg.norm(array - array[0], axis=1).max() < 0.01:
            raise InvalidArgumentError(
                "the points are all within 1 cm of each other: the part has not turned"
            )
        centred = array - array.mean(axis=0)
        if axis is None:
            _, singular, rows = np.linalg.svd(centred)
            if singular[1] < 1e-3 * max(singular[0], 1e-9) or singular[1] < 1e-4:
                raise InvalidArgumentError("the points lie on a line; give the hinge's axis or more points")
            direction = rows[2]
            turn = np.cross(array[1] - array[0], array[-1] - array[1])
            if abs(direction[2]) > 0.1:
                direction = direction * np.sign(direction[2])
            elif np.dot(turn, direction) < 0:
                direction = -direction
        else:
            direction = unit_vector(axis, "axis")
        pivot, radius, residual = circle_fit(array, direction)
        if not np.isfinite(radius) or radius < 1e-3 or radius > 10.0:
            raise InvalidArgumentError(
                f"no hinge fits these points (radius {radius:.3g} m); give more points"
            )
        first, last = array[0] - pivot, array[-1] - pivot
        first, last = (w - np.dot(w, direction) * direction for w in (first, last))
        angle = np.degrees(np.arctan2(np.dot(np.cross(first, last), direction), np.dot(first, last)))
        return {"pivot": pivot, "axis": direction, "radius": radius, "angle": float(angle), "rms": residual}

    @tool("geometry")
    def wipe_path(
        self, corners: Sequence[Sequence[float]], height: float, spacing: float = 0.04, inset: float = 0.0
    ) -> np.ndarray:
        """A back-and-forth (boustrophedon) path covering the rectangle through ``corners`` (3 or more
        [x, y, z] points, any order, e.g. its 4 corners) at height z = ``height``: strokes along the
        rectangle's long side, ``spacing`` m apart (about the wiping tool's width), the first and last
        ``inset`` m inside its edges. Returns (2 * strokes, 3) points: each stroke's start and end, in order,
        for robot.move_gripper_along(..., contact=True). A held tool pivots about the fingertips when dragged
        across the fingers' closing axis: run the strokes along that axis, one at a time, lifting in between
        (zip(path[0::2], path[1::2]))."""
        array = _points(corners, 3, "corners")
        z, step, margin = float(height), float(spacing), float(inset)
        if not np.isfinite([z, step, margin]).all() or step <= 0.005 or margin < 0:
            raise InvalidArgumentError(
                f"height must be finite, spacing above 0.005 m, inset >= 0; got {height}, {spacing}, {inset}"
            )
        flat = array[:, :2]
        centre = flat.mean(axis=0)
        _, singular, rows = np.linalg.svd(flat - centre)
        if singular[1] < 1e-4:
            raise InvalidArgumentError("the corners lie on a line; give the rectangle's corners")
        along, across = rows[0], rows[1]
        ends = (flat - centre) @ along
        sides = (flat - centre) @ across
        centre = centre + along * (ends.max() + ends.min()) / 2 + across * (sides.max() + sides.min()) / 2
        half_length = (ends.max() - ends.min()) / 2 - margin
        half_width = (sides.max() - sides.min()) / 2 - margin
        if half_length < 0 or half_width < 0:
            raise InvalidArgumentError(f"inset {margin} m leaves nothing of the rectangle to wipe")
        strokes = max(1, int(np.ceil(2 * half_width / step - 1e-9)) + 1)
        offsets = np.linspace(-half_width, half_width, strokes) if strokes > 1 else np.zeros(1)
        path = []
        for index, offset in enumerate(offsets):
            start, end = -half_length, half_length
            if index % 2:
                start, end = end, start
            for s in (start, end):
                xy = centre + along * s + across * offset
                path.append([xy[0], xy[1], z])
        return np.array(path)


register_tool("geometry", (), lambda ros, harness, built: Geometry(), group="S3")
