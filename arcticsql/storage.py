"""The pickle store API under the name the README first gave it: ``from arcticsql.storage import ...``.

Everything here lives in :mod:`arcticsql.pickles`; this module keeps notebooks written against the
earlier name working.
"""

from arcticsql.pickles import *  # noqa: F403 - the same public names
from arcticsql.pickles import __all__  # noqa: F401
