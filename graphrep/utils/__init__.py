"""Small shared helpers (atomic writes, array stores)."""
