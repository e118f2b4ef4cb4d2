"""``python -m arcticsql``: the same as the ``arcticsql`` command."""

from arcticsql.cli.main import main

main()
