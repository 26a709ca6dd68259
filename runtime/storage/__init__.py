"""Storage engines shared by every service: SQLite files (embedded) and MongoDB (production)."""
