"""A demo borough: synthetic partner files (:mod:`.generate`) and loading them (:mod:`.seed`)."""

from workflow.demo.generate import generate_borough
from workflow.demo.seed import DemoReport, load_demo

__all__ = ["DemoReport", "generate_borough", "load_demo"]
