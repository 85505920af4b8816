"""State-free building blocks of the console's pages."""
