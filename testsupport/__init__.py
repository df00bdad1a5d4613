"""Helpers and fixtures shared by tests_unit/, tests_cli/, tests_hil/ and bench/.

Tests, benchmarks and conftests import from here, never from a test module or another folder's
conftest. The shared fixtures are the pytest plugin `testsupport.fixtures`, registered once by the
root conftest.py.
"""
