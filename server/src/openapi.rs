//! The OpenAPI 3.1 document of the whole HTTP API, generated from
//! [`crate::endpoints::ENDPOINTS`] so that it lists exactly the routes served, with the roles each
//! allows (`x-roles`), the schema of each request body and of each answer, and served at
//! `/api/openapi.json`.
//!
//! The schemas are declared here, beside the table, in a small builder (`obj`, `arr`, …): the
//! answers are built by several crates (serde types of the protocol, civic records filtered by
//! their privacy class, analytics layers), so `server/tests/openapi.rs` holds each declaration to
//! what the server really sends: it calls every GET route and the writes it exercises, and checks
//! each answer against its schema (unknown keys refused where a schema is closed). A route the
//! table gains without an answer here is still documented, and that test names it.

use axum::http::Method;
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
        "Consultation": s(json!({"project": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"}, "questions": {"type": "array", "minItems": 1, "maxItems": 20, "items": {"type": "object", "properties": {"text": {"type": "string"}, "kind": {"enum": ["consent", "choice"]}, "alternatives": {"type": "array", "items": {"type": "string"}, "maxItems": 10}}, "required": ["text"]}}, "scopes": {"type": "array", "items": {"type": "string"}}, "tally": {"description": "when the tallies are published while open: every N ballots cast or changed (default 10) or only at the close; {\"every\": 1} is an open tally", "oneOf": [{"const": "close"}, {"type": "object", "properties": {"every": {"type": "integer", "minimum": 1, "maximum": 10000}}, "required": ["every"], "additionalProperties": false}]}}), &["project", "title", "questions"]),
        "Close": s(json!({"outcome": {"enum": ["approved", "rejected"]}}), &[]),
        "Objection": s(json!({"text": {"type": "string", "maxLength": 4000}}), &["text"]),
        "ObjectionAnswer": s(json!({"answer": {"type": "string", "maxLength": 4000}}), &["answer"]),
        "Vote": s(json!({"alternative": {"type": "integer", "minimum": 0, "description": "index into the question's alternatives"}}), &["alternative"]),
        "Report": s(json!({"project": {"type": "string"}, "category": {"enum": reports::CATEGORIES}, "description": {"type": "string", "maxLength": 2000}, "element": {"type": "string"}, "point": point, "photo": {"type": "object", "properties": {"content_type": {"enum": ["image/jpeg", "image/png", "image/webp"]}, "data": {"type": "string", "contentEncoding": "base64", "description": "at most 2 MiB decoded"}}, "required": ["content_type", "data"]}}), &["category", "description"]),
        "ReportUpdate": s(json!({"status": {"enum": reports::STATUSES}, "message": {"type": "string", "maxLength": 2000}}), &["status", "message"]),
        "Flag": s(json!({"target": {"enum": ["comment", "report"]}, "id": {"type": "integer"}, "reason": {"type": "string", "maxLength": 500}}), &["target", "id", "reason"]),
        "Decision": s(json!({"action": {"enum": ["hide", "restore"]}, "reason": {"type": "string", "maxLength": 500}}), &["action", "reason"]),
        "ClockCommand": {"oneOf": [{"enum": ["play", "pause"]}, s(json!({"speed": {"type": "number", "exclusiveMinimum": 0, "description": "simulated days per real second"}}), &["speed"]), s(json!({"seek": {"type": "integer", "description": "simulated day, clamped to the plan"}}), &["seek"])]},
        "EventRequest": s(json!({"kind": {"enum": ["consultation_closed", "approval_granted", "approval_refused", "owner_named", "funding_named"]}, "project": {"type": "string"}, "day": {"type": "integer"}, "date": {"type": "string", "format": "date"}, "outcome": {"enum": ["approved", "rejected"]}, "approval": {"type": "string"}, "name": {"type": "string"}, "scopes": {"type": "object", "additionalProperties": {"enum": ["approved", "rejected"]}}}), &["kind", "project"]),
        "Readings": s(json!({"readings": {"type": "array", "items": s(json!({"sensor": {"type": "string"}, "t": {"type": "integer", "description": "Unix seconds (UTC)"}, "value": {"type": "number", "description": "hourly LAeq in dB(A) for noise, hourly mean in µg/m³ for PM10"}, "max": {"type": ["number", "null"], "description": "maximum level in the interval, where the sensor reports it"}}), &["sensor", "t", "value"])}}), &["readings"]),
        "BcfArchive": {"type": "string", "format": "binary", "description": "a .bcf (zip) file, at most 8 MiB"},
    })
}

