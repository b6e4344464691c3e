//! The OpenAPI document against the server that serves it: every route the router serves is
//! described with the schema of its answer, each answer the server gives to a GET (and to the
//! writes exercised here) matches the schema the document declares for it, and the document
//! passes PyPI `openapi-spec-validator` (installed by `scripts/setup.sh --test`).

mod common;

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn call(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(body).await.expect("write body");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut response))
        .await
        .expect("in time")
        .expect("read");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let mut body = response[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, head, body)
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            std::str::from_utf8(&raw[..eol]).expect("chunk size").trim(),
            16,
        )
        .expect("hex size");
        if size == 0 {
            break;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
    }
    out
}

/// Where `value` breaks `schema` (a JSON Schema subset: `$ref`, `type`, `enum`, `const`,
/// `properties`, `required`, `additionalProperties`, `items`, `oneOf`/`anyOf`), or `None`.
fn violation(doc: &Value, schema: &Value, value: &Value, at: &str) -> Option<String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r
            .strip_prefix("#/components/schemas/")
            .expect("a component reference");
        let target = &doc["components"]["schemas"][name];
        assert!(!target.is_null(), "{at}: dangling reference {r}");
        return violation(doc, target, value, at);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = schema.get(key).and_then(Value::as_array) {
            let fits = alts
                .iter()
                .filter(|s| violation(doc, s, value, at).is_none())
                .count();
            let ok = if key == "oneOf" { fits == 1 } else { fits >= 1 };
            if !ok {
                let why: Vec<String> = alts
                    .iter()
                    .filter_map(|s| violation(doc, s, value, at))
                    .collect();
                return Some(format!(
                    "{at}: {fits} of the {key} alternatives fit {value}: {why:?}"
                ));
            }
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Some(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        return Some(format!("{at}: {value} is not {c}"));
    }
    if let Some(ty) = schema.get("type") {
        let types: Vec<&str> = match ty {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => panic!("{at}: a type is a string or a list"),
        };
        let fits = types.iter().any(|t| match *t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "string" => value.is_string(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            other => panic!("{at}: unknown type {other}"),
        });
        if !fits {
            return Some(format!("{at}: {} is not of type {types:?}", short(value)));
        }
    }
    if let Some(object) = value.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(name) {
                return Some(format!(
                    "{at}: required {name:?} is missing from {}",
                    short(value)
                ));
            }
        }
        for (key, v) in object {
            match props.and_then(|p| p.get(key)) {
                Some(s) => {
                    if let Some(why) = violation(doc, s, v, &format!("{at}.{key}")) {
                        return Some(why);
                    }
                }
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        return Some(format!("{at}: {key:?} is not declared"));
                    }
                    Some(s @ Value::Object(_)) => {
                        if let Some(why) = violation(doc, s, v, &format!("{at}.{key}")) {
                            return Some(why);
                        }
                    }
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            if let Some(why) = violation(doc, items, v, &format!("{at}[{i}]")) {
                return Some(why);
            }
        }
    }
    None
}

fn short(value: &Value) -> String {
    let s = value.to_string();
    if s.len() > 200 {
        format!("{}…", &s[..s.floor_char_boundary(200)])
    } else {
        s
    }
}

/// The schema the document declares for `status` of `method path`, with its media type.
fn answer_schema<'a>(
    doc: &'a Value,
    method: &str,
    path: &str,
    status: u16,
) -> Option<(&'a str, &'a Value)> {
    let content =
        doc["paths"][path][method]["responses"][status.to_string()]["content"].as_object()?;
    let (media, body) = content.iter().next()?;
    Some((media.as_str(), &body["schema"]))
}

