//! Plumego-rs control plane: typed models of `specs/*.yaml` and
//! `module.yaml`, and the release gates behind `cargo xtask gates`.
//!
//! Each gate's check is a plain function over explicit inputs (a
//! [`workspace::Workspace`], parsed specs, a directory) returning a
//! [`report::CheckReport`], so tests can run it against fixtures; the
//! `gate_*` functions in [`gates`] load the real repository's inputs.
//! `docs/control-plane.md` describes the whole.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod deps;
pub mod families;
pub mod gates;
pub mod layout;
pub mod manifest;
pub mod manifests;
pub mod posture;
pub mod report;
pub mod rust_items;
pub mod spec;
pub mod util;
pub mod workspace;
