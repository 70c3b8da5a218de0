//! Helpers shared by integration tests.

pub mod archive;
pub mod solaris_core;
