-- Monitors and retrain policies: the definition (JSON), and the progress each keeps between
-- evaluations (JSON state with an optimistic-concurrency version).
CREATE TABLE monitors (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    state_version BIGINT NOT NULL,
    created_time BIGINT NOT NULL,
    updated_time BIGINT NOT NULL
);

CREATE TABLE retrain_policies (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    state_version BIGINT NOT NULL,
    created_time BIGINT NOT NULL,
    updated_time BIGINT NOT NULL
);

-- One row per evaluated window of a monitor; the report is JSON.
CREATE TABLE monitor_results (
    id BIGSERIAL PRIMARY KEY,
    monitor TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    window_end BIGINT NOT NULL,
    alarm BIGINT NOT NULL,
    drift_share DOUBLE PRECISION,
    report TEXT NOT NULL,
    created_time BIGINT NOT NULL,
    UNIQUE (monitor, window_end)
);

-- One row per policy evaluation: retrain, avoided, cooldown or budget, with its reasons.
CREATE TABLE retrain_decisions (
    id BIGSERIAL PRIMARY KEY,
    policy TEXT NOT NULL,
    evaluated_time BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    reasons TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    firing_id TEXT,
    compute_seconds DOUBLE PRECISION,
    created_time BIGINT NOT NULL,
    UNIQUE (policy, evaluated_time)
);
CREATE INDEX retrain_decisions_by_time ON retrain_decisions (evaluated_time);
