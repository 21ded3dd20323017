"""Repository root conftest: pytester for the harness's own plugin tests (the bench's fixtures come
with the bench, `ksmith/bench/conftest.py`)."""

pytest_plugins = ("pytester",)
