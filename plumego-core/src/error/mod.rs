//! The error contract: the taxonomy, the [`ApiError`] and its JSON envelope.

mod api_error;
mod json;
mod kind;

pub use api_error::{ApiError, ErrorBuilder};
pub(crate) use json::write_go_json;
pub use json::{to_go_json, to_go_json_line};
pub use kind::{Category, ErrorMeta, ErrorType, code_for_status, codes, status_text};
