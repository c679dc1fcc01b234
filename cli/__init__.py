"""The ``iom`` command line. Each module registers its own sub-commands."""
