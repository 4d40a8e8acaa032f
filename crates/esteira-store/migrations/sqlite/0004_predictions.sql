-- The prediction log: one row per Parquet file of logged predictions in the artifact store,
-- found by endpoint and time window.
CREATE TABLE prediction_files (
    path TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,
    row_count BIGINT NOT NULL,
    first_time BIGINT NOT NULL,
    last_time BIGINT NOT NULL,
    created_time BIGINT NOT NULL
);
CREATE INDEX prediction_files_by_time ON prediction_files (endpoint, first_time);

-- Ground truth: observed values, matched to predictions by request id or by forecast series
-- and time; value is JSON text.
CREATE TABLE ground_truth (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint TEXT NOT NULL,
    request_id TEXT,
    series TEXT,
    series_time TEXT,
    value TEXT NOT NULL,
    received_ms BIGINT NOT NULL
);
CREATE INDEX ground_truth_by_request ON ground_truth (endpoint, request_id);
CREATE INDEX ground_truth_by_series ON ground_truth (endpoint, series, series_time);
CREATE INDEX ground_truth_by_received ON ground_truth (endpoint, received_ms);
