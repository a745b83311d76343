"""Storage: the database (engines, connections, migrations), its tables and rows, and files."""
