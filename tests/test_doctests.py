"""Run the docstring examples of the public modules (they are part of the documentation)."""

import doctest
import importlib

import pytest

MODULES = ["quidam_fast", "quidam_fast.workloads", "quidam_fast.space", "quidam_fast.tech", "quidam_fast.engine",
           "quidam_fast.analysis", "quidam_fast.results", "quidam_fast.outputs", "quidam_fast.stream"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
