-- The validated check lets SET NOT NULL skip its table scan (PostgreSQL 12+).
ALTER TABLE users ALTER COLUMN email_normalized SET NOT NULL;
