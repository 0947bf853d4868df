"""Joint random inspection coordination bot (一业一查, 双随机、一公开)."""

__version__ = "0.1.0"
