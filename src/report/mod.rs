//! Rendering: the serialisable model and its text, JSON and markdown forms.

pub mod hex;
pub mod markdown;
pub mod model;
pub mod text;

pub use hex::Hex;
