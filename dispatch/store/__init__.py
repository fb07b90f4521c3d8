"""Storage: the SQL and the functions that run it, one module per aggregate."""
