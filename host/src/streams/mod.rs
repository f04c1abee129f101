//! Streams (placeholder, being written).
