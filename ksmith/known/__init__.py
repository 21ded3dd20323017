"""What a model knows: measured with the scoring engine, cached, and committed for the real models."""
