//! State (placeholder, being written).
