-- The application now writes email_normalized itself; the helpers can go.
DROP TRIGGER users_email_normalized_sync ON users;
DROP FUNCTION users_email_normalized_sync();
ALTER TABLE users DROP CONSTRAINT users_email_normalized_not_null;
