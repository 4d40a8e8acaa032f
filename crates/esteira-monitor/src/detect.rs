//! Sequential change detectors over a stream of residuals.
