"""particle-rig: a hardware-in-the-loop rig for Particle devices."""

__version__ = "0.1.0"
