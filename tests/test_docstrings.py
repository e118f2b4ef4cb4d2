"""Every ``>>>`` example in the package's docstrings runs, and shows what it claims."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import arcticsql

#: Modules that need an optional dependency to import.
_OPTIONAL = {"arcticsql.cli.magics": "IPython", "arcticsql.spark": "pyspark",
             "arcticsql.sqlalchemy_dialect": "duckdb_engine"}


def _modules() -> list[str]:
    return sorted(info.name for info in pkgutil.walk_packages(arcticsql.__path__, "arcticsql.")
                  if not info.name.endswith("__main__"))  # running it is the command line


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    optional = next((dependency for prefix, dependency in _OPTIONAL.items() if name.startswith(prefix)), None)
    if optional is not None:
        pytest.importorskip(optional)
    module = importlib.import_module(name)
    failures, _tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failures == 0


def test_the_package_docstring_has_a_run_example():
    assert doctest.DocTestFinder().find(arcticsql)[0].examples
