"""The local demo: demo nodes, the contacts application, and `simplefailover demo`."""

from .nodes import DemoNode, demo_nodes
from .runner import intro, run_demo

__all__ = ["DemoNode", "demo_nodes", "intro", "run_demo"]
