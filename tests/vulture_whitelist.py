"""Names that the dead-code check (`tests/test_dead_code.py`, vulture) cannot see being used: they are
called by a framework or read by a template, not by ksmith's own code. Never executed; vulture only
reads the names. Add a name here only with the reason it is used."""
# ruff: noqa

_ = object()

# pytest calls its hooks by name, and autouse fixtures run without being named
pytest_addoption, pytest_configure, pytest_configure_node, pytest_generate_tests
pytest_collection_modifyitems, pytest_runtest_makereport
_.pytest_runtest_logreport, _.pytest_sessionfinish, _.pytest_terminal_summary, _.pytest_sessionstart
_.pytest_collection_finish, _.pytest_xdist_node_collection_finished
pytestmark, _isolated_cache, _toy_device

# methods registered by the `register_method` decorator and found through the registry by name
AlphaEdit, IKE, ROME, TopMLPFinetune

# attributes that the `tokenizers` library reads from the objects ksmith configures
_.pre_tokenizer, _.post_processor

# record fields read by the report's jinja template (`ksmith/report/templates/index.html.j2`)
_.n_cells, _.runner_value

# record fields kept for whoever reads a result object (a regression's tolerance, what a tally's item
# is, a curve normalised by its largest value): data, not behaviour
_.tolerance, _.unit, _.normalised
