"""Pipeline plumbing: params loading and validation, the stage runner."""
