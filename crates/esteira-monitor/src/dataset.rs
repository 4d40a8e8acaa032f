//! Column-by-column drift over two datasets (files or Arrow batches).
