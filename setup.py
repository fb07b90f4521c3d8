"""Build-time layout: the top-level sql/ and config/ folders ship inside the package.

Everything else is declared in pyproject.toml. The package list is computed so that
a new sub-package is never left out of the wheel; the two data folders are added
under the names the code reads them by (dispatch/resources.py).
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["dispatch", "dispatch.*"]), "dispatch.sql",
              "dispatch.config"],
    package_dir={"dispatch.sql": "sql", "dispatch.config": "config"},
)
