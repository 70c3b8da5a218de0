//! Batch triage of crash archives (`mutexdiag triage`): many cores, bucketed into
//! distinct bugs by signature, linked into incidents across processes.
//!
//! Stages: [`sources`] walks and classifies the inputs; the driver ([`run`]) hands
//! each core to a worker process ([`worker`]), which analyses it with the same
//! analysis as `mutexdiag CORE` and returns a [`model::CoreRecord`] with its
//! [`signature`]; [`incidents`] links cores of processes that shared a mutex; the
//! [`model::TriageDoc`] is rendered by `render`.

pub mod incidents;
pub mod index;
pub mod merge;
pub mod model;
pub mod render;
pub mod run;
pub mod signature;
pub mod sources;
pub mod worker;
