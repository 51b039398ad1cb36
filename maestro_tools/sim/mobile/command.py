"""Velocity commands for the simulated base: ``clamp_twist`` and ``VelocityWatchdog`` live in
``maestro_tools.common.twist`` (shared with the real-robot drivers); re-exported here for the sim."""

from __future__ import annotations

from maestro_tools.common.twist import UNUSED, VelocityCommand, VelocityWatchdog, clamp_twist

__all__ = ["UNUSED", "VelocityCommand", "VelocityWatchdog", "clamp_twist"]
