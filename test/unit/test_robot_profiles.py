"""Every registered robot profile conforms: its models load, its URDF (generated from the robot-only
MJCF) names the profile's joints with the MJCF's limits, its forward kinematics equals MuJoCo's, its
meshes exist, its home posture is inside the limits and its cameras are in the models."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote, urlparse

import mujoco
import numpy as np
import pytest

from maestro_tools.robots import get_robot, robot_names
from maestro_tools.robots.description import robot_description
from maestro_tools.robots.model import RobotModel
from maestro_tools.robots.profile import RobotProfile

PROFILES = [get_robot(name) for name in robot_names()]
OPTICAL = np.diag([1.0, -1.0, -1.0])  # MuJoCo camera (-z forward, y up) -> ROS optical (z forward, y down)


def _urdf(profile: RobotProfile) -> ET.Element:
    return ET.fromstring(robot_description(profile))


def _rpy(roll: float, pitch: float, yaw: float) -> np.ndarray:
    cr, sr, cp, sp, cy, sy = (
        np.cos(roll),
        np.sin(roll),
        np.cos(pitch),
        np.sin(pitch),
        np.cos(yaw),
        np.sin(yaw),
    )
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _origin(element: ET.Element) -> np.ndarray:
    origin = element.find("origin")
    matrix = np.eye(4)
    if origin is not None:
        matrix[:3, :3] = _rpy(*map(float, origin.get("rpy", "0 0 0").split()))
        matrix[:3, 3] = [float(v) for v in origin.get("xyz", "0 0 0").split()]
    return matrix


def _motion(joint: ET.Element, position: float) -> np.ndarray:
    """The joint's motion at ``position``: Rodrigues about the axis, or a slide along it."""
    kind, motion = joint.get("type"), np.eye(4)
    if kind == "fixed":
        return motion
    axis = np.array([float(v) for v in joint.find("axis").get("xyz").split()])
    axis /= np.linalg.norm(axis)
    if kind == "prismatic":
        motion[:3, 3] = axis * position
    else:
        k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        motion[:3, :3] = np.eye(3) + np.sin(position) * k + (1 - np.cos(position)) * k @ k
    return motion


def _forward(urdf: ET.Element, positions: dict[str, float]) -> dict[str, np.ndarray]:
    """Every link's pose in the root link, composing the URDF's joint origins and motions."""
    joints = {j.find("child").get("link"): j for j in urdf.findall("joint")}
    poses: dict[str, np.ndarray] = {}

    def pose(link: str) -> np.ndarray:
        if link not in poses:
            joint = joints.get(link)
            if joint is None:
                poses[link] = np.eye(4)
            else:
                parent = pose(joint.find("parent").get("link"))
                poses[link] = parent @ _origin(joint) @ _motion(joint, positions.get(joint.get("name"), 0.0))
        return poses[link]

    return {link.get("name"): pose(link.get("name")) for link in urdf.findall("link")}


def _mjcf_joints(model: mujoco.MjModel) -> list[int]:
    kinds = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
    return [j for j in range(model.njnt) if int(model.jnt_type[j]) in kinds]


@pytest.fixture(scope="module", params=PROFILES, ids=lambda p: p.name)
def profile(request: pytest.FixtureRequest) -> RobotProfile:
    return request.param


def test_models_load_and_the_home_posture_is_inside_the_limits(profile: RobotProfile) -> None:
    model = RobotModel(profile)
    assert model.model.nbody > 1
    home = model.home
    assert np.all(home >= model.lower) and np.all(home <= model.upper), (home, model.lower, model.upper)


def test_joint_names_agree_between_urdf_mjcf_and_profile(profile: RobotProfile) -> None:
    model = profile.build_mjcf().compile()
    urdf = _urdf(profile)
    moving = {j.get("name") for j in urdf.findall("joint") if j.get("type") != "fixed"}
    assert moving == {profile.ros_names(model.joint(j).name) for j in _mjcf_joints(model)}
    specs = [(profile.arm.joints, profile.arm.mjcf_joints)] if profile.arm else []
    if profile.gripper:
        specs.append((profile.gripper.finger_joints, profile.gripper.mjcf_finger_joints))
    for ros, mjcf in specs:
        assert [profile.ros_names(name) for name in mjcf] == list(ros)
        assert set(ros) <= moving
    links = {link.get("name") for link in urdf.findall("link")}
    children = {j.find("child").get("link") for j in urdf.findall("joint")}
    assert links - children == {profile.base_frame}, "the URDF's one root is the profile's base frame"
    if profile.arm:
        assert profile.arm.tcp_frame in links


