"""The viewer's routes, one small module per page group."""
