"""Analytics: pure functions and models over client tables (tables in, tables out)."""