def test_urdf_limits_are_the_mjcf_ones(profile: RobotProfile) -> None:
    model = profile.build_mjcf().compile()
    joints = {j.get("name"): j for j in _urdf(profile).findall("joint")}
    for index in _mjcf_joints(model):
        joint = joints[profile.ros_names(model.joint(index).name)]
        limit = joint.find("limit")
        assert float(limit.get("effort")) > 0 and float(limit.get("velocity")) > 0
        if model.jnt_limited[index]:
            lower, upper = model.jnt_range[index]
            assert float(limit.get("lower")) == pytest.approx(lower, abs=1e-12)
            assert float(limit.get("upper")) == pytest.approx(upper, abs=1e-12)
        else:
            assert joint.get("type") == "continuous"
    if profile.name == "franka":  # force ranges from the actuators where the MJCF has them
        assert float(joints["panda_joint1"].find("limit").get("effort")) == 87.0
        assert float(joints["panda_joint7"].find("limit").get("effort")) == 12.0


def test_urdf_forward_kinematics_equals_mujoco(profile: RobotProfile) -> None:
    model = profile.build_mjcf().compile()
    data = mujoco.MjData(model)
    urdf = _urdf(profile)
    root = next(b for b in range(1, model.nbody) if model.body_parentid[b] == 0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        positions = {}
        for joint in _mjcf_joints(model):
            low, high = model.jnt_range[joint] if model.jnt_limited[joint] else (-np.pi, np.pi)
            value = rng.uniform(low, high)
            data.qpos[model.jnt_qposadr[joint]] = value
            positions[profile.ros_names(model.joint(joint).name)] = value
        mujoco.mj_kinematics(model, data)
        mujoco.mj_camlight(model, data)
        links = _forward(urdf, positions)
        world_root = np.eye(4)
        world_root[:3, :3], world_root[:3, 3] = data.xmat[root].reshape(3, 3), data.xpos[root]
        expected = {}
        for body in range(1, model.nbody):
            pose = np.eye(4)
            pose[:3, :3], pose[:3, 3] = data.xmat[body].reshape(3, 3), data.xpos[body]
            expected[profile.ros_names(model.body(body).name)] = pose
        if profile.arm:
            site = model.site(profile.arm.tcp_site).id
            tcp = np.eye(4)
            tcp[:3, :3], tcp[:3, 3] = data.site_xmat[site].reshape(3, 3), data.site_xpos[site]
            expected[profile.arm.tcp_frame] = tcp
        for camera in profile.cameras:
            if camera.mjcf_camera:
                index = model.camera(camera.mjcf_camera).id
                optical = np.eye(4)
                optical[:3, :3] = data.cam_xmat[index].reshape(3, 3) @ OPTICAL
                optical[:3, 3] = data.cam_xpos[index]
                expected[camera.optical_frame] = optical
        for name, pose in expected.items():
            actual = world_root @ links[name]
            np.testing.assert_allclose(actual[:3, 3], pose[:3, 3], atol=1e-6, err_msg=name)
            np.testing.assert_allclose(actual[:3, :3], pose[:3, :3], atol=1e-6, err_msg=name)


def test_visual_meshes_exist_and_sit_where_mujoco_draws_them(profile: RobotProfile) -> None:
    """The spec's geom pose: composed with MuJoCo's mesh re-centring, it is the compiled geom's."""
    model = profile.build_mjcf().compile()
    links = {link.get("name"): link for link in _urdf(profile).findall("link")}
    checked = 0
    for body in range(1, model.nbody):
        visuals = links[profile.ros_names(model.body(body).name)].findall("visual")
        geoms = [
            g
            for g in range(model.ngeom)
            if model.geom_bodyid[g] == body and model.geom_contype[g] == 0 and model.geom_conaffinity[g] == 0
        ]
        assert len(visuals) == len(geoms)
        for visual, geom in zip(visuals, geoms, strict=True):
            mesh = visual.find("geometry/mesh")
            if mesh is None:
                continue
            uri = urlparse(mesh.get("filename"))
            assert uri.scheme == "file" and Path(unquote(uri.path)).is_file(), mesh.get("filename")
            recentre = np.eye(4)
            mesh_id = model.geom_dataid[geom]
            recentre[:3, :3] = _quat(model.mesh_quat[mesh_id])
            recentre[:3, 3] = model.mesh_pos[mesh_id]
            compiled = np.eye(4)
            compiled[:3, :3], compiled[:3, 3] = _quat(model.geom_quat[geom]), model.geom_pos[geom]
            np.testing.assert_allclose(_origin(visual) @ recentre, compiled, atol=1e-6)
            checked += 1
    assert checked > 0


def _quat(quat: np.ndarray) -> np.ndarray:
    matrix = np.zeros(9)
    mujoco.mju_quat2Mat(matrix, np.asarray(quat, dtype=np.float64))
    return matrix.reshape(3, 3)


def test_cameras_are_in_the_models(profile: RobotProfile) -> None:
    model = profile.build_mjcf().compile()
    joints = {j.find("child").get("link"): j for j in _urdf(profile).findall("joint")}
    for camera in profile.cameras:
        if camera.mjcf_camera:  # on the robot: in its MJCF, and a fixed link on its mount in the URDF
            assert mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera.mjcf_camera) >= 0
            joint = joints[camera.optical_frame]
            assert joint.get("type") == "fixed" and joint.find("parent").get("link") == camera.mount_frame
        else:  # in the cell: hangs on the fixed frame, not part of the robot
            assert camera.mount_frame == profile.fixed_frame
            assert camera.optical_frame not in joints


