"""The web pages: views, forms, URLs, health checks."""
