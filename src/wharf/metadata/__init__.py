"""Engine metadata in SQLite (an embedded database: no server). See ``db.py`` for the schema."""
