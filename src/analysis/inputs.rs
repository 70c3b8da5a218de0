//! What the analysis of one parsed core works on (`analyze_core`'s input). Not part
//! of the API: tests and fuzz targets reach it through `mutexdiag::internals::analysis`.

use super::Peer;
use crate::coredump::Core;
use crate::mappings::Mapping;
use crate::symbols::Modules;

/// What the analysis of one core works on.
#[derive(Clone, Copy)]
pub struct Inputs<'a, 'd> {
    /// The parsed core.
    pub core: &'a Core<'d>,
    /// `mappings::build(core)`.
    pub maps: &'a [Mapping],
    /// The input's name, for the report.
    pub path: &'a str,
    /// The executable's bytes (`--binary`), for static executables' libc detection.
    pub exe: Option<&'a [u8]>,
    /// The modules with their symbols and debug info, when files are available.
    pub modules: Option<&'a Modules>,
    /// Summaries of the other processes' cores.
    pub peers: &'a [Peer],
}
