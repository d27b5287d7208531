"""Moved to telebill/rendering/context.py (below telebill.channels, which renders with it, so that
channels and templates no longer import each other); kept for the modules still importing it
from here."""

from telebill.rendering.context import *  # noqa: F403
