"""Scripts that run the site as it runs in production: the stack launcher and the load test."""
