"""Robot profiles, registered by name; nodes pick one with their ``robot`` parameter.

A new robot is a new file declaring a ``RobotProfile`` plus one ``register`` line here.
"""

from __future__ import annotations

from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.robots.franka import FRANKA
from maestro_tools.robots.go2w_piper import GO2W_PIPER
from maestro_tools.robots.libero import LIBERO
from maestro_tools.robots.profile import RobotProfile

_PROFILES: dict[str, RobotProfile] = {}


def register(profile: RobotProfile) -> RobotProfile:
    if profile.name in _PROFILES and _PROFILES[profile.name] is not profile:
        raise InvalidArgumentError(f"a robot named {profile.name!r} is registered already")
    _PROFILES[profile.name] = profile
    return profile


def robot_names() -> tuple[str, ...]:
    return tuple(sorted(_PROFILES))


def get_robot(name: str) -> RobotProfile:
    try:
        return _PROFILES[name]
    except KeyError:
        raise InvalidArgumentError(f"unknown robot {name!r}; valid: {', '.join(robot_names())}") from None


register(FRANKA)
register(GO2W_PIPER)
register(LIBERO)

__all__ = ["RobotProfile", "get_robot", "register", "robot_names"]
