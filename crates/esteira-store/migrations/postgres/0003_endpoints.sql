-- Serving endpoints: a name and its routes (model URIs with traffic weights) and shadow, as
-- JSON that the serving crate validates.
CREATE TABLE serving_endpoints (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    created_time BIGINT NOT NULL,
    updated_time BIGINT NOT NULL
);
