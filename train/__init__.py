"""Training recipes (outside the product package: nothing under qa/ imports this)."""
