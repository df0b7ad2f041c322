"""The example schema the operation tests start from (the shape of migrations 0001-0002)."""

from __future__ import annotations

import psycopg

SCHEMA = """
CREATE TABLE orgs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL
);
CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL,
    name text NOT NULL,
    age integer,
    org_id bigint,
    nickname text,
    plan text NOT NULL DEFAULT 'free',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (email);
INSERT INTO orgs (name) SELECT 'org ' || g FROM generate_series(1, 5) AS g;
INSERT INTO users (email, name, age, org_id, nickname)
SELECT 'u' || g || '@example.com', 'First' || g || ' Last' || g,
       CASE WHEN g % 7 = 0 THEN NULL ELSE 20 + g % 50 END, 1 + g % 5,
       CASE WHEN g % 3 = 0 THEN NULL ELSE 'nick' || g END
FROM generate_series(1, 300) AS g;
"""


def create_schema(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
