//! Eddy: a reactive backend whose functions are WebAssembly components.

pub mod cause;
pub mod state;
pub mod streams;
