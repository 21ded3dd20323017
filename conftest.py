"""Repository root conftest: makes the bench fixtures (`fixtures/`) available to `bench/` and tests."""

pytest_plugins = ("fixtures.harness",)
