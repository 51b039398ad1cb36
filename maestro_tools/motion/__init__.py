"""Motion: IK, Cartesian paths and the motion node."""
