"""Every file of the package that is not Python is shipped: it matches a package-data pattern
of pyproject.toml (an installed Meterbook without its templates answers every page with 500)."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch

from tests.conftest import ROOT


def test_every_data_file_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["meterbook"]
    package = ROOT / "meterbook"
    data = [
        p.relative_to(package).as_posix()
        for p in package.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    ]
    assert "web/templates/base.html" in data and "web/static/app.js" in data
    missing = [d for d in data if not any(fnmatch(d, pattern) for pattern in patterns)]
    assert missing == []
