"""The production-shaped stack launcher and its helpers, shared by the integration tests and
the benchmarks and load tools (tools/); never imported by the site."""
