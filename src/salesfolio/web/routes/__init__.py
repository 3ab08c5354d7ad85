"""One module per kind of page (and ``api`` for the JSON API); each exposes ``router`` and ``NAV``."""
