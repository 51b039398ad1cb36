"""A small house for mobile manipulation, built with MjSpec primitives around a robot's own MJCF.

A 6 x 5 m room (x -1..5, y -2.5..2.5) whose west wall has a hinged door, latched until its lever handle
is pressed (``DoorLatch``); a white table with plush toys, a garbage can, a sofa and a shelf that hide
things, and an orange plush ball hidden on the floor behind the sofa. Outside the door is open floor.
What moves between task scenes (the toys, the can, an optional toy basket, the robot's start, tints) is a
``HouseSetup``; ``default_setup()`` is the house above, and the house tasks (``mobile/tasks``) edit it.
Every labelled geom is named ``<slug>/<k>`` and mapped to its label ("green plush ball"), for
segmentation and scoring; ``HouseLayout.bodies`` maps labels to the body whose pose is the object's.
World geoms collide with the robot's body and arm (``WORLD_CONAFFINITY``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import mujoco
import numpy as np

from maestro_tools.robots.go2w_piper_model import WORLD_CONAFFINITY
from maestro_tools.robots.profile import RobotProfile
from maestro_tools.sim.scene import slug

G = mujoco.mjtGeom
ROOM_X, ROOM_Y = (-1.0, 5.0), (-2.5, 2.5)  # m, inside faces of the walls
WALL_HEIGHT, WALL_THICKNESS = 2.2, 0.1
DOOR_Y, DOOR_HEIGHT = (-0.45, 0.45), 2.0
TABLE_CENTER, TABLE_HALF, TABLE_HEIGHT = (2.6, 1.3), (0.6, 0.35), 0.62
CAN_CENTER, CAN_RADIUS, CAN_HEIGHT, CAN_STAVES = (3.9, -1.8), 0.17, 0.42, 14
SOFA_CENTER, SHELF_CENTER = (1.2, -1.75), (4.75, 1.2)
HANDLE_PRESSED = 0.45  # rad of the lever beyond which the latch lets go
DOOR_SHUT = 0.03  # rad of the leaf within which the latch catches again
ROBOT_START = ((1.9, 0.6), 0.0)  # (x, y), yaw: in the room, facing +x
# Plush toys on the table: label, offset from the table's centre, radius (m), colour. The balls are a
# little narrower than the PiPER's 7 cm opening: a real plush ball as wide squashes as the fingers pass
# its middle, a simulated one is a near-rigid sphere that stops open fingers above it (held by the tips).
TABLE_TOYS = (
    ("green plush ball", (-0.25, -0.12), 0.032, (0.25, 0.75, 0.25)),
    ("pink plush ball", (0.05, 0.10), 0.032, (0.95, 0.5, 0.7)),
    ("blue plush ball", (0.30, -0.05), 0.030, (0.3, 0.45, 0.95)),
)
# Between the sofa's back and the wall, near its east end (an arm can reach it from beyond the sofa's end).
HIDDEN_BALL = ("orange plush ball", (1.98, -2.31), 0.032, (1.0, 0.5, 0.1))
BEAR = ("yellow plush bear", (-0.02, -0.15), 0.045, (0.95, 0.8, 0.25))  # on the table; size: body half-height
BASKET_HALF, BASKET_HEIGHT = (0.2, 0.15), 0.18  # the toy basket: inner half extents, wall height (m)
PLUSH = {  # soft, grippy contacts; a plush toy's contact patch also resists rolling between the pads
    "condim": 6,
    "friction": [1.0, 0.02, 0.005],
    "solref": [0.02, 0.8],
    "solimp": [0.6, 0.95, 0.01, 0.5, 2],
}


@dataclass(frozen=True)
class Plush:
    """A plush toy: a ball (``size`` = radius) or a bear (``size`` = half the body's height), standing on a
    support ``z`` m high (0: the floor) at ``xy``."""

    label: str
    kind: str  # "ball" | "bear"
    xy: tuple[float, float]
    z: float
    size: float
    rgb: tuple[float, float, float]
    yaw: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("ball", "bear"):
            raise ValueError(f"unknown plush kind {self.kind!r}; valid: ball, bear")


@dataclass
class HouseSetup:
    """What a task scene varies in the house: toys, the can, the toy basket (None: none), the robot's start,
    and material tints (material name -> rgb; "door", "sofa", "can", "basket", "shelf")."""

    plush: list[Plush]
    robot_start: tuple[tuple[float, float], float] = ROBOT_START
    can_center: tuple[float, float] = CAN_CENTER
    basket_center: tuple[float, float] | None = None
    tints: dict[str, tuple[float, float, float]] = field(default_factory=dict)


def default_setup() -> HouseSetup:
    """The house's toys: three balls and a bear on the white table, the orange ball behind the sofa."""
    (cx, cy), top = TABLE_CENTER, TABLE_HEIGHT
    plush = [Plush(label, "ball", (cx + dx, cy + dy), top, r, rgb) for label, (dx, dy), r, rgb in TABLE_TOYS]
    label, (dx, dy), size, rgb = BEAR
    plush.append(Plush(label, "bear", (cx + dx, cy + dy), top, size, rgb))
    label, xy, radius, rgb = HIDDEN_BALL
    plush.append(Plush(label, "ball", xy, 0.0, radius, rgb))
    return HouseSetup(plush)


@dataclass
class HouseLayout:
    """What the house holds: geom name -> label, label -> body, and where the robot starts."""

    geom_labels: dict[str, str] = field(default_factory=dict)
    bodies: dict[str, str] = field(default_factory=dict)
    robot_start: tuple[tuple[float, float], float] = ROBOT_START

    @property
    def objects(self) -> tuple[str, ...]:
        return tuple(self.bodies)


class _Builder:
    def __init__(self, spec: mujoco.MjSpec, setup: HouseSetup) -> None:
        self.spec, self.layout = spec, HouseLayout(robot_start=setup.robot_start)
        self.tints = setup.tints
        self._counts: dict[str, int] = {}

    def material(self, name: str, rgba: tuple[float, ...], **kwargs: object) -> str:
        rgba = self.tints.get(name, rgba)
        self.spec.add_material(name=name, rgba=[*rgba][:3] + [1.0], **kwargs)
        return name

    def geom(self, body: mujoco.MjsBody, label: str, **kwargs: object) -> mujoco.MjsGeom:
        """A world geom labelled ``label``; collides with the robot unless told otherwise."""
        key = slug(label)
        index = self._counts.get(key, 0)
        self._counts[key] = index + 1
        self.layout.geom_labels[f"{key}/{index}"] = label
        kwargs = {"contype": 1, "conaffinity": WORLD_CONAFFINITY, **kwargs}
        return body.add_geom(name=f"{key}/{index}", **kwargs)

    def box(
        self, body: mujoco.MjsBody, label: str, pos: tuple[float, ...], half: tuple[float, ...], mat: str
    ) -> None:
        self.geom(body, label, type=G.mjGEOM_BOX, pos=list(pos), size=list(half), material=mat)

    def body(self, label: str, pos: tuple[float, ...], free: bool = False) -> mujoco.MjsBody:
        body = self.spec.worldbody.add_body(name=slug(label), pos=list(pos))
        if free:
            body.add_freejoint()
        self.layout.bodies[label] = body.name
        return body


def add_house(spec: mujoco.MjSpec, setup: HouseSetup | None = None) -> HouseLayout:
    """Add the floor, room, furniture, toys (``setup``, default: ``default_setup()``) and lights to
    ``spec``; what was added, by label."""
    setup = default_setup() if setup is None else setup
    labels = [p.label for p in setup.plush]
    if len(set(labels)) != len(labels):
        raise ValueError(f"plush labels must be unique; got {labels}")
    build = _Builder(spec, setup)
    spec.add_texture(
        name="house_floor", type=mujoco.mjtTexture.mjTEXTURE_2D, builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
        width=256, height=256, rgb1=[0.55, 0.5, 0.45], rgb2=[0.5, 0.45, 0.4],
    )  # fmt: skip
    spec.add_texture(
        name="parquet", type=mujoco.mjtTexture.mjTEXTURE_2D, builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
        width=256, height=256, rgb1=[0.62, 0.45, 0.30], rgb2=[0.50, 0.35, 0.22],
        mark=mujoco.mjtMark.mjMARK_RANDOM, random=0.08, markrgb=[0.4, 0.28, 0.18],
    )  # fmt: skip
    spec.add_texture(
        name="fur", type=mujoco.mjtTexture.mjTEXTURE_2D, builtin=mujoco.mjtBuiltin.mjBUILTIN_FLAT,
        width=128, height=128, rgb1=[1, 1, 1], rgb2=[1, 1, 1],
        mark=mujoco.mjtMark.mjMARK_RANDOM, random=0.35, markrgb=[0.75, 0.75, 0.75],
    )  # fmt: skip
    build.material("house_floor", (1, 1, 1), textures=["", "house_floor"], texrepeat=[8, 8])
    build.material("parquet", (1, 1, 1), textures=["", "parquet"], texrepeat=[6, 6])
    build.material("wall", (0.93, 0.91, 0.86))
    world = spec.worldbody
    build.geom(world, "floor", type=G.mjGEOM_PLANE, size=[0, 0, 0.05], material="house_floor")
    (x0, x1), (y0, y1) = ROOM_X, ROOM_Y
    world.add_geom(  # the room's parquet, drawn only: the floor plane carries the contacts
        type=G.mjGEOM_BOX, pos=[(x0 + x1) / 2, 0, -0.0049], size=[(x1 - x0) / 2, (y1 - y0) / 2, 0.005],
        material="parquet", contype=0, conaffinity=0,
    )  # fmt: skip
    build.geom(  # the ceiling: a plane facing down, so views from above the house still see in
        world, "ceiling", type=G.mjGEOM_PLANE, size=[(x1 - x0) / 2, (y1 - y0) / 2, 0.05],
        pos=[(x0 + x1) / 2, 0, WALL_HEIGHT], quat=[0, 1, 0, 0], material="wall", contype=0, conaffinity=0,
    )  # fmt: skip
    _add_walls(build)
    _add_door(build)
    _add_table(build)
    _add_can(build, setup.can_center)
    _add_sofa_and_shelf(build)
    if setup.basket_center is not None:
        _add_basket(build, setup.basket_center)
    for toy in setup.plush:
        if toy.kind == "ball":
            _plush_ball(build, toy.label, (*toy.xy, toy.z + toy.size + 0.002), toy.size, toy.rgb)
        else:
            _plush_bear(build, toy)
    for x in (0.8, 3.5):  # ceiling lights; no shadows (they cost 4-8x the render time on a CPU)
        world.add_light(pos=[x, 0, 2.1], dir=[0, 0, -1], diffuse=[0.55, 0.55, 0.52], castshadow=False)
    world.add_light(pos=[-4, 0, 4], dir=[1, 0, -1], diffuse=[0.4, 0.4, 0.4], castshadow=False)
    return build.layout


def house_world(robot: RobotProfile, setup: HouseSetup | None = None) -> tuple[mujoco.MjSpec, HouseLayout]:
    """The robot's own MJCF in the house (the robot is placed at a reset, e.g. ``WheeledRobotSim``)."""
    spec = robot.build_mjcf()
    spec.modelname = f"maestro_{robot.name}_house"
    layout = add_house(spec, setup)
    spec.stat.extent, spec.stat.center = 6.0, [2.0, 0.0, 0.5]
    # Clip planes (fractions of the extent): 1.2 cm, so the wrist camera sees the fingers; 12 m.
    spec.visual.map.znear, spec.visual.map.zfar = 0.002, 2.0
    spec.visual.headlight.ambient = [0.25, 0.25, 0.25]
    spec.visual.quality.shadowsize = 0
    spec.visual.quality.offsamples = 0  # no MSAA: halves the colour render time on a CPU
    return spec, layout


def _add_walls(build: _Builder) -> None:
    """Four walls; the west one (x = ROOM_X[0]) has the doorway."""
    world, (x0, x1), (y0, y1), t = build.spec.worldbody, ROOM_X, ROOM_Y, WALL_THICKNESS
    h = WALL_HEIGHT / 2
    build.box(world, "wall", ((x0 + x1) / 2, y1 + t / 2, h), ((x1 - x0) / 2 + t, t / 2, h), "wall")
    build.box(world, "wall", ((x0 + x1) / 2, y0 - t / 2, h), ((x1 - x0) / 2 + t, t / 2, h), "wall")
    build.box(world, "wall", (x1 + t / 2, 0, h), (t / 2, (y1 - y0) / 2, h), "wall")
    (d0, d1), above = DOOR_Y, (WALL_HEIGHT - DOOR_HEIGHT) / 2
    build.box(world, "wall", (x0 - t / 2, (y1 + d1) / 2, h), (t / 2, (y1 - d1) / 2, h), "wall")
    build.box(world, "wall", (x0 - t / 2, (y0 + d0) / 2, h), (t / 2, (d0 - y0) / 2, h), "wall")
    build.box(world, "wall", (x0 - t / 2, 0, DOOR_HEIGHT + above), (t / 2, (d1 - d0) / 2, above), "wall")


def _add_door(build: _Builder) -> None:
    """A leaf hinged at its south edge that swings into the room, with a sprung lever on both faces."""
    build.material("door", (0.55, 0.36, 0.22))
    build.material("handle_metal", (0.75, 0.75, 0.78), specular=0.8, shininess=0.8)
    width = DOOR_Y[1] - DOOR_Y[0] - 0.01
    # The leaf's room face is flush with the wall's inner face and it hinges on that face's edge, so it
    # swings into the room clear of the wall beside the doorway.
    leaf = build.body("door", (ROOM_X[0] - 0.02, DOOR_Y[0] + 0.005, 0))
    leaf.add_joint(  # about -z: a positive angle opens into the room (+x), pushed from outside
        name="door_hinge", type=mujoco.mjtJoint.mjJNT_HINGE, axis=[0, 0, -1], pos=[0.02, 0, 0],
        range=[0, 1.75], limited=mujoco.mjtLimited.mjLIMITED_TRUE, damping=3.0, frictionloss=0.5,
    )  # fmt: skip
    build.geom(
        leaf, "door", type=G.mjGEOM_BOX, pos=[0, width / 2, DOOR_HEIGHT / 2 + 0.005],
        size=[0.02, width / 2, DOOR_HEIGHT / 2 - 0.015], material="door", mass=12.0,
    )  # fmt: skip
    handle = leaf.add_body(name="door_handle", pos=[0, width - 0.08, 0.95])
    build.layout.bodies["door handle"] = handle.name
    handle.add_joint(  # pressed down by up to 0.8 rad; a spring returns it
        name="door_handle", type=mujoco.mjtJoint.mjJNT_HINGE, axis=[1, 0, 0], range=[0, 0.8],
        limited=mujoco.mjtLimited.mjLIMITED_TRUE, stiffness=1.5, springref=0, damping=0.05,
    )  # fmt: skip
    for side in (-1, 1):  # a lever on each face, pointing towards the hinge
        build.geom(
            handle, "door handle", type=G.mjGEOM_CYLINDER, size=[0.012, 0.03, 0], pos=[side * 0.05, 0, 0],
            euler=[0, math.pi / 2, 0], material="handle_metal", mass=0.05,
        )  # fmt: skip
        build.geom(
            handle, "door handle", type=G.mjGEOM_CAPSULE, size=[0.011, 0, 0],
            fromto=[side * 0.08, 0, 0, side * 0.08, -0.12, 0], material="handle_metal", mass=0.05,
        )  # fmt: skip
    build.spec.add_equality(  # the latch: the leaf welded to the frame (DoorLatch switches it)
        name="door_latch", type=mujoco.mjtEq.mjEQ_WELD, name1=leaf.name, objtype=mujoco.mjtObj.mjOBJ_BODY,
        active=True,
    )  # fmt: skip


def _add_table(build: _Builder) -> None:
    build.material("white_table", (0.97, 0.97, 0.97))
    (sx, sy), height = TABLE_HALF, TABLE_HEIGHT
    table = build.body("white table", (*TABLE_CENTER, 0))
    build.box(table, "white table", (0, 0, height - 0.02), (sx, sy, 0.02), "white_table")
    for ix in (-1, 1):
        for iy in (-1, 1):
            leg = (ix * (sx - 0.04), iy * (sy - 0.04), (height - 0.04) / 2)
            build.box(table, "white table", leg, (0.02, 0.02, (height - 0.04) / 2), "white_table")


def _add_can(build: _Builder, center: tuple[float, float]) -> None:
    """An open cylinder of staves on a round bottom, so things dropped in stay in."""
    build.material("can", (0.25, 0.32, 0.28))
    can, r, n = build.body("garbage can", (*center, 0)), CAN_RADIUS, CAN_STAVES
    build.geom(
        can, "garbage can", type=G.mjGEOM_CYLINDER, size=[r, 0.01, 0], pos=[0, 0, 0.01], material="can"
    )
    stave = 2 * r * math.tan(math.pi / n) + 0.004
    for k in range(n):
        angle = 2 * math.pi * k / n
        build.geom(
            can, "garbage can", type=G.mjGEOM_BOX, size=[0.006, stave / 2, CAN_HEIGHT / 2], material="can",
            pos=[r * math.cos(angle), r * math.sin(angle), CAN_HEIGHT / 2], euler=[0, 0, angle],
        )  # fmt: skip


def _add_sofa_and_shelf(build: _Builder) -> None:
    build.material("sofa", (0.30, 0.36, 0.55))
    build.material("shelf", (0.82, 0.76, 0.66))
    sofa = build.body("sofa", (*SOFA_CENTER, 0))
    build.box(sofa, "sofa", (0, 0, 0.22), (0.9, 0.4, 0.22), "sofa")
    build.box(sofa, "sofa", (0, -0.32, 0.55), (0.9, 0.08, 0.3), "sofa")  # the back, towards the wall
    shelf = build.body("shelf", (*SHELF_CENTER, 0))
    for z in (0.02, 0.4, 0.8, 1.2):
        build.box(shelf, "shelf", (0, 0, z), (0.2, 0.5, 0.02), "shelf")
    for y in (-0.5, 0.5):
        build.box(shelf, "shelf", (0, y, 0.61), (0.2, 0.02, 0.61), "shelf")


def _add_basket(build: _Builder, center: tuple[float, float]) -> None:
    """An open box on the floor for collected toys: a bottom and four walls."""
    build.material("basket", (0.62, 0.45, 0.25))
    basket, (hx, hy), h, t = build.body("toy basket", (*center, 0)), BASKET_HALF, BASKET_HEIGHT, 0.01
    build.box(basket, "toy basket", (0, 0, t), (hx + t, hy + t, t), "basket")
    for side in (-1, 1):
        build.box(basket, "toy basket", (side * (hx + t / 2), 0, h / 2), (t / 2, hy + t, h / 2), "basket")
        build.box(basket, "toy basket", (0, side * (hy + t / 2), h / 2), (hx, t / 2, h / 2), "basket")


def _plush_material(build: _Builder, label: str, rgb: tuple[float, ...]) -> str:
    return build.material(f"mat_{slug(label)}", rgb, textures=["", "fur"], texrepeat=[3, 3], specular=0.0)


def _plush_ball(
    build: _Builder, label: str, pos: tuple[float, ...], radius: float, rgb: tuple[float, ...]
) -> None:
    material = _plush_material(build, label, rgb)
    ball = build.body(label, pos, free=True)
    build.geom(ball, label, type=G.mjGEOM_SPHERE, size=[radius, 0, 0], material=material, mass=0.06, **PLUSH)


def _plush_bear(build: _Builder, toy: Plush) -> None:
    """A teddy of ellipsoids and spheres standing on its support (sized for ``size`` = 0.045)."""
    label = toy.label
    material = _plush_material(build, label, toy.rgb)
    yaw = [math.cos(toy.yaw / 2), 0, 0, math.sin(toy.yaw / 2)]
    bear = build.body(label, (*toy.xy, toy.z + toy.size + 0.001), free=True)
    bear.quat = yaw
    kind = {"material": material, **PLUSH}
    build.geom(bear, label, type=G.mjGEOM_ELLIPSOID, size=[0.04, 0.035, 0.045], mass=0.05, **kind)
    # It sits: a flat seat under the round body (a teddy's bottom and legs), else it tips onto its face.
    build.geom(bear, label, type=G.mjGEOM_CYLINDER, size=[0.034, 0.008, 0], pos=[0.005, 0, -0.037], mass=0.03,
               **kind)  # fmt: skip
    build.geom(bear, label, type=G.mjGEOM_SPHERE, size=[0.03, 0, 0], pos=[0, 0, 0.07], mass=0.02, **kind)
    for side in (-1, 1):
        ear = [0, side * 0.022, 0.098]
        build.geom(bear, label, type=G.mjGEOM_SPHERE, size=[0.012, 0, 0], pos=ear, mass=0.002, **kind)
        arm = {"pos": [0.01, side * 0.045, 0.0], "euler": [side * 0.6, 0, 0]}
        build.geom(bear, label, type=G.mjGEOM_CAPSULE, size=[0.013, 0.02, 0], mass=0.005, **arm, **kind)


class DoorLatch:
    """Keeps the door latched while it is shut and its handle is up; call ``update`` every control step."""

    def __init__(self, model: mujoco.MjModel) -> None:
        self.equality = model.equality("door_latch").id
        self.handle = model.jnt_qposadr[model.joint("door_handle").id]
        self.hinge = model.jnt_qposadr[model.joint("door_hinge").id]

    def update(self, data: mujoco.MjData) -> bool:
        """Engage or release the latch from the handle and leaf angles; True while latched."""
        latched = data.qpos[self.handle] < HANDLE_PRESSED and abs(data.qpos[self.hinge]) < DOOR_SHUT
        data.eq_active[self.equality] = int(latched)
        return bool(latched)

    def door_angle(self, data: mujoco.MjData) -> float:
        return float(np.asarray(data.qpos[self.hinge]))

    def handle_angle(self, data: mujoco.MjData) -> float:
        """How far (rad) the lever is pressed down."""
        return float(np.asarray(data.qpos[self.handle]))