/// `{"type": ty}`.
fn t(ty: &str) -> Value {
    json!({ "type": ty })
}

/// `ty` or null.
fn nul(ty: &str) -> Value {
    json!({ "type": [ty, "null"] })
}

/// A reference to a component schema.
fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn arr(items: Value) -> Value {
    json!({ "type": "array", "items": items })
}

/// A map from names to `values`.
fn map(values: Value) -> Value {
    json!({ "type": "object", "additionalProperties": values })
}

fn date() -> Value {
    json!({ "type": "string", "format": "date" })
}

fn time() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

fn fields(list: &[(&str, Value)]) -> (Map<String, Value>, Vec<String>) {
    let mut props = Map::new();
    let mut required = Vec::new();
    for (name, schema) in list {
        let (name, optional) = match name.strip_suffix('?') {
            Some(n) => (n, true),
            None => (*name, false),
        };
        if !optional {
            required.push(name.to_owned());
        }
        props.insert(name.to_owned(), schema.clone());
    }
    (props, required)
}

/// A closed object: exactly these properties (`name?`: may be absent, e.g. withheld from the
/// public by its privacy class).
fn obj(list: &[(&str, Value)]) -> Value {
    let (props, required) = fields(list);
    json!({ "type": "object", "properties": props, "required": required, "additionalProperties": false })
}

/// An open object: at least these properties (large analytic layers, whose nested records are
/// documented at the level a client needs to find its way).
fn open(list: &[(&str, Value)]) -> Value {
    let (props, required) = fields(list);
    json!({ "type": "object", "properties": props, "required": required })
}

