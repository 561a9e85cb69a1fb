"""Named, parameterised queries returning typed rows: every surface calls these."""
