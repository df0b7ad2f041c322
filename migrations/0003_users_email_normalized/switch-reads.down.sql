-- Back to the NOT VALID check expand created, in one quick ALTER.
ALTER TABLE users
    DROP CONSTRAINT users_email_normalized_not_null,
    ADD CONSTRAINT users_email_normalized_not_null
        CHECK (email_normalized IS NOT NULL) NOT VALID;
