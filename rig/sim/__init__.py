"""The simulated Particle lab: boards modelled at the protocol level, behind the rig's seams.

Only the wire and fact modules (`rig.platforms`, `rig.timing`, `rig.dfu_map`, `rig.proto`,
`rig.errors`, `rig.board_settings`) and `rig.firmware` are imported from the rest of the rig;
nothing above the seams.
"""
