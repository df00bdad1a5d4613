"""labgrid: benches on many hosts through its coordinator, exporters and places (docs/multi-host.md)."""
