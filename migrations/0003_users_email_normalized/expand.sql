-- The sync function takes no lock on users; plpgsql resolves the column at run time.
CREATE FUNCTION users_email_normalized_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.email_normalized := lower(NEW.email);
    RETURN NEW;
END
$$;

-- Fires for every insert and update, so rows touched by old code get the value too.
CREATE TRIGGER users_email_normalized_sync
    BEFORE INSERT OR UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION users_email_normalized_sync();

-- One catalog-only ALTER: a nullable column and a NOT VALID check (no scan).
-- The check guards new writes now; switch-reads validates the old rows.
ALTER TABLE users
    ADD COLUMN email_normalized text,
    ADD CONSTRAINT users_email_normalized_not_null
        CHECK (email_normalized IS NOT NULL) NOT VALID;

CREATE INDEX CONCURRENTLY users_email_normalized_idx ON users (email_normalized);
