"""The client proxy: what generated code calls (robot, perception, grasping, geometry, image_editor)."""
