"""Models: the dynamic-batch export, model checks and sources, the variant registry."""
