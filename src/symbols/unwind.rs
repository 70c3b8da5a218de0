//! Unwinding (placeholder, filled in below).

/// Parsed call-frame information of one module.
#[derive(Debug)]
pub(crate) struct Cfi;

impl super::Module {
    /// Whether call-frame information was parsed for this module yet.
    pub fn cfi_loaded(&self) -> bool {
        self.cfi.get().is_some()
    }
}
