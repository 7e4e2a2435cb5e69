"""An app over a temporary store with three accounts (admin, oper, watch), lifespan running."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.central.viewer.helpers import Env, add_accounts, make_env, seed


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    built = await make_env(tmp_path)
    await seed(built.store)
    async with built.app.router.lifespan_context(built.app):
        await add_accounts(built.accounts)
        yield built
    await built.store.close()


@pytest.fixture
async def empty_env(tmp_path: Path) -> AsyncIterator[Env]:
    """No accounts at all: the first start."""
    built = await make_env(tmp_path)
    async with built.app.router.lifespan_context(built.app):
        yield built
    await built.store.close()
