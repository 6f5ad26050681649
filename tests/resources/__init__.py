"""Test resources: toy nodes for engine tests and fixture custom node packs."""
