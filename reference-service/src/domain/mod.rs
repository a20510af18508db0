//! The business domain, free of HTTP.

pub mod item;
