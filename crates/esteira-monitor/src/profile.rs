//! Mergeable per-column profiles.
