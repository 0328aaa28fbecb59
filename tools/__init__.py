"""Developer tools, not part of the product package (``python -m tools.i18n_catalog``)."""
