//! Model performance over delayed ground truth.
