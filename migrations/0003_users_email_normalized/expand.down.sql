DROP INDEX CONCURRENTLY IF EXISTS users_email_normalized_idx;
DROP TRIGGER IF EXISTS users_email_normalized_sync ON users;
DROP FUNCTION IF EXISTS users_email_normalized_sync();
ALTER TABLE users DROP COLUMN IF EXISTS email_normalized;
