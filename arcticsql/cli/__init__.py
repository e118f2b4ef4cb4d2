"""The ``arcticsql`` command line: the interactive shell and the ``run``, ``query``, ``ls``, ``describe`` and
``demo`` commands (``main``), with the output formats, completion and dot commands they share."""
