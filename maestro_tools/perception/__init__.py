"""Perception: object detection (segmentation -> masks -> 3D) and the detector node."""
