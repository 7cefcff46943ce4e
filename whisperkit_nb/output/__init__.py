"""Output: the DataFrame schema (`dataframe`), and the exports (`export`, one module per format in `formats`)."""
