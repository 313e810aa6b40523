"""Training, evaluation and export of the emotion classifier (see README.md)."""
