"""Reports of matrix runs: results.json, a trend history, the HTML matrix (JUnit and pytest-html
come from pytest itself, fed by the plugin).
"""
