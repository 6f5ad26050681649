"""A folder without __init__.py is not a pack; this file must never be imported."""

raise SystemExit("folders without __init__.py are not packs")
