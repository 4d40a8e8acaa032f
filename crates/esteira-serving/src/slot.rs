//! A model slot whose model can be swapped atomically while requests run.
