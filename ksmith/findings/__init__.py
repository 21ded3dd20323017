"""The paper's findings tested on whole runs: they read results, so they sit above `ksmith.report`."""
