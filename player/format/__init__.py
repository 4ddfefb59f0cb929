"""The script format: the YAML reader, schema, model, breathing patterns, durations and starters."""
