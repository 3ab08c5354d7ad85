"""Use cases. Each service function owns its transaction: repositories and models never commit."""
