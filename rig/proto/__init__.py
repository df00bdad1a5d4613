"""Wire schemas shared by the rig's transports and the simulated boards (no I/O, no logic)."""
