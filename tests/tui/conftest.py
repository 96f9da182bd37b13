from __future__ import annotations

import asyncio
import inspect

import pytest

from .fakes import fixture_snapshots


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run ``async def`` tests in a fresh event loop (Textual's run_test is async); no
    plugin needed for that."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        names = pyfuncitem._fixtureinfo.argnames
        asyncio.run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
        return True
    return None


@pytest.fixture(scope="session")
def real_snaps(real_612):
    return fixture_snapshots(real_612)
