"""A checkout runs the suite before it is installed: the plugins the installed distribution
registers through its ``pytest11`` entry points (`fixtures.plugin`, `report.plugin`) are
registered here by module name, which pytest skips when the entry point already did."""

pytest_plugins = ["fixtures.plugin", "report.plugin"]
