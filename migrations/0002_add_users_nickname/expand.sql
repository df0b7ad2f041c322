-- Nullable with no default: a catalog-only change, old code never notices it.
ALTER TABLE users ADD COLUMN nickname text;
