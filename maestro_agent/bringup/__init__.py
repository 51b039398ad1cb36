"""Bringup: declarative per-robot specs and the process supervisor behind ``maestro launch``."""
