-- Pipelines deployed to the server: the latest definition, and every version.
CREATE TABLE pipelines (
    name TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    digest TEXT NOT NULL,
    spec TEXT NOT NULL,
    pipeline_dir TEXT NOT NULL,
    experiment_id TEXT NOT NULL,
    created_time BIGINT NOT NULL,
    updated_time BIGINT NOT NULL
);

CREATE TABLE pipeline_versions (
    name TEXT NOT NULL REFERENCES pipelines (name) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    digest TEXT NOT NULL,
    spec TEXT NOT NULL,
    created_time BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);

-- One row per pipeline run; run_id is also the run's MLflow run id.
CREATE TABLE pipeline_runs (
    run_id TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    pipeline_version BIGINT,
    digest TEXT NOT NULL,
    spec TEXT NOT NULL,
    pipeline_dir TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    git_commit TEXT,
    git_dirty BIGINT,
    firing_id TEXT,
    no_cache BIGINT NOT NULL,
    experiment_id TEXT NOT NULL,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    message TEXT,
    created_time BIGINT NOT NULL,
    start_time BIGINT,
    end_time BIGINT,
    seq BIGINT NOT NULL
);
CREATE INDEX pipeline_runs_by_pipeline ON pipeline_runs (pipeline, created_time DESC, seq DESC);
CREATE INDEX pipeline_runs_by_time ON pipeline_runs (created_time DESC, seq DESC);
CREATE INDEX pipeline_runs_by_seq ON pipeline_runs (seq);
CREATE INDEX pipeline_runs_by_status ON pipeline_runs (status, pipeline);

-- The state of each step in a run: the work queue. A step is claimed by setting a lease.
CREATE TABLE step_runs (
    run_id TEXT NOT NULL REFERENCES pipeline_runs (run_id) ON DELETE CASCADE,
    step TEXT NOT NULL,
    step_type TEXT NOT NULL,
    status TEXT NOT NULL,
    pending BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    failures BIGINT NOT NULL DEFAULT 0,
    max_failures BIGINT NOT NULL,
    ready_time BIGINT,
    lease_owner TEXT,
    lease_token TEXT,
    lease_expires BIGINT,
    execution_id TEXT,
    reuse_execution_id TEXT,
    mlflow_run_id TEXT,
    PRIMARY KEY (run_id, step)
);
CREATE INDEX step_runs_ready ON step_runs (status, ready_time);
CREATE INDEX step_runs_leases ON step_runs (status, lease_expires);

CREATE TABLE step_edges (
    run_id TEXT NOT NULL REFERENCES pipeline_runs (run_id) ON DELETE CASCADE,
    upstream TEXT NOT NULL,
    step TEXT NOT NULL,
    PRIMARY KEY (run_id, upstream, step)
);

-- ML Metadata's model: executions and artifacts joined by input/output events, grouped by
-- contexts (a pipeline, a pipeline run) through associations and attributions.
CREATE TABLE executions (
    execution_id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    step TEXT NOT NULL,
    step_type TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    status TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    host TEXT NOT NULL,
    cache_key TEXT,
    cache_document TEXT,
    reused_execution_id TEXT,
    reason TEXT,
    exit_code BIGINT,
    log_tail TEXT,
    metrics TEXT,
    ready_time BIGINT,
    start_time BIGINT NOT NULL,
    end_time BIGINT
);
CREATE INDEX executions_by_run ON executions (run_id, step);
CREATE INDEX executions_by_cache_key ON executions (cache_key, status, end_time);
CREATE INDEX executions_by_step ON executions (pipeline, step, start_time);

CREATE TABLE lineage_artifacts (
    artifact_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    uri TEXT NOT NULL,
    digest TEXT,
    properties TEXT NOT NULL,
    created_time BIGINT NOT NULL
);
CREATE INDEX lineage_artifacts_by_uri ON lineage_artifacts (uri);
CREATE INDEX lineage_artifacts_by_digest ON lineage_artifacts (digest);

CREATE TABLE lineage_events (
    execution_id TEXT NOT NULL REFERENCES executions (execution_id) ON DELETE CASCADE,
    artifact_id TEXT NOT NULL REFERENCES lineage_artifacts (artifact_id) ON DELETE CASCADE,
    direction TEXT NOT NULL,
    port TEXT NOT NULL,
    time BIGINT NOT NULL,
    PRIMARY KEY (execution_id, direction, port)
);
CREATE INDEX lineage_events_by_artifact ON lineage_events (artifact_id, direction);

CREATE TABLE lineage_contexts (
    context_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    properties TEXT NOT NULL,
    created_time BIGINT NOT NULL
);
CREATE UNIQUE INDEX lineage_contexts_by_name ON lineage_contexts (kind, name);

CREATE TABLE lineage_associations (
    context_id TEXT NOT NULL REFERENCES lineage_contexts (context_id) ON DELETE CASCADE,
    execution_id TEXT NOT NULL REFERENCES executions (execution_id) ON DELETE CASCADE,
    PRIMARY KEY (context_id, execution_id)
);
CREATE INDEX lineage_associations_by_execution ON lineage_associations (execution_id);

CREATE TABLE lineage_attributions (
    context_id TEXT NOT NULL REFERENCES lineage_contexts (context_id) ON DELETE CASCADE,
    artifact_id TEXT NOT NULL REFERENCES lineage_artifacts (artifact_id) ON DELETE CASCADE,
    PRIMARY KEY (context_id, artifact_id)
);
CREATE INDEX lineage_attributions_by_artifact ON lineage_attributions (artifact_id);

-- Triggers of deployed pipelines, their evaluation cursor, and every firing. The unique
-- index collapses duplicate firings.
CREATE TABLE pipeline_triggers (
    pipeline TEXT NOT NULL REFERENCES pipelines (name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    spec TEXT NOT NULL,
    cursor BIGINT,
    PRIMARY KEY (pipeline, name)
);

CREATE TABLE trigger_firings (
    firing_id TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    trigger_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    cause TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    run_id TEXT,
    message TEXT,
    fired_time BIGINT NOT NULL,
    seq BIGINT NOT NULL
);
CREATE INDEX trigger_firings_by_seq ON trigger_firings (seq);
CREATE UNIQUE INDEX trigger_firings_idempotency ON trigger_firings (pipeline, trigger_name, idempotency_key);
CREATE INDEX trigger_firings_by_time ON trigger_firings (pipeline, fired_time DESC, seq DESC);

-- Every move of a registered model's alias: who, when and why.
CREATE TABLE alias_history (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL REFERENCES registered_models (name) ON UPDATE CASCADE ON DELETE CASCADE,
    alias TEXT NOT NULL,
    version BIGINT,
    previous_version BIGINT,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    time BIGINT NOT NULL
);
CREATE INDEX alias_history_by_alias ON alias_history (name, alias, id);
