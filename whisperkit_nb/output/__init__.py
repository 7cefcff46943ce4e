"""Output: the DataFrame schema."""
