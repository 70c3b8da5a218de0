//! Helpers shared by integration tests.

pub mod solaris_core;
