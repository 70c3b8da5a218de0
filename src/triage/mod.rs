//! `mutexdiag triage`: batch triage of crash archives.

pub mod sources;
