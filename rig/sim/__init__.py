"""The simulated Particle lab: boards modelled at the protocol level, behind the rig's seams.

Only `rig.platforms`, `rig.firmware` and `rig.proto` (wire schemas) are imported from the rest
of the rig; nothing above the seams.
"""
