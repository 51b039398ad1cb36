"""Rotations, vectors and frames for generated code (plain numpy + transforms3d, no robot calls)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from transforms3d.euler import euler2mat, mat2euler

from maestro_agent.proxy.harness import tool
from maestro_agent.proxy.registry import register_tool
from maestro_tools.common.errors import InvalidArgumentError


def _vector(values: Sequence[float] | np.ndarray, size: int, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    if array.size != size or not np.isfinite(array).all():
        raise InvalidArgumentError(f"{what} must be {size} finite numbers; got {values!r}")
    return array


class Geometry:
    """Rotations as roll, pitch, yaw in radians (static x-y-z axes) or 3x3 matrices; positions in metres."""

    module = "geometry"
    #: Gripper pointing straight down (approach along -z), fingers closing along the base y axis.
    DOWN = np.array([np.pi, 0.0, 0.0])

    @tool("geometry")
    def euler_to_rmat(self, orientation: Sequence[float]) -> np.ndarray:
        """Roll, pitch, yaw (radians) -> 3x3 rotation matrix."""
        roll, pitch, yaw = _vector(orientation, 3, "orientation")
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
        return _vector(end, 3, "end") - _vector(start, 3, "start")

    @tool("geometry")
    def distance(self, a: Sequence[float], b: Sequence[float]) -> float:
        """Euclidean distance between two points (metres)."""
        return float(np.linalg.norm(_vector(a, 3, "a") - _vector(b, 3, "b")))

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
        matrix[:3, 3] = _vector(position, 3, "position")
        return matrix

    @tool("geometry")
    def transform_point(self, pose: np.ndarray, point: Sequence[float]) -> np.ndarray:
        """A point given in the frame ``pose`` (4x4), expressed in the base frame."""
        matrix = np.asarray(pose, dtype=float)
        if matrix.shape != (4, 4):
            raise InvalidArgumentError("pose must be a 4x4 matrix (see geometry.pose)")
        return matrix[:3, :3] @ _vector(point, 3, "point") + matrix[:3, 3]


register_tool("geometry", (), lambda ros, harness, built: Geometry())
