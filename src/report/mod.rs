//! Rendering: the serialisable model and its text, JSON, markdown and Graphviz forms.

pub mod dot;
/// `Hex`: machine words as `"0x…"` strings in JSON.
pub mod hex;
pub mod markdown;
pub mod model;
#[cfg(feature = "cli")]
pub mod text;

pub use hex::Hex;
