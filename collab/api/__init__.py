"""The HTTP API (/api/v1/): documents, their content, sharing and versions, for programs."""
