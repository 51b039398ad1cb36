"""The MuJoCo Franka tabletop: scene, tasks with progress rubrics, cameras, control, and the sim node."""
