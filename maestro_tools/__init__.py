"""Maestro's module nodes (detector, keypointer, grasp planner, motion, ...) and the simulation."""
