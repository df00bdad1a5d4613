"""The rig's own HIL tests, shipped with the package: the upgrade/downgrade matrix (`test_matrix`),
one user binary across Device OS versions (`test_user_binary`) and the scenarios beyond the matrix
(`test_scenarios`). `rig matrix` and `rig check-app` run them; `pytest --pyargs rig.hil` does too.
"""
