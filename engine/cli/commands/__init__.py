"""One module per ``vocalis`` subcommand (see :mod:`engine.cli`)."""
