"""visualization_msgs/MarkerArray builders: what each module found, for RViz (frame ``base``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from geometry_msgs.msg import Point, Vector3
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from maestro_tools.common.conversions import matrix_to_pose
from maestro_tools.common.render import colour, gripper_outline

FRAME = "base"


def _rgba(index: int, alpha: float = 0.6) -> ColorRGBA:
    red, green, blue = colour(index)
    return ColorRGBA(r=red / 255, g=green / 255, b=blue / 255, a=alpha)


def _point(p: np.ndarray) -> Point:
    return Point(x=float(p[0]), y=float(p[1]), z=float(p[2]))


def _reset(namespace: str) -> Marker:
    return Marker(ns=namespace, action=Marker.DELETEALL)


def _text(namespace: str, marker_id: int, position: np.ndarray, text: str, header: Header) -> Marker:
    return Marker(
        header=header,
        ns=f"{namespace}/labels",
        id=marker_id,
        type=Marker.TEXT_VIEW_FACING,
        action=Marker.ADD,
        scale=Vector3(z=0.025),
        color=ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0),
        pose=matrix_to_pose(_translation(position)),
        text=text,
    )


def _translation(position: np.ndarray) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, 3] = position
    return matrix


def boxes(
    namespace: str,
    labels: Sequence[str],
    poses: Sequence[np.ndarray],
    extents: Sequence[np.ndarray],
    header: Header,
    alphas: Sequence[float] | None = None,
) -> MarkerArray:
    """Labelled boxes (detections; map objects, fading with ``alphas``, one per box, 0.4 when None)."""
    markers = [_reset(namespace), _reset(f"{namespace}/labels")]
    for k, (label, pose, extent) in enumerate(zip(labels, poses, extents, strict=True)):
        markers.append(
            Marker(
                header=header,
                ns=namespace,
                id=k,
                type=Marker.CUBE,
                action=Marker.ADD,
                pose=matrix_to_pose(pose),
                scale=Vector3(
                    x=float(max(extent[0], 0.005)),
                    y=float(max(extent[1], 0.005)),
                    z=float(max(extent[2], 0.005)),
                ),
                color=_rgba(k, 0.4 if alphas is None else float(alphas[k])),
            )
        )
        markers.append(_text(namespace, k, pose[:3, 3] + [0, 0, extent[2] / 2 + 0.03], label, header))
    return MarkerArray(markers=markers)


def points(
    namespace: str, labels: Sequence[str], positions: Sequence[np.ndarray], header: Header
) -> MarkerArray:
    """Labelled spheres (keypoints)."""
    markers = [_reset(namespace), _reset(f"{namespace}/labels")]
    for k, (label, position) in enumerate(zip(labels, positions, strict=True)):
        markers.append(
            Marker(
                header=header,
                ns=namespace,
                id=k,
                type=Marker.SPHERE,
                action=Marker.ADD,
                pose=matrix_to_pose(_translation(position)),
                scale=Vector3(x=0.015, y=0.015, z=0.015),
                color=_rgba(k, 0.9),
            )
        )
        markers.append(_text(namespace, k, np.asarray(position) + [0, 0, 0.03], label, header))
    return MarkerArray(markers=markers)


def grippers(
    namespace: str, poses: Sequence[np.ndarray], widths: Sequence[float], header: Header
) -> MarkerArray:
    """Gripper outlines (grasps), the best one opaque."""
    markers = [_reset(namespace)]
    for k, (pose, width) in enumerate(zip(poses, widths, strict=True)):
        segments = gripper_outline(np.asarray(pose), float(width))
        markers.append(
            Marker(
                header=header,
                ns=namespace,
                id=k,
                type=Marker.LINE_LIST,
                action=Marker.ADD,
                scale=Vector3(x=0.004 if k == 0 else 0.002),
                color=_rgba(k, 1.0 if k == 0 else 0.5),
                points=[_point(p) for segment in segments for p in segment],
            )
        )
    return MarkerArray(markers=markers)


def path(namespace: str, positions: Sequence[np.ndarray], header: Header) -> MarkerArray:
    """A polyline (the TCP path of a planned motion)."""
    return MarkerArray(
        markers=[
            _reset(namespace),
            Marker(
                header=header,
                ns=namespace,
                id=0,
                type=Marker.LINE_STRIP,
                action=Marker.ADD,
                scale=Vector3(x=0.004),
                color=_rgba(2, 0.9),
                points=[_point(p) for p in positions],
            ),
        ]
    )
