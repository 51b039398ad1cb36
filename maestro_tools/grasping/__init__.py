"""Grasping: grasp candidates for a parallel-jaw gripper and the grasp planner node."""
