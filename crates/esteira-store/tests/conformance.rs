//! The metadata store conformance suite: every test is written once against
//! [`esteira_store::MetadataStore`] and instantiated for each back end by
//! `conformance_suite!`:
//!
//! * `sqlite::<module>::<test>`: a fresh SQLite file in a temporary directory per test;
//! * `postgres::<module>::<test>`: a fresh database per test on the server named by
//!   `ESTEIRA_TEST_POSTGRES_URL` (created, then dropped). Without that variable the
//!   PostgreSQL tests print a loud "skipped" line and pass, unless `CI=true` or
//!   `ESTEIRA_REQUIRE_SERVICES=1`, where they fail.
//!
//! Run one back end with `cargo test -p esteira-store --test conformance sqlite::`.

// `[id.clone()]` reads better in assertions than `std::slice::from_ref(&id)`.
#![allow(clippy::cloned_ref_to_slice_refs)]

#[path = "conformance/harness.rs"]
mod harness;

#[path = "conformance/experiments.rs"]
mod experiments;
#[path = "conformance/inputs.rs"]
mod inputs;
#[path = "conformance/log_batch.rs"]
mod log_batch;
#[path = "conformance/logged_models.rs"]
mod logged_models;
#[path = "conformance/metric_history.rs"]
mod metric_history;
#[path = "conformance/migrations.rs"]
mod migrations;
#[path = "conformance/monitors.rs"]
mod monitors;
#[path = "conformance/pipelines.rs"]
mod pipelines;
#[path = "conformance/predictions.rs"]
mod predictions;
#[path = "conformance/registry.rs"]
mod registry;
#[path = "conformance/runs.rs"]
mod runs;
#[path = "conformance/search_runs.rs"]
mod search_runs;

/// Instantiates every listed test (`module: [test, ...]`, each an
/// `async fn(harness::Ctx) -> anyhow::Result<()>`) once per back end.
macro_rules! conformance_suite {
    ($($module:ident: [$($test:ident),* $(,)?]),* $(,)?) => {
        conformance_suite!(@backend sqlite, Sqlite; $($module: [$($test),*]),*);
        conformance_suite!(@backend postgres, Postgres; $($module: [$($test),*]),*);
    };
    (@backend $backend_mod:ident, $backend:ident; $($module:ident: [$($test:ident),*]),*) => {
        mod $backend_mod {
            $(
                mod $module {
                    $(
                        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                        async fn $test() {
                            crate::harness::run(
                                crate::harness::Backend::$backend,
                                concat!(stringify!($module), "::", stringify!($test)),
                                crate::$module::$test,
                            )
                            .await;
                        }
                    )*
                }
            )*
        }
    };
}

conformance_suite! {
    migrations: [
        default_experiment_exists,
        open_twice_is_idempotent,
    ],
    experiments: [
        create_with_default_and_explicit_locations,
        duplicate_name_is_refused,
        missing_experiments_are_not_found,
        rename,
        delete_and_restore_follow_runs,
        default_experiment_cannot_be_deleted,
        deleted_experiment_refuses_writes,
        tags_set_overwrite_delete,
        search_filters,
        search_order_and_view_types,
        search_paging_visits_every_experiment_once,
    ],
    runs: [
        create_with_generated_name,
        create_with_explicit_name_or_tag,
        conflicting_run_name_and_tag_is_refused,
        get_missing_run_is_not_found,
        update_status_end_time_and_name,
        run_name_tag_renames_the_run,
        delete_and_restore,
        writes_to_deleted_run_are_refused,
    ],
    log_batch: [
        params_are_write_once_and_batches_atomic,
        tags_last_write_wins,
        metric_history_keeps_append_order,
        identical_points_are_stored_once,
        latest_metric_is_max_by_step_timestamp_value,
        nan_and_infinities_round_trip,
        doubles_round_trip_exactly,
        limits_and_key_validation,
        concurrent_writers_of_one_param,
    ],
    metric_history: [
        paging,
        several_runs_fill_run_id,
        model_and_dataset_links_are_kept,
    ],
    search_runs: [
        metric_comparators,
        param_comparators,
        tag_comparators,
        attribute_filters,
        dataset_filters,
        order_by_metrics,
        order_by_params_and_attributes,
        default_order_and_paging,
        view_types,
        malformed_queries_are_invalid,
        several_experiments,
    ],
    inputs: [
        datasets_dedup_per_experiment_with_input_tags,
        model_inputs_and_outputs,
        concurrent_runs_log_one_dataset,
    ],
    registry: [
        registered_model_lifecycle,
        rename_carries_versions_tags_and_aliases,
        versions_are_numbered,
        concurrent_versions_are_numbered_without_gaps,
        version_get_update_delete,
        tags,
        stages_and_latest_versions,
        aliases,
        search_registered_models,
        search_model_versions,
        download_uri,
    ],
    pipelines: [
        steps_run_in_dag_order_and_the_run_ends,
        a_final_failure_skips_dependents_and_fails_the_run,
        failures_are_retried_until_the_budget_is_spent,
        an_expired_lease_is_reclaimed_and_the_old_holder_cannot_commit,
        concurrent_claims_never_hand_out_a_step_twice,
        cancel_stops_waiting_steps,
        cached_executions_are_found_by_key,
        lineage_events_link_both_ways,
        firings_collapse_by_idempotency_key,
        run_and_firing_listings_filter_by_pipeline_and_limit,
        deploy_versions_and_keeps_trigger_cursors,
        alias_moves_are_recorded,
    ],
    monitors: [
        definitions_are_kept_per_kind,
        redefining_keeps_the_state_unless_reset,
        results_and_state_move_together,
        bad_monitor_writes_are_refused,
        decisions_are_recorded_once_per_evaluation,
        bad_decisions_are_refused,
    ],
    predictions: [
        files_are_listed_by_overlapping_window,
        adding_a_file_again_changes_nothing,
        bad_prediction_files_are_refused,
        ground_truth_is_listed_by_received_time,
        many_ground_truth_values_in_one_call,
        bad_ground_truth_is_refused_whole,
    ],
    logged_models: [
        create_and_finalize,
        tags_and_params,
        search,
        delete,
        registrations,
    ],
}
