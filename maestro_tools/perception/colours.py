"""Colour words for RGB values (plain Python): the geometric detector names clusters with them, and the
simulator names recoloured objects with them, so both say "purple" for the same purple."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

COLOURS = (
    "red",
    "orange",
    "yellow",
    "green",
    "cyan",
    "blue",
    "purple",
    "pink",
    "white",
    "grey",
    "black",
    "brown",
)
_HUES = ((15, "red"), (40, "orange"), (70, "yellow"), (160, "green"), (195, "cyan"), (250, "blue"))
_HUES += ((290, "purple"), (335, "pink"), (360, "red"))


def colour_name(rgb: Sequence[float]) -> str:
    """A colour word for a mean RGB (0..255)."""
    hue, lightness, saturation = colorsys.rgb_to_hls(*(float(c) / 255.0 for c in rgb[:3]))
    if saturation < 0.25 or lightness < 0.12 or lightness > 0.9:
        return "black" if lightness < 0.2 else "white" if lightness > 0.75 else "grey"
    degrees = hue * 360
    if lightness < 0.35 and 15 <= degrees < 45:
        return "brown"
    return next((name for limit, name in _HUES if degrees < limit), "red")


def recoloured(label: str, rgb: Sequence[float]) -> str:
    """``label`` with its colour word (if it has one) replaced by the name of ``rgb`` (0..255):
    ("red block", purple) -> "purple block"; a label without a colour word is returned as it is."""
    words = label.split(" ")
    for index, word in enumerate(words):
        if word.lower() in COLOURS:
            words[index] = colour_name(rgb)
            return " ".join(words)
    return label
