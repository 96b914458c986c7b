-- Users of the web Billing Center and their sessions (operator tables, like api_key).

-- A customer user signs in to one billing account; an operator user to all of them. The
-- password is kept only as an argon2id hash (PHC string). Failed sign-ins in a row are counted;
-- after too many the email is locked until `locked_until`.
CREATE TABLE web_user (
    email         TEXT   NOT NULL PRIMARY KEY,
    password_hash TEXT   NOT NULL,
    scope         TEXT   NOT NULL,
    account_id    TEXT,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until  BIGINT,
    created_at    BIGINT NOT NULL
);

-- A signed-in session: only the SHA-256 hash of the cookie's token is kept, with the session's
-- CSRF token (every form that changes something carries it).
CREATE TABLE web_session (
    token_hash TEXT   NOT NULL PRIMARY KEY,
    email      TEXT   NOT NULL,
    csrf_token TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX web_session_email ON web_session (email);
