"""Repository root conftest: the bench fixtures (`fixtures/`) for `bench/`, and pytester for the
harness's own plugin tests."""

pytest_plugins = ("fixtures.harness", "pytester")