def test_the_cli_prints_the_urdf(capsys: pytest.CaptureFixture[str]) -> None:
    from maestro_agent.cli import main

    assert main(["description", "franka"]) == 0
    assert capsys.readouterr().out == robot_description(get_robot("franka"))
    assert main(["description", "nope"]) == 2
    assert "unknown robot 'nope'; valid: franka" in capsys.readouterr().err


def test_arm_ik_on_a_mobile_base_moves_the_arm_only() -> None:
    """The go2w's model floats its base and has legs: the arm's IK must keep them in the stand (it moved
    the base to reach, and the arm alone was then sent the joints of that solution)."""
    from maestro_tools.motion.kinematics import ArmKinematics
    from maestro_tools.robots import go2w_piper_model as go2w

    robot = RobotModel(get_robot("go2w_piper"))
    assert len(robot.frozen_dofs) == robot.model.nv - 8  # all but six arm joints and two fingers
    assert RobotModel(get_robot("franka")).frozen_dofs == []
    data = mujoco.MjData(robot.model)
    data.qpos[:] = robot.rest_qpos
    mujoco.mj_kinematics(robot.model, data)
    axle = data.xpos[robot.model.body("FL_wheel").id][2]  # the stand the sim holds, not straight legs
    assert axle == pytest.approx(-(go2w.stand_height() - go2w.WHEEL_RADIUS), abs=0.003)
    others = np.ones(robot.model.nq, dtype=bool)
    others[robot.qpos_index] = others[robot.finger_qpos] = False
    ik = ArmKinematics(robot)
    assert np.allclose(ik.configuration.q[others], robot.rest_qpos[others])
    target = np.eye(4)
    target[:3, :3] = np.diag([-1.0, 1.0, -1.0])  # top-down, the gripper's x pointing back
    target[:3, 3] = [0.3, 0.0, -0.05]
    solution = ik.solve(target, (robot.lower + robot.upper) / 2)
    assert solution.position_error < 0.002
    assert np.allclose(ik.configuration.q[others], robot.rest_qpos[others], atol=1e-6)
    assert np.allclose(ik.fk(solution.q)[:3, 3], target[:3, 3], atol=0.003)
