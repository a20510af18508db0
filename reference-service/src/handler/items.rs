//! `/api/v1/items`: CRUD with strict JSON decoding and `item.<op>.<reason>`
//! error codes.

use std::borrow::Cow;
use std::sync::Arc;

use http::StatusCode;
use http::header::CONTENT_TYPE;
use http_body_util::BodyExt;
use plumego::core::error::{ApiError, ErrorType};
use plumego::{Envelope, IntoResponse, Request, RequestExt, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::domain::item::{ItemDraft, ItemError, ItemPatch};

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;

/// The JSON body of create, replace and patch; unknown fields are rejected.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemBody {
    name: Option<String>,
    description: Option<String>,
}

fn error(t: ErrorType, code: String, message: impl Into<Cow<'static, str>>) -> ApiError {
    ApiError::builder()
        .error_type(t)
        .code(code)
        .message(message)
        .build()
}

/// The decoded value of a query parameter (`+` is a space).
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    let query = req.uri().query()?;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| {
            let value = value.replace('+', " ");
            percent_encoding::percent_decode_str(&value)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// Reads and strictly decodes the JSON body of operation `op`.
async fn read_body(req: Request, op: &str) -> Result<ItemBody, ApiError> {
    if let Some(ct) = req.headers().get(CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        if !ct.starts_with("application/json") {
            return Err(ApiError::builder()
                .status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
                .code(format!("item.{op}.unsupported_media_type"))
                .message("content type must be application/json")
                .build());
        }
    }
    let bytes = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return Err(ApiError::builder()
                .error_type(ErrorType::BadRequest)
                .code(format!("item.{op}.invalid_body"))
                .message("request body could not be read")
                .source(e)
                .build());
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(error(
            ErrorType::BadRequest,
            format!("item.{op}.body_required"),
            "request body is required",
        ));
    }
    serde_json::from_slice::<ItemBody>(&bytes).map_err(|e| {
        let text = e.to_string();
        match text
            .strip_prefix("unknown field `")
            .and_then(|r| r.split('`').next())
        {
            Some(field) => ApiError::builder()
                .error_type(ErrorType::BadRequest)
                .code(format!("item.{op}.unknown_field"))
                .message(format!("unknown field {field:?}"))
                .detail("field", field)
                .build(),
            None => ApiError::builder()
                .error_type(ErrorType::BadRequest)
                .code(format!("item.{op}.invalid_json"))
                .message("request body is not valid JSON for an item")
                .build(),
        }
    })
}

fn map_error(op: &str, e: ItemError) -> ApiError {
    match e {
        ItemError::Required(fields) => ApiError::builder()
            .error_type(ErrorType::RequiredFieldMissing)
            .code("item.fields.required")
            .message("required fields are missing")
            .detail("fields", fields)
            .build(),
        ItemError::NoFields => error(
            ErrorType::BadRequest,
            "item.patch.no_fields".into(),
            "no field to change",
        ),
        ItemError::NotFound => error(
            ErrorType::ResourceNotFound,
            "item.not_found".into(),
            "item not found",
        ),
        ItemError::Repository(source) => ApiError::builder()
            .error_type(ErrorType::Internal)
            .code(format!("item.{op}.failed"))
            .message("the item store failed")
            .source(source)
            .build(),
    }
}

fn id_of(req: &Request) -> String {
    req.param("id").unwrap_or_default().to_owned()
}

fn parse_index(
    req: &Request,
    name: &'static str,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    let Some(raw) = query_param(req, name) else {
        return Ok(default);
    };
    match raw.trim().parse::<usize>() {
        Ok(v) if v <= max && !(name == "limit" && v == 0) => Ok(v),
        _ => Err(ApiError::builder()
            .error_type(ErrorType::ValueOutOfRange)
            .code("item.list.invalid_param")
            .message(format!("{name} must be a whole number within range"))
            .detail("param", name)
            .detail("value", raw)
            .build()),
    }
}

/// `GET /api/v1/items?limit&offset`.
pub async fn list(
    state: Arc<AppState>,
    req: Request,
) -> Result<Envelope<serde_json::Value>, ApiError> {
    let limit = parse_index(&req, "limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let offset = parse_index(&req, "offset", 0, usize::MAX)?;
    let page = state
        .items
        .list(offset, limit)
        .await
        .map_err(|e| map_error("list", e))?;
    Ok(Envelope::new(json!(page.items))
        .meta("total", page.total)
        .meta("limit", limit)
        .meta("offset", offset))
}

/// `POST /api/v1/items`: 201 with the item.
pub async fn create(state: Arc<AppState>, req: Request) -> Result<Response, ApiError> {
    let body = read_body(req, "create").await?;
    let draft = ItemDraft {
        name: body.name.unwrap_or_default(),
        description: body.description.unwrap_or_default(),
    };
    let item = state
        .items
        .create(draft)
        .await
        .map_err(|e| map_error("create", e))?;
    Envelope::new(item)
        .with_status(StatusCode::CREATED)
        .map(IntoResponse::into_response)
        .map_err(|e| {
            ApiError::builder()
                .error_type(ErrorType::Internal)
                .source(e)
                .build()
        })
}

/// `GET /api/v1/items/:id`.
pub async fn get(
    state: Arc<AppState>,
    req: Request,
) -> Result<Envelope<crate::domain::item::Item>, ApiError> {
    let item = state
        .items
        .get(&id_of(&req))
        .await
        .map_err(|e| map_error("get", e))?;
    Ok(Envelope::new(item))
}

/// `PUT /api/v1/items/:id`.
pub async fn replace(
    state: Arc<AppState>,
    req: Request,
) -> Result<Envelope<crate::domain::item::Item>, ApiError> {
    let id = id_of(&req);
    let body = read_body(req, "update").await?;
    let draft = ItemDraft {
        name: body.name.unwrap_or_default(),
        description: body.description.unwrap_or_default(),
    };
    let item = state
        .items
        .replace(&id, draft)
        .await
        .map_err(|e| map_error("update", e))?;
    Ok(Envelope::new(item))
}

/// `PATCH /api/v1/items/:id`.
pub async fn patch(
    state: Arc<AppState>,
    req: Request,
) -> Result<Envelope<crate::domain::item::Item>, ApiError> {
    let id = id_of(&req);
    let body = read_body(req, "patch").await?;
    let patch = ItemPatch {
        name: body.name,
        description: body.description,
    };
    let item = state
        .items
        .patch(&id, patch)
        .await
        .map_err(|e| map_error("patch", e))?;
    Ok(Envelope::new(item))
}

/// `DELETE /api/v1/items/:id`: 204 with no body.
pub async fn delete(state: Arc<AppState>, req: Request) -> Result<StatusCode, ApiError> {
    state
        .items
        .delete(&id_of(&req))
        .await
        .map_err(|e| map_error("delete", e))?;
    Ok(StatusCode::NO_CONTENT)
}
