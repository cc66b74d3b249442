"""The public surface of eoc.nn, and the promise that the core never imports torch."""

import subprocess
import sys

import pytest

import eoc.nn

pytestmark = pytest.mark.torch


def test_every_public_name_is_exported():
    assert sorted(eoc.nn.__all__) == sorted(set(eoc.nn.__all__))
    assert all(hasattr(eoc.nn, name) for name in eoc.nn.__all__)


def test_importing_the_core_does_not_import_torch():
    code = "import sys, eoc; assert 'torch' not in sys.modules, 'eoc imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)
