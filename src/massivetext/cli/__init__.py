"""The ``massivetext`` command line: a thin layer over the Python API, one module per verb."""
