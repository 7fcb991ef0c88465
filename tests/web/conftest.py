"""Fixtures of the web tests."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.web.browser import CHROMIUM


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium; installed here when missing (the test command does it too)."""
    if not os.path.exists(CHROMIUM) and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is missing: run scripts/test, which installs it with apt-get")
    return CHROMIUM
