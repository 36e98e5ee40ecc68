"""Data preparation: frequencies and calendars, the design arrays the model reads, and the seeded
catalog generator the demo and the tests use."""
