"""Open the door and enter the building: handle pressed 20, door ajar 40, door open 60, robot inside 100.

The robot starts outside, facing the door in the west wall; the door swings into the room once its
lever handle is pressed (the latch lets go past ``HANDLE_PRESSED``). ``new_object`` puts a plush toy
on the floor inside, beside the doorway (a distractor and an obstacle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from maestro_tools.sim.mobile.house import DOOR_Y, HANDLE_PRESSED, ROOM_X, ROOM_Y, HouseSetup, Plush
from maestro_tools.sim.mobile.tasks.common import NEW_PLUSH, HouseTask, vary_house
from maestro_tools.sim.tasks.base import Stage, Variation

if TYPE_CHECKING:
    from maestro_tools.sim.mobile.world import MobileWorld

OUTSIDE_START = ((ROOM_X[0] - 1.3, 0.0), 0.0)  # 1.3 m in front of the door, facing it (+x)
AJAR, OPEN = 0.2, 1.0  # rad of the leaf
INSIDE = 0.45  # m: the base's centre this far past the wall's inner face is in the building


class OpenDoor(HouseTask):
    name = "open_door"
    instruction = "Open the door and enter the building."
    paraphrases = (
        "Push the door open and go inside the building.",
        "Press the door handle, swing the door open and drive into the building.",
        "Get into the building through the door: unlatch it and open it first.",
        "Enter the house by opening its door.",
    )
    stages = (
        Stage("handle pressed", 20),
        Stage("door ajar", 40),
        Stage("door open", 60),
        Stage("robot inside the building", 100),
    )

    def build(self, scene: HouseSetup, variation: Variation) -> list[str]:
        vary_house(scene, variation, OUTSIDE_START)
        if variation.axis == "pose":  # farther from the door and turned: up to 0.4 m and 0.5 rad
            x, y = variation.xy(OUTSIDE_START[0], large=0.4)
            scene.robot_start = ((x, y), variation.yaw(OUTSIDE_START[1], large=0.5))
        if variation.axis == "new_object":
            label = str(variation.choice(list(NEW_PLUSH)))
            kind, size, rgb = NEW_PLUSH[label]
            y = float(variation.choice([DOOR_Y[0] - 0.5, DOOR_Y[1] + 0.5]))
            scene.plush.append(Plush(label, kind, (ROOM_X[0] + 0.9, y), 0.0, size, rgb))
        return ["door", "door handle"]

    def check(self, world: MobileWorld) -> dict[str, bool]:
        angle = world.door_angle()
        x, y, _ = world.robot.pose()
        return {
            "handle pressed": world.handle_angle() > HANDLE_PRESSED,
            "door ajar": angle > AJAR,
            "door open": angle > OPEN,
            "robot inside the building": x > ROOM_X[0] + INSIDE and ROOM_Y[0] < y < ROOM_Y[1],
        }