#[test]
fn every_operation_declares_its_answer_and_every_reference_resolves() {
    let doc = renewtwin_server::openapi::document();
    let mut operations = 0;
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("operations") {
            operations += 1;
            let responses = op["responses"].as_object().expect("responses");
            let success: Vec<&String> = responses
                .keys()
                .filter(|s| s.starts_with('2') || s.as_str() == "101")
                .collect();
            assert!(
                !success.is_empty(),
                "{method} {path} declares a success answer"
            );
            for status in success {
                let r = &responses[status];
                if status != "204" && status != "101" {
                    assert!(
                        r["content"].is_object(),
                        "{method} {path} {status} declares its content: {r}"
                    );
                }
            }
        }
    }
    // The table is the router (its own test reads the router's source); the document is the table.
    assert_eq!(
        operations,
        renewtwin_server::endpoints::ENDPOINTS.len(),
        "one operation per route of the table"
    );
    for e in renewtwin_server::endpoints::ENDPOINTS {
        let op = &doc["paths"][e.path][e.method.as_str().to_ascii_lowercase()];
        assert!(
            op.is_object(),
            "{} {} is served but not documented",
            e.method,
            e.path
        );
        let described = op["responses"]
            .as_object()
            .expect("responses")
            .values()
            .all(|r| r["description"] != "success (answer not yet described)");
        assert!(
            described,
            "{} {}: its answer is not described in server/src/openapi.rs `answer`",
            e.method, e.path
        );
        if let Some(body) = e.body {
            assert!(
                doc["components"]["schemas"][body].is_object(),
                "{} {}: no schema {body}",
                e.method,
                e.path
            );
        }
    }
    // Every `$ref` in the document names a component.
    let text = doc.to_string();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &piece[..piece.find('"').expect("end of reference")];
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling $ref to {name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_the_server_gives_matches_its_schema() {
    let server = common::start_with_analytics(common::default_scene(), 0.0).await;
    let addr = server.addr;
    let doc = renewtwin_server::openapi::document();
    let doc_ref = &doc;
    let send = |method: &'static str,
                path: &'static str,
                route: &'static str,
                token: Option<String>,
                body: Value| async move {
        // The example request matches the body schema the document declares.
        let declared = &doc_ref["paths"][route][method.to_ascii_lowercase()]["requestBody"]["content"]
            ["application/json"]["schema"];
        if !declared.is_null()
            && let Some(why) = violation(
                doc_ref,
                declared,
                &body,
                &format!("{method} {route} request"),
            )
        {
            panic!("{why}");
        }
        let (status, head, bytes) = call(
            addr,
            method,
            path,
            token.as_deref(),
            body.to_string().as_bytes(),
        )
        .await;
        (status, head, bytes)
    };
    let dump = std::env::var_os("RENEWTWIN_DUMP_ANSWERS").is_some();
    let mut checked = Vec::new();
    let mut wrong = Vec::new();
    let mut check = |method: &str, path: &str, status: u16, head: &str, body: &[u8]| {
        if dump {
            eprintln!(
                "== {method} {path} {status}\n{}",
                String::from_utf8_lossy(&body[..body.len().min(1500)])
            );
            return;
        }
        let declared = &doc["paths"][path][method]["responses"][status.to_string()];
        assert!(
            declared.is_object(),
            "{method} {path}: {status} is not a documented answer"
        );
        if status == 204 {
            assert!(body.is_empty(), "{method} {path}: 204 has no body");
            checked.push(format!("{method} {path}"));
            return;
        }
        let (media, schema) = answer_schema(&doc, method, path, status)
            .unwrap_or_else(|| panic!("{method} {path}: no schema for {status}"));
        let content_type = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-type: ")
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        assert!(
            content_type.starts_with(media),
            "{method} {path}: served as {content_type}, documented as {media}"
        );
        if media == "application/json" {
            let value: Value = serde_json::from_slice(body).expect("JSON answer");
            if let Some(why) = violation(&doc, schema, &value, &format!("{method} {path} {status}"))
            {
                wrong.push(why);
            }
        }
        checked.push(format!("{method} {path}"));
    };

    // Writes that leave something to read, each answer checked too.
    let (status, head, body) = send(
        "POST",
        "/api/auth/bootstrap",
        "/api/auth/bootstrap",
        None,
        json!({"username": "gov", "password": "district office 1", "display_name": "Li"}),
    )
    .await;
    let gov: Value = serde_json::from_slice(&body).expect("json");
    check("post", "/api/auth/bootstrap", status, &head, &body);
    let gov = gov["token"].as_str().expect("token").to_owned();
    let scene: Value =
        serde_json::from_slice(&call(addr, "GET", "/api/scene", None, b"").await.2).expect("scene");
    let element = scene["elements"][0]["global_id"]
        .as_str()
        .expect("an element")
        .to_owned();
    let writes: [(&str, &str, &str, Value); 11] = [
        (
            "POST",
            "/api/comments",
            "/api/comments",
            json!({"body": "the lift shaft blocks the window", "element": element}),
        ),
        (
            "POST",
            "/api/reports",
            "/api/reports",
            json!({"category": "structure", "description": "loose railing", "point": [1.0, 2.0, 0.0]}),
        ),
        (
            "POST",
            "/api/reports/1/updates",
            "/api/reports/{id}/updates",
            json!({"status": "in_progress", "message": "inspected"}),
        ),
        (
            "POST",
            "/api/announcements",
            "/api/announcements",
            json!({"kind": "announcement", "title": "Works start", "body": "Monday"}),
        ),
        (
            "POST",
            "/api/invitations",
            "/api/invitations",
            json!({"role": "resident", "household": "B1-1-101", "building": "B1"}),
        ),
        (
            "POST",
            "/api/flags",
            "/api/flags",
            json!({"target": "comment", "id": 1, "reason": "off topic"}),
        ),
        (
            "PUT",
            "/api/projects/lifts/follow",
            "/api/projects/{project}/follow",
            json!({}),
        ),
        (
            "POST",
            "/api/auth/login",
            "/api/auth/login",
            json!({"username": "gov", "password": "district office 1"}),
        ),
        ("POST", "/api/clock", "/api/clock", json!({"speed": 2.0})),
        (
            "POST",
            "/api/sensors/readings",
            "/api/sensors/readings",
            json!({"readings": [{"sensor": "noise-S", "t": 1772463600, "value": 48.0}]}),
        ),
        (
            "POST",
            "/api/events",
            "/api/events",
            json!({"kind": "owner_named", "project": "park", "day": 200, "name": "Street office"}),
        ),
    ];
    for (method, path, route, body) in writes {
        // Readings come from a sensor gateway or the operator (this machine), not an account.
        let token = (route != "/api/sensors/readings").then(|| gov.clone());
        let (status, head, bytes) = send(method, path, route, token, body).await;
        assert!(
            status < 300,
            "{method} {path}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
        check(&method.to_ascii_lowercase(), route, status, &head, &bytes);
    }

    let scene_hash = server.state.scene.scene_hash.to_string();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        if ops.get("get").is_none() || path == "/ws" {
            continue;
        }
        let concrete = path
            .replace("/api/viewer/element/{id}", "/api/viewer/element/0")
            .replace("/api/sensors/{id}", "/api/sensors/noise-S")
            .replace("{id}", "1")
            .replace("{project}", "lifts")
            .replace("{hash}", &scene_hash)
            .replace("{n}", "0")
            .replace("{*path}", "index.html");
        let concrete = match path.as_str() {
            "/api/viewer/layer" => format!("{concrete}?name=phase"),
            "/api/export/scene.glb" => format!("{concrete}?date=2026-09-01"),
            _ => concrete,
        };
        let (status, head, body) = call(addr, "GET", &concrete, Some(&gov), b"").await;
        check("get", path, status, &head, &body);
    }
    assert!(
        wrong.is_empty(),
        "answers that break their schema:\n{}",
        wrong.join("\n")
    );
    assert!(
        dump || checked.len() >= 40,
        "the answers checked: {checked:?}"
    );
}

/// The document passes `openapi-spec-validator` (OpenAPI 3.1 and its JSON Schema dialect).
#[test]
fn the_document_passes_openapi_spec_validator() {
    let required = std::env::var_os("RENEWTWIN_REQUIRE_VALIDATORS").is_some_and(|v| v == "1");
    let Some(python) = validator_python() else {
        assert!(
            !required,
            "RENEWTWIN_REQUIRE_VALIDATORS=1 but openapi-spec-validator is not installed (scripts/setup.sh --test)"
        );
        eprintln!(
            "skipped: openapi-spec-validator is not installed (scripts/setup.sh --test installs it)"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("renewtwin-openapi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("openapi.json");
    std::fs::write(
        &file,
        serde_json::to_vec_pretty(&renewtwin_server::openapi::document()).expect("json"),
    )
    .expect("write");
    let out = std::process::Command::new(&python)
        .args(["-m", "openapi_spec_validator", "--schema", "3.1.0"])
        .arg(&file)
        .output()
        .expect("run the validator");
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "openapi-spec-validator refuses the document:\n{text}"
    );
    assert!(text.contains("OK"), "the validator says OK: {text}");
}

/// The Python of the virtual environment `scripts/setup.sh --test` installs the validators into.
fn validator_python() -> Option<std::path::PathBuf> {
    let cache = std::env::var_os("RENEWTWIN_PY_CACHE")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(std::path::PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache"))
                })?;
            Some(base.join("renewtwin/python"))
        })?;
    let python = cache.join("bin/python3");
    let ok = std::process::Command::new(&python)
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(python)
}
