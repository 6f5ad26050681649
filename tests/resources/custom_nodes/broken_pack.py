"""A fixture pack that raises on import; the loader must record it and load the others."""

raise RuntimeError("this pack is broken on purpose")