/// The answers' component schemas.
fn answer_schemas() -> Value {
    let point =
        || json!({"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3});
    let ids = || arr(t("integer"));
    let phase = obj(&[
        ("project", t("string")),
        (
            "kind",
            json!({"enum": renewtwin_protocol::PhaseKind::ALL.iter().map(|k| k.key()).collect::<Vec<_>>()}),
        ),
        ("start", t("integer")),
        ("end", t("integer")),
        ("status", t("string")),
        ("note", nul("string")),
    ]);
    let states: Vec<&str> = renewtwin_protocol::LifecycleState::ALL
        .iter()
        .map(|s| s.key())
        .collect();
    let progress = obj(&[
        ("actual_start", nul("string")),
        ("actual_finish", nul("string")),
        ("delay_days", t("integer")),
        ("percent_complete", t("number")),
        ("records", t("integer")),
    ]);
    let entries: Vec<(&str, Value)> = vec![
        (
            "Health",
            obj(&[
                ("status", json!({"const": "ok"})),
                ("version", t("string")),
                ("scene", t("string")),
                ("elements", t("integer")),
                ("day", t("integer")),
                ("date", date()),
                ("viewer_built", t("boolean")),
            ]),
        ),
        (
            "Cluster",
            obj(&[
                ("clustered", t("boolean")),
                ("stream", nul("string")),
                ("connected", t("boolean")),
                ("applied", t("integer")),
                ("seq", t("integer")),
                ("day", t("integer")),
            ]),
        ),
        ("Phase", phase),
        (
            "Element",
            open(&[
                ("id", t("integer")),
                ("global_id", t("string")),
                ("class", t("string")),
                ("name", nul("string")),
                ("state", json!({"enum": states})),
            ]),
        ),
        (
            "Scene",
            obj(&[
                ("name", t("string")),
                (
                    "bbox",
                    json!({"type": "array", "items": t("number"), "minItems": 6, "maxItems": 6, "description": "min x, y, z, max x, y, z in metres"}),
                ),
                ("plan_start", date()),
                ("plan_end", t("integer")),
                ("day", t("integer")),
                ("sim_date", date()),
                ("meshes", t("integer")),
                ("triangles", t("integer")),
                ("phases", arr(r("Phase"))),
                ("elements", arr(r("Element"))),
            ]),
        ),
        (
            "ClockAccepted",
            obj(&[(
                "accepted",
                json!({"description": "the ClockCommand as sent: \"play\", \"pause\", {\"speed\": N} or {\"seek\": DAY}"}),
            )]),
        ),
        (
            "Event",
            obj(&[
                ("day", t("integer")),
                ("date", date()),
                ("project", t("string")),
                ("kind", t("string")),
            ]),
        ),
        (
            "ElementDetails",
            open(&[
                ("id", t("integer")),
                ("global_id", t("string")),
                ("class", t("string")),
                ("state", json!({"enum": states})),
            ]),
        ),
        (
            "Tree",
            obj(&[
                (
                    "nodes",
                    arr(open(&[
                        ("id", t("integer")),
                        ("class", t("string")),
                        ("kind", t("string")),
                        ("global_id", t("string")),
                        ("name", nul("string")),
                        ("parent", nul("integer")),
                        ("elements", ids()),
                    ])),
                ),
                (
                    "unplaced",
                    json!({"type": "array", "items": {"type": "integer"}, "description": "elements outside the spatial tree"}),
                ),
            ]),
        ),
        (
            "SceneViewpoint",
            open(&[("name", t("string")), ("eye", point()), ("target", point())]),
        ),
        (
            "Scenarios",
            obj(&[
                ("plan_start", date()),
                ("plan_end", t("integer")),
                ("playing", nul("string")),
                ("started_with", nul("string")),
                (
                    "scenarios",
                    arr(obj(&[
                        ("name", t("string")),
                        ("title", t("string")),
                        ("variants", arr(obj(&[("model", t("string")), ("elements", t("integer"))]))),
                        ("replaced", t("integer")),
                    ])),
                ),
                ("choices", arr(obj(&[("day", t("integer")), ("date", date()), ("project", t("string")), ("scenario", t("string"))]))),
            ]),
        ),
        ("Layer", open(&[("legend", t("array"))])),
        (
            "Sun",
            obj(&[
                ("date", date()),
                ("time", t("string")),
                ("latitude", t("number")),
                ("longitude", t("number")),
                ("azimuth", t("number")),
                ("elevation", t("number")),
                ("direction", arr(t("number"))),
                ("term", json!({"type": ["string", "null"], "enum": ["dahan", "dongzhi", null]})),
                (
                    "rule",
                    obj(&[
                        ("standard_day", json!({"type": "string", "enum": ["dahan", "dongzhi"]})),
                        ("name", t("string")),
                        ("year", t("integer")),
                        ("min_hours", t("number")),
                        ("from_hour", t("number")),
                        ("to_hour", t("number")),
                        ("source", t("string")),
                    ]),
                ),
            ]),
        ),
        (
            "IngestReport",
            obj(&[
                ("accepted", t("integer")),
                ("duplicates", t("integer")),
                (
                    "rejected",
                    arr(obj(&[("index", t("integer")), ("reason", t("string"))])),
                ),
                ("alerts", arr(r("Alert"))),
            ]),
        ),
        (
            "Alert",
            open(&[
                ("id", t("string")),
                ("sensor", t("string")),
                ("kind", t("string")),
                ("rule", t("string")),
                ("source", t("string")),
                ("date", t("string")),
                ("t", t("integer")),
                ("value", t("number")),
                ("limit", t("number")),
                ("unit", t("string")),
                ("message", t("string")),
            ]),
        ),
        ("Alerts", obj(&[("alerts", arr(r("Alert")))])),
        (
            "Sensors",
            obj(&[
                ("limits", open(&[])),
                (
                    "sensors",
                    arr(open(&[
                        (
                            "sensor",
                            open(&[
                                ("id", t("string")),
                                ("kind", t("string")),
                                ("position", point()),
                                ("source", t("string")),
                            ]),
                        ),
                        ("unit", t("string")),
                        ("latest", json!({"type": ["object", "null"]})),
                    ])),
                ),
            ]),
        ),
        (
            "Series",
            obj(&[
                ("sensor", t("string")),
                ("from", t("integer")),
                ("to", t("integer")),
                ("step", t("integer")),
                ("buckets", arr(t("object"))),
            ]),
        ),
        (
            "RiskLayer",
            open(&[
                ("year", t("integer")),
                (
                    "buildings",
                    arr(open(&[
                        ("building", t("integer")),
                        ("global_id", t("string")),
                        ("name", t("string")),
                        ("score", t("number")),
                        ("elements", ids()),
                    ])),
                ),
            ]),
        ),
        (
            "PopulationLayer",
            open(&[(
                "model",
                open(&[("model", t("string")), ("homes", t("array"))]),
            )]),
        ),
        (
            "Grants",
            obj(&[
                ("account", t("integer")),
                ("grants", arr(json!({"enum": ["publish", "moderate"]}))),
            ]),
        ),
        (
            "Approval",
            open(&[
                ("project", t("string")),
                ("approval", t("string")),
                ("name", t("string")),
                ("authority", t("string")),
                ("status", t("string")),
                ("received_day", nul("integer")),
                ("due_day", nul("integer")),
                ("decided_day", nul("integer")),
            ]),
        ),
        ("Approvals", open(&[("approvals", arr(r("Approval")))])),
        (
            "ApprovalDecided",
            open(&[
                ("approval", t("string")),
                ("authority", t("string")),
                ("decision", json!({"enum": ["granted", "refused"]})),
                ("day", t("integer")),
                ("reason", t("string")),
            ]),
        ),
        (
            "ProgressReport",
            obj(&[
                ("today", t("integer")),
                ("today_date", t("string")),
                ("simulated_day", t("integer")),
                ("simulated_date", t("string")),
                ("plan_start", t("string")),
                ("plan_end", t("string")),
                (
                    "tasks",
                    arr(obj(&[
                        ("project", nul("string")),
                        ("task", t("string")),
                        ("name", t("string")),
                        ("planned_start", nul("string")),
                        ("planned_finish", nul("string")),
                    ])),
                ),
                (
                    "indicators",
                    open(&[("planned", t("object")), ("actual", t("object"))]),
                ),
                (
                    "projects",
                    arr(obj(&[
                        ("project", t("string")),
                        ("name", t("string")),
                        ("actual", progress.clone()),
                    ])),
                ),
                ("records", arr(t("object"))),
            ]),
        ),
        ("Created", obj(&[("id", t("integer"))])),
        (
            "EvaluationEntry",
            obj(&[
                ("project", nul("string")),
                ("at", t("string")),
                ("evaluation", t("object")),
            ]),
        ),
        (
            "AuditReceipt",
            obj(&[("audit_seq", t("integer")), ("audit_hash", t("string"))]),
        ),
        (
            "Audit",
            obj(&[
                (
                    "chain",
                    obj(&[
                        ("entries", t("integer")),
                        ("intact", t("boolean")),
                        ("first_broken", nul("integer")),
                    ]),
                ),
                ("personal_data", t("boolean")),
                (
                    "entries",
                    arr(open(&[
                        ("seq", t("integer")),
                        ("at", t("string")),
                        ("action", t("string")),
                        ("actor_role", t("string")),
                        ("subject", t("string")),
                        ("prev_hash", t("string")),
                        ("hash", t("string")),
                    ])),
                ),
            ]),
        ),
        (
            "Classification",
            map(map(
                json!({"enum": ["public", "internal", "personal", "confidential"]}),
            )),
        ),
        (
            "Session",
            obj(&[
                ("id", t("integer")),
                ("role", t("string")),
                ("token", t("string")),
                ("expires_at", time()),
            ]),
        ),
        (
            "Account",
            obj(&[
                ("id", t("integer")),
                ("username", t("string")),
                ("display_name", t("string")),
                ("role", t("string")),
                ("organisation", nul("string")),
                ("capacity", nul("string")),
                ("building", nul("string")),
                ("grants", arr(t("string"))),
            ]),
        ),
        (
            "InvitationIssued",
            obj(&[
                ("code", t("string")),
                ("role", t("string")),
                ("household", nul("string")),
                ("building", nul("string")),
                ("organisation", nul("string")),
                ("capacity", nul("string")),
            ]),
        ),
        (
            "Projects",
            obj(&[
                ("day", t("integer")),
                ("date", date()),
                ("simulated_day", t("integer")),
                ("simulated_date", date()),
                ("today", date()),
                ("today_day", t("integer")),
                (
                    "projects",
                    arr(obj(&[
                        ("id", t("string")),
                        ("name", t("string")),
                        ("phases", arr(r("Phase"))),
                        ("progress", progress),
                    ])),
                ),
                ("consultations", arr(r("ConsultationRecord"))),
                (
                    "plan",
                    obj(&[
                        ("scenario", t("string")),
                        ("started_with", t("string")),
                        ("choices", arr(obj(&[("day", t("integer")), ("date", date()), ("project", t("string")), ("scenario", t("string"))]))),
                    ]),
                ),
            ]),
        ),
        (
            "Follow",
            json!({"type": "string", "description": "project id"}),
        ),
        (
            "AnnouncementRecord",
            obj(&[
                ("id", t("integer")),
                ("kind", json!({"enum": ["announcement", "policy"]})),
                ("project", nul("string")),
                ("title", t("string")),
                ("body", t("string")),
                ("published_at", time()),
                ("author_role?", t("string")),
                ("author_org?", nul("string")),
                ("author_id?", t("integer")),
                ("author_name?", t("string")),
            ]),
        ),
        (
            "CommentRecord",
            obj(&[
                ("id", t("integer")),
                ("body", t("string")),
                ("created_at", time()),
                ("project", nul("string")),
                ("parent", nul("integer")),
                ("element", nul("string")),
                ("point", json!({"anyOf": [point(), {"type": "null"}]})),
                ("viewpoint", json!({"type": ["object", "null"]})),
                ("hidden", t("boolean")),
                ("hidden_reason", nul("string")),
                ("bcf_guid", t("string")),
                ("author_role?", t("string")),
                ("author_org?", nul("string")),
                ("author_id?", t("integer")),
                ("author_name?", t("string")),
                ("review?", json!({"type": ["object", "string", "null"]})),
                ("replies?", arr(r("CommentRecord"))),
            ]),
        ),
        (
            "ConsultationRecord",
            open(&[
                ("id", t("integer")),
                ("project", t("string")),
                ("title", t("string")),
                ("status", json!({"enum": ["open", "closed"]})),
                ("tally_publication", json!({"oneOf": [{"const": "close"}, {"type": "object", "properties": {"every": t("integer")}, "required": ["every"]}]})),
                ("tally_as_of_ballots", t("integer")),
                (
                    "questions",
                    arr(open(&[
                        ("id", t("integer")),
                        ("text", t("string")),
                        ("alternatives", arr(t("string"))),
                    ])),
                ),
            ]),
        ),
        (
            "Ballot",
            obj(&[
                ("ballot", t("object")),
                ("consultation", r("ConsultationRecord")),
            ]),
        ),
        ("OwnBallot", t("object")),
        (
            "ReportRecord",
            obj(&[
                ("id", t("integer")),
                ("category", json!({"enum": reports::CATEGORIES})),
                ("description", t("string")),
                ("status", json!({"enum": reports::STATUSES})),
                ("project", nul("string")),
                ("element", nul("string")),
                ("point", json!({"anyOf": [point(), {"type": "null"}]})),
                ("has_photo", t("boolean")),
                ("created_at", time()),
                ("first_answer_at", nul("string")),
                ("closed_at", nul("string")),
                ("hidden", t("boolean")),
                ("hidden_reason", nul("string")),
                ("bcf_guid", t("string")),
                ("reporter_role?", t("string")),
                ("reporter_id?", t("integer")),
                ("reporter_name?", t("string")),
                ("review?", json!({"type": ["object", "string", "null"]})),
                ("updates?", arr(t("object"))),
            ]),
        ),
        (
            "Flagged",
            obj(&[("flagged", t("boolean")), ("hidden", t("boolean"))]),
        ),
        ("ModerationItem", t("object")),
        (
            "BcfImported",
            obj(&[
                ("topics", t("integer")),
                ("comments", t("integer")),
                ("skipped_topics", t("integer")),
            ]),
        ),
        (
            "Indicators",
            open(&[
                ("generated_at", time()),
                (
                    "participation",
                    arr(open(&[
                        ("building", t("string")),
                        ("households", t("integer")),
                        ("rate", t("number")),
                    ])),
                ),
                ("reports", t("object")),
            ]),
        ),
        (
            "OpenApi",
            open(&[
                ("openapi", json!({"const": "3.1.0"})),
                ("paths", t("object")),
            ]),
        ),
    ];
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// What a route answers on success: status, media type and schema.
fn answer(method: &Method, path: &str) -> Option<(u16, &'static str, Value)> {
    let json = |status: u16, schema: Value| Some((status, "application/json", schema));
    let list = |name: &str| Some((200, "application/json", arr(r(name))));
    let m = method.as_str();
    match (m, path) {
        ("GET", "/api/health") => json(200, r("Health")),
        ("GET", "/api/cluster") => json(200, r("Cluster")),
        ("GET", "/api/scene") => json(200, r("Scene")),
        ("GET", "/ws") => Some((101, "", Value::Null)),
        ("POST", "/api/clock") => json(202, r("ClockAccepted")),
        // Objections: described at the level a client needs (open objects).
        ("POST", "/api/consultations/{id}/objections") => json(201, json!({"type": "object", "description": "the objection as filed: id, consultation, text, filed_day"})),
        ("GET", "/api/consultations/{id}/objections") => json(200, arr(json!({"type": "object", "description": "an objection with its answer, if any"}))),
        ("POST", "/api/objections/{id}/answer") => json(200, json!({"type": "object", "description": "the objection with its answer and answered_day"})),
        ("GET", "/api/events") => list("Event"),
        ("POST", "/api/events") => json(201, r("Event")),
        ("GET", "/api/states") => Some((
            200,
            "application/octet-stream",
            json!({"type": "string", "format": "binary", "description": "one byte per element, in scene order: the index of its state in [existing, planned, under_construction, renewed, built, under_demolition, demolished, temporary, removed]"}),
        )),
        ("GET", "/api/viewer/element/{id}") => json(200, r("ElementDetails")),
        ("GET", "/api/viewer/tree") => json(200, r("Tree")),
        ("GET", "/api/viewer/viewpoints") => list("SceneViewpoint"),
        ("GET", "/api/viewer/sun") => json(200, r("Sun")),
        ("GET", "/api/viewer/scenarios") => json(200, r("Scenarios")),
        ("GET", "/api/viewer/layer") => json(200, r("Layer")),
        ("POST", "/api/sensors/readings") => json(200, r("IngestReport")),
        ("GET", "/api/sensors") => json(200, r("Sensors")),
        ("GET", "/api/sensors/{id}/series") => json(200, r("Series")),
        ("GET", "/api/alerts") => json(200, r("Alerts")),
        ("GET", "/api/risk") => json(200, r("RiskLayer")),
        ("GET", "/api/population") => json(200, r("PopulationLayer")),
        ("GET", "/" | "/{*path}") => Some((
            200,
            "text/html",
            json!({"type": "string", "description": "the viewer's page and files (HTML, JavaScript, wasm, CSS) by their own media type"}),
        )),
        ("GET", "/api/scene/{hash}/frames/{n}") => Some((
            200,
            "application/octet-stream",
            json!({"type": "string", "format": "binary", "description": "a postcard-encoded ServerMsg::Meshes frame (PROTOCOL.md)"}),
        )),
        ("GET", "/api/export/scene.glb" | "/api/export/tiles/tiles/{tile}") => Some((
            200,
            "model/gltf-binary",
            json!({"type": "string", "format": "binary", "description": "glTF 2.0 binary (GLB)"}),
        )),
        ("GET", "/api/export/tiles/tileset.json") => Some((
            200,
            "application/json",
            json!({"type": "object", "description": "a 3D Tiles 1.1 tileset (asset, geometricError, root with its ECEF transform, boxes and content URIs)", "required": ["asset", "geometricError", "root"]}),
        )),
        ("POST", "/api/grants") => json(201, r("Grants")),
        ("GET", "/api/approvals") => json(200, r("Approvals")),
        ("POST", "/api/approvals/{project}/{approval}") => json(201, r("ApprovalDecided")),
        ("GET", "/api/progress") => json(200, r("ProgressReport")),
        ("POST", "/api/progress") => json(201, r("Created")),
        ("GET", "/api/evaluations") => list("EvaluationEntry"),
        ("POST", "/api/evaluations") => json(201, r("AuditReceipt")),
        ("GET", "/api/audit") => json(200, r("Audit")),
        ("GET", "/api/audit.csv" | "/api/indicators.csv") => Some((200, "text/csv", t("string"))),
        ("GET", "/api/openapi.json") => json(200, r("OpenApi")),
        ("GET", "/api/consultation/classification") => json(200, r("Classification")),
        ("POST", "/api/auth/bootstrap" | "/api/auth/signup") => json(201, r("Session")),
        ("POST", "/api/auth/login") => json(200, r("Session")),
        ("POST", "/api/auth/logout") => Some((204, "", Value::Null)),
        ("GET", "/api/auth/me") => json(200, r("Account")),
        ("POST", "/api/invitations") => json(201, r("InvitationIssued")),
        ("GET", "/api/projects") => json(200, r("Projects")),
        ("GET", "/api/follows") => list("Follow"),
        ("PUT" | "DELETE", "/api/projects/{project}/follow")
        | ("PUT", "/api/projects/{project}/satisfaction") => Some((204, "", Value::Null)),
        ("GET", "/api/announcements") => list("AnnouncementRecord"),
        ("POST", "/api/announcements") => json(201, r("AnnouncementRecord")),
        ("GET", "/api/comments") => list("CommentRecord"),
        ("POST", "/api/comments") => json(201, r("CommentRecord")),
        ("GET", "/api/comments/{id}") => json(200, r("CommentRecord")),
        ("GET", "/api/consultations") => list("ConsultationRecord"),
        ("POST", "/api/consultations") => json(201, r("ConsultationRecord")),
        ("GET", "/api/consultations/{id}") => json(200, r("ConsultationRecord")),
        ("POST", "/api/consultations/{id}/close") => json(200, r("ConsultationRecord")),
        ("PUT", "/api/questions/{id}/vote") => json(200, r("Ballot")),
        ("GET", "/api/questions/{id}/vote") => json(200, r("OwnBallot")),
        ("GET", "/api/reports") => list("ReportRecord"),
        ("POST", "/api/reports") => json(201, r("ReportRecord")),
        ("GET", "/api/reports/{id}") => json(200, r("ReportRecord")),
        ("POST", "/api/reports/{id}/updates") => json(201, r("ReportRecord")),
        ("GET", "/api/reports/{id}/photo") => Some((
            200,
            "image/*",
            json!({"type": "string", "format": "binary", "description": "JPEG, PNG or WebP, metadata stripped"}),
        )),
        ("POST", "/api/flags") => json(201, r("Flagged")),
        ("GET", "/api/moderation/queue") => list("ModerationItem"),
        ("POST", "/api/moderation/{target}/{id}") => Some((204, "", Value::Null)),
        ("GET", "/api/export/bcf") => Some((
            200,
            "application/octet-stream",
            json!({"type": "string", "format": "binary", "description": "a BCF 3.0 archive (zip)"}),
        )),
        ("POST", "/api/import/bcf") => json(201, r("BcfImported")),
        ("GET", "/api/indicators") => json(200, r("Indicators")),
        _ => None,
    }
}

/// The query parameters of a route: name, JSON type, description (all optional).
fn query(method: &Method, path: &str) -> &'static [(&'static str, &'static str, &'static str)] {
    const SCENARIO: (&str, &str, &str) = (
        "scenario",
        "string",
        "a scenario's name, `base` for the base plan; absent: the plan being played",
    );
    if *method != Method::GET {
        return &[];
    }
    match path {
        "/ws" => &[
            (
                "format",
                "string",
                "`json` for JSON text frames instead of binary postcard",
            ),
            (
                "token",
                "string",
                "a session token: consultation events in the form the account may see",
            ),
            (
                "only",
                "string",
                "`comments`: consultation events only, no scene",
            ),
        ],
        "/api/states" => &[
            ("day", "integer", "simulated day; absent: the live day"),
            SCENARIO,
        ],
        "/api/viewer/layer" => &[
            ("name", "string", "`phase`, `risk`, `noise`, `sunlight` or `disruption`"),
            ("day", "integer", "simulated day; absent: the live day"),
            SCENARIO,
        ],
        "/api/export/scene.glb" | "/api/export/tiles/tileset.json" | "/api/export/tiles/tiles/{tile}" => &[
            ("date", "string", "YYYY-MM-DD; absent: the live day"),
            SCENARIO,
        ],
        "/api/sensors/{id}/series" => &[
            ("from", "string", "Unix seconds or YYYY-MM-DD"),
            ("to", "string", "Unix seconds or YYYY-MM-DD"),
            ("step", "integer", "bucket width in seconds (default 3600)"),
        ],
        "/api/alerts" => &[
            ("from", "string", "Unix seconds or YYYY-MM-DD"),
            ("to", "string", "Unix seconds or YYYY-MM-DD"),
            ("limit", "integer", "at most this many, newest first"),
        ],
        "/api/progress" => &[("project", "string", "one project's id")],
        "/api/audit" | "/api/audit.csv" => &[
            ("after", "integer", "entries after this sequence number"),
            ("limit", "integer", "at most this many"),
        ],
        "/api/announcements" => &[
            ("kind", "string", "`announcement` or `policy`"),
            ("project", "string", "one project's id"),
        ],
        "/api/comments" => &[
            ("project", "string", "one project's id"),
            ("element", "string", "an element's GlobalId"),
            ("parent", "integer", "replies to this comment"),
            ("after", "integer", "comments after this id"),
            ("limit", "integer", "at most this many"),
        ],
        "/api/reports" => &[
            ("status", "string", "one status"),
            ("after", "integer", "reports after this id"),
        ],
        _ => &[],
    }
}

/// Request and answer schemas in one map.
fn all_schemas() -> Value {
    let mut all = schemas();
    if let (Some(to), Value::Object(answers)) = (all.as_object_mut(), answer_schemas()) {
        for (name, schema) in answers {
            let clash = to.insert(name.clone(), schema);
            debug_assert!(clash.is_none(), "schema {name} declared twice");
        }
    }
    all
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for e in ENDPOINTS {
        let mut op = Map::new();
        op.insert("summary".into(), e.summary.into());
        op.insert(
            "x-roles".into(),
            json!(e.allow.iter().map(|w| w.name()).collect::<Vec<_>>()),
        );
        if !e.allow.contains(&Who::Role(Role::Public)) {
            op.insert("security".into(), json!([{"bearer": []}]));
        }
        let params: Vec<Value> = e
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                let schema = if name == "id" {
                    json!({"type": "integer"})
                } else {
                    json!({"type": "string"})
                };
                json!({"name": name, "in": "path", "required": true, "schema": schema})
            })
            .collect();
        let mut params = params;
        params.extend(query(&e.method, e.path).iter().map(|(name, ty, description)| {
            json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": ty}})
        }));
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        if let Some(body) = e.body {
            let media = if body == "BcfArchive" {
                "application/octet-stream"
            } else {
                "application/json"
            };
            op.insert("requestBody".into(), json!({"required": true, "content": {media: {"schema": {"$ref": format!("#/components/schemas/{body}")}}}}));
        }
        let error = json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
        let mut responses = Map::new();
        match answer(&e.method, e.path) {
            Some((status, media, schema)) => {
                let mut ok = json!({"description": "success"});
                if !media.is_empty() {
                    ok["content"] = json!({ media: {"schema": schema} });
                }
                responses.insert(status.to_string(), ok);
            }
            None => {
                let ok = if e.method == Method::POST {
                    "201"
                } else {
                    "200"
                };
                responses.insert(
                    ok.into(),
                    json!({"description": "success (answer not yet described)"}),
                );
            }
        }
        if e.path == "/api/scene/{hash}/frames/{n}" {
            responses.insert("304".into(), json!({"description": "not modified: If-None-Match named the frame's ETag"}));
        }
        for status in [
            "400", "401", "403", "404", "409", "413", "422", "429", "503",
        ] {
            responses.insert(status.into(), error.clone());
        }
        op.insert("responses".into(), Value::Object(responses));
        let entry = paths
            .entry(e.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(m) = entry.as_object_mut() {
            m.insert(e.method.as_str().to_ascii_lowercase(), Value::Object(op));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "renewtwin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The live twin (scene, states, clock, events, viewer panels, layers, sensors), its exports, and the public consultation. Government (1), professional bodies (N) and residents (X) take part in the renewal. Send `Authorization: Bearer TOKEN` from /api/auth/login or /api/auth/signup; without it you are a public visitor. Each field is public, internal, personal or confidential (see /api/consultation/classification); the same filter applies to the /ws stream (connect with ?token=TOKEN).",
        },
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}, "schemas": all_schemas()},
        "paths": paths,
    })
}
