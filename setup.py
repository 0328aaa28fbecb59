"""The package list, found rather than written out (everything else is in pyproject.toml).

Every package under ``app/`` is found, so a new one (like ``app.receiver``) is installed by a
plain ``pip install .`` without editing a list; ``app.resources`` is the top-level
``resources/`` folder, mapped in pyproject.toml's ``[tool.setuptools.package-dir]``, which no
finder sees as a package, so it is named here.
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["app", "app.*"]), "app.resources"])
