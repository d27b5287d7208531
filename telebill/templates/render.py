"""Moved to telebill/rendering/render.py (below telebill.channels, which renders with it, so that
channels and templates no longer import each other); kept for the modules still importing it
from here."""

from telebill.rendering.render import *  # noqa: F403
