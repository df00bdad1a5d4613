"""The loopback-lab tier: faults across hosts in examples/labgrid-loopback (a coordinator, two
sshd hosts with served simulated benches, exporters). Its own pytest run (`pytest tests_lab`;
.ci/run runs it after the loopback lab's matrix): each xdist worker brings a lab up (about 20 s)
and the tests wait for real programs, minutes in all, too long for the unit suite's bar.
"""
