"""Particle firmware modules: parse, validate, build, releases, Intel HEX images.

Importing this package imports nothing else, so `rig.platforms` can use `rig.firmware.format`.
"""
