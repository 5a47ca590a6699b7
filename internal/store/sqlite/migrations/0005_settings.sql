-- 0005_settings: values a deployment fixes once, such as the org's name
-- (it is in every user certificate's key id, so it must not change under
-- certificates already issued).
--
-- Portable like 0001: TEXT and BIGINT only.

CREATE TABLE settings (
    name       TEXT   NOT NULL PRIMARY KEY,
    value      TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
