//! The OpenAPI 3.1 document of the consultation API, generated from
//! [`crate::endpoints::ENDPOINTS`] so that it lists exactly the routes served, with the roles each
//! allows (`x-roles`), and served at `/api/openapi.json`.

use serde_json::{Map, Value, json};

use renewtwin_civic::Role;
use renewtwin_civic::auth::Who;
use renewtwin_civic::reports;

use crate::endpoints::ENDPOINTS;

fn schemas() -> Value {
    let s = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required, "additionalProperties": false});
    let point = json!({"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3, "description": "metres in the scene frame, Z up"});
    let vec3 = json!({"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3});
    json!({
        "Error": {"type": "object", "properties": {"error": {"type": "string", "description": "stable code: invalid_request, unauthorized, forbidden, not_found, conflict, rate_limited, too_large, plan_rejected, storage_failed, unavailable"}, "message": {"type": "string"}}, "required": ["error", "message"]},
        "SignUp": s(json!({"invitation": {"type": "string", "description": "invitation code (not for bootstrap)"}, "username": {"type": "string", "pattern": "^[a-z0-9_.-]{3,32}$"}, "password": {"type": "string", "minLength": 10, "maxLength": 128}, "display_name": {"type": "string", "maxLength": 64}, "phone": {"type": "string", "maxLength": 20}}), &["username", "password", "display_name"]),
        "Login": s(json!({"username": {"type": "string"}, "password": {"type": "string"}}), &["username", "password"]),
        "Invitation": s(json!({"role": {"enum": ["government", "authority", "professional", "resident"]}, "household": {"type": "string"}, "building": {"type": "string"}, "organisation": {"type": "string", "description": "department; professional body; an authority's name exactly as the scene's approvals name it"}, "capacity": {"enum": ["designer", "contractor", "property_manager", "evaluator"], "description": "required for professionals"}, "floor_area_m2": {"type": "number", "minimum": 1, "maximum": 10000, "description": "residents: the household's own floor area, counted in consultation tallies instead of the model's share"}}), &["role"]),
        "Grant": s(json!({"account": {"type": "integer"}, "permission": {"enum": ["publish", "moderate"]}, "granted": {"type": "boolean", "default": true}}), &["account", "permission"]),
        "ApprovalDecision": s(json!({"decision": {"enum": ["granted", "refused"]}, "reason": {"type": "string", "maxLength": 2000}, "day": {"type": "integer", "description": "plan day; default today"}, "date": {"type": "string", "format": "date"}}), &["decision", "reason"]),
        "Progress": s(json!({"project": {"type": "string"}, "task": {"type": "string"}, "building": {"type": "string"}, "actual_start": {"type": "string", "format": "date"}, "actual_finish": {"type": "string", "format": "date"}, "percent": {"type": "number", "minimum": 0, "maximum": 100}, "delay_reason": {"type": "string", "maxLength": 500}}), &["project", "task", "percent"]),
        "Evaluation": s(json!({"project": {"type": "string"}, "score": {"type": "integer", "minimum": 1, "maximum": 5}, "body": {"type": "string", "maxLength": 5000}}), &["project", "score", "body"]),
        "Satisfaction": s(json!({"score": {"type": "integer", "minimum": 1, "maximum": 5}}), &["score"]),
        "Announcement": s(json!({"kind": {"enum": ["announcement", "policy"]}, "project": {"type": "string"}, "title": {"type": "string", "maxLength": 200}, "body": {"type": "string", "maxLength": 20000}}), &["kind", "title", "body"]),
        "Viewpoint": s(json!({"camera": vec3, "direction": vec3, "up": vec3, "field_of_view": {"type": "number", "default": 60}, "aspect_ratio": {"type": "number"}, "elements": {"type": "array", "items": {"type": "string", "description": "IFC GlobalId"}, "maxItems": 200}}), &["camera", "direction", "up"]),
        "Comment": s(json!({"project": {"type": "string"}, "parent": {"type": "integer"}, "body": {"type": "string", "maxLength": 2000}, "element": {"type": "string", "description": "IFC GlobalId"}, "point": point, "viewpoint": {"$ref": "#/components/schemas/Viewpoint"}}), &["body"]),
        "Consultation": s(json!({"project": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"}, "questions": {"type": "array", "minItems": 1, "maxItems": 20, "items": {"type": "object", "properties": {"text": {"type": "string"}, "kind": {"enum": ["consent", "choice"]}, "alternatives": {"type": "array", "items": {"type": "string"}, "maxItems": 10}}, "required": ["text"]}}, "scopes": {"type": "array", "items": {"type": "string"}}}), &["project", "title", "questions"]),
        "Close": s(json!({"outcome": {"enum": ["approved", "rejected"]}}), &[]),
        "Objection": s(json!({"text": {"type": "string", "maxLength": 4000}}), &["text"]),
        "ObjectionAnswer": s(json!({"answer": {"type": "string", "maxLength": 4000}}), &["answer"]),
        "Vote": s(json!({"alternative": {"type": "integer", "minimum": 0, "description": "index into the question's alternatives"}}), &["alternative"]),
        "Report": s(json!({"project": {"type": "string"}, "category": {"enum": reports::CATEGORIES}, "description": {"type": "string", "maxLength": 2000}, "element": {"type": "string"}, "point": point, "photo": {"type": "object", "properties": {"content_type": {"enum": ["image/jpeg", "image/png", "image/webp"]}, "data": {"type": "string", "contentEncoding": "base64", "description": "at most 2 MiB decoded"}}, "required": ["content_type", "data"]}}), &["category", "description"]),
        "ReportUpdate": s(json!({"status": {"enum": reports::STATUSES}, "message": {"type": "string", "maxLength": 2000}}), &["status", "message"]),
        "Flag": s(json!({"target": {"enum": ["comment", "report"]}, "id": {"type": "integer"}, "reason": {"type": "string", "maxLength": 500}}), &["target", "id", "reason"]),
        "Decision": s(json!({"action": {"enum": ["hide", "restore"]}, "reason": {"type": "string", "maxLength": 500}}), &["action", "reason"]),
        "BcfArchive": {"type": "string", "format": "binary", "description": "a .bcf (zip) file, at most 8 MiB"},
    })
}

/// The document.
pub(crate) fn document() -> Value {
    let mut paths = Map::new();
    for e in ENDPOINTS {
        let mut op = Map::new();
        op.insert("summary".into(), e.summary.into());
        op.insert("x-roles".into(), json!(e.allow.iter().map(|w| w.name()).collect::<Vec<_>>()));
        if !e.allow.contains(&Who::Role(Role::Public)) {
            op.insert("security".into(), json!([{"bearer": []}]));
        }
        let params: Vec<Value> = e
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                let schema = if name == "id" { json!({"type": "integer"}) } else { json!({"type": "string"}) };
                json!({"name": name, "in": "path", "required": true, "schema": schema})
            })
            .collect();
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        if let Some(body) = e.body {
            let media = if body == "BcfArchive" { "application/octet-stream" } else { "application/json" };
            op.insert("requestBody".into(), json!({"required": true, "content": {media: {"schema": {"$ref": format!("#/components/schemas/{body}")}}}}));
        }
        let error = json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
        let ok = if e.method == axum::http::Method::POST { "201" } else { "200" };
        op.insert(
            "responses".into(),
            json!({ok: {"description": "success"}, "400": error, "401": error, "403": error, "404": error, "409": error, "429": error}),
        );
        let entry = paths.entry(e.path.to_owned()).or_insert_with(|| Value::Object(Map::new()));
        if let Some(m) = entry.as_object_mut() {
            m.insert(e.method.as_str().to_ascii_lowercase(), Value::Object(op));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "renewtwin public consultation API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Government (1), professional bodies (N) and residents (X) take part in the renewal. Send `Authorization: Bearer TOKEN` from /api/auth/login or /api/auth/signup; without it you are a public visitor. Each field is public, internal, personal or confidential (see /api/consultation/classification); the same filter applies to the /ws stream (connect with ?token=TOKEN).",
        },
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}, "schemas": schemas()},
        "paths": paths,
    })
}
