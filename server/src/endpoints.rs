//! Every route the server serves with who may call it: the one table that the [`Caller`]
//! extractor enforces (`crate::civic`), the router-wide check refuses routes missing from
//! (`crate::router`), the OpenAPI document describes (`crate::openapi`) and the endpoint × role
//! test walks. A test here reads the router's source and fails on a route the table lacks.
//!
//! Least privilege, "1 + N + X": government (with its department) leads, opens and closes
//! consultations, issues invitations and grants powers; an authority decides only the
//! approvals that name it; professionals act in their declared capacity (a contractor records
//! progress, an evaluator reads the audit log); residents vote and rate for their household;
//! the public reads what is public. Publishing and moderating are government's unless it
//! grants the power (`granted:publish`, `granted:moderate`).
//!
//! [`Caller`]: renewtwin_civic::Caller

use axum::http::Method;
use renewtwin_civic::auth::{Capacity, Permission, Who};
use renewtwin_civic::Role;

/// A route and who may call it.
#[derive(Debug)]
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    pub allow: &'static [Who],
    pub summary: &'static str,
    /// Name of the request body schema in the OpenAPI document, if any.
    pub body: Option<&'static str>,
}

const GOV: Who = Who::Role(Role::Government);
const AUTH: Who = Who::Role(Role::Authority);
const PRO: Who = Who::Role(Role::Professional);
const RES: Who = Who::Role(Role::Resident);
const PUB: Who = Who::Role(Role::Public);
const CONTRACTOR: Who = Who::Capacity(Capacity::Contractor);
const EVALUATOR: Who = Who::Capacity(Capacity::Evaluator);
const OPERATOR: Who = Who::Operator;

const ANYONE: &[Who] = &[GOV, AUTH, PRO, RES, PUB];
const SIGNED_IN: &[Who] = &[GOV, AUTH, PRO, RES];
const STAFF: &[Who] = &[GOV, AUTH, PRO];
const GOVERNMENT: &[Who] = &[GOV];
const RESIDENT: &[Who] = &[RES];
/// Announcements and policies: government, or an account granted the power.
const PUBLISHERS: &[Who] = &[GOV, Who::Granted(Permission::Publish)];
/// Moderation: government, or an account granted the power.
const MODERATORS: &[Who] = &[GOV, Who::Granted(Permission::Moderate)];
/// An authority's inbox; government and evaluators oversee every authority's.
const APPROVAL_READERS: &[Who] = &[GOV, AUTH, EVALUATOR];
/// Deciding an approval: the authority it names (checked per approval); government records a
/// decision on an authority's behalf.
const DECIDERS: &[Who] = &[GOV, AUTH];
/// Recording actual progress.
const PROGRESS_RECORDERS: &[Who] = &[GOV, CONTRACTOR];
/// The operator controls (clock, events): government, or the operator (the server's own
/// machine without an account, `--open-controls`, or the operator's token); never another role.
const CONTROLLERS: &[Who] = &[GOV, OPERATOR];
/// Real sensor readings: a gateway with the sensor token, or the operator.
const SENSOR_GATEWAYS: &[Who] = &[Who::SensorGateway, OPERATOR];
/// Objections to a decided consultation: residents, and visitors where the project's rule
/// opens objections to the public (checked per consultation).
const OBJECTORS: &[Who] = &[RES, PUB];
/// Reading evaluations: government and evaluators.
const EVALUATION_READERS: &[Who] = &[GOV, EVALUATOR];
/// Evaluations: filed by third-party evaluators.
const EVALUATORS: &[Who] = &[EVALUATOR];

macro_rules! ep {
    ($m:ident, $p:literal, $a:expr, $s:literal) => {
        Endpoint { method: Method::$m, path: $p, allow: $a, summary: $s, body: None }
    };
    ($m:ident, $p:literal, $a:expr, $s:literal, $b:literal) => {
        Endpoint { method: Method::$m, path: $p, allow: $a, summary: $s, body: Some($b) }
    };
}

/// Every route, with who may call it.
pub static ENDPOINTS: &[Endpoint] = &[
    // The twin, the viewer and the analytics (outside the civic domain). The clock and
    // recorded events are controls of government and the operator (checked by role in
    // `AppState::controller`), readings of a sensor gateway or the operator.
    ep!(GET, "/api/health", ANYONE, "liveness, version, scene and simulated day"),
    ep!(GET, "/api/cluster", ANYONE, "whether this server is a replica of a cluster (--cluster): its JetStream stream, whether NATS is connected, the last log entry applied here, the live delta seq and day (no personal data)"),
    ep!(GET, "/api/scene", ANYONE, "the scene: elements, phases, simulated date"),
    ep!(GET, "/api/scene/{hash}/frames/{n}", ANYONE, "one mesh frame of the scene with that content hash (the bytes /ws sends), with ETag and immutable Cache-Control for proxies and CDNs; If-None-Match answers 304; public like /api/scene"),
    ep!(GET, "/ws", ANYONE, "the live twin (WebSocket); ?token= for the signed-in view of comments"),
    ep!(POST, "/api/clock", CONTROLLERS, "government or the operator (own machine, --open-controls, or the operator token): play, pause, speed, seek", "ClockCommand"),
    ep!(GET, "/api/events", ANYONE, "the governance events recorded so far"),
    ep!(POST, "/api/events", CONTROLLERS, "government or the operator: record an owner or funding named; decisions (consultation outcomes, approvals, scenario choices) are refused with the route that decides them", "EventRequest"),
    ep!(GET, "/api/states", ANYONE, "element states on a day, for a scenario"),
    ep!(GET, "/api/viewer/element/{id}", ANYONE, "one element's properties for the viewer"),
    ep!(GET, "/api/viewer/tree", ANYONE, "the spatial tree"),
    ep!(GET, "/api/viewer/viewpoints", ANYONE, "named viewpoints"),
    ep!(GET, "/api/viewer/sun", ANYONE, "the sun over the site at a date (?date=YYYY-MM-DD, or standard, dahan, dongzhi with ?year=) and true solar time (?time=), with the scene's sunlight rule"),
    ep!(GET, "/api/viewer/scenarios", ANYONE, "scenarios with their design variants (models added, base elements replaced)"),
    ep!(GET, "/api/viewer/layer", ANYONE, "a colour layer"),
    ep!(POST, "/api/sensors/readings", SENSOR_GATEWAYS, "a sensor gateway (the token the operator declared) or the operator: sensor readings", "Readings"),
    ep!(GET, "/api/sensors", ANYONE, "the sensors"),
    ep!(GET, "/api/sensors/{id}/series", ANYONE, "one sensor's series"),
    ep!(GET, "/api/alerts", ANYONE, "alerts"),
    ep!(GET, "/api/risk", ANYONE, "the risk layer"),
    ep!(GET, "/api/population", ANYONE, "the population layer"),
    ep!(GET, "/api/export/scene.glb", ANYONE, "the scene on a day (?date=, ?scenario=) as glTF 2.0 binary: lifecycle materials, instancing, element metadata; public like /api/scene"),
    ep!(GET, "/api/export/tiles/tileset.json", ANYONE, "the scene on a day (?date=, ?scenario=) as a 3D Tiles 1.1 tileset placed on the globe by its georeference (409 without one); public like /api/scene"),
    ep!(GET, "/api/export/tiles/tiles/{tile}", ANYONE, "one GLB tile (N.glb) of that tileset; public like /api/scene"),
    ep!(GET, "/", ANYONE, "the browser viewer"),
    ep!(GET, "/{*path}", ANYONE, "the viewer's files"),
    // Governance: roles, approvals, progress, audit.
    ep!(POST, "/api/grants", GOVERNMENT, "grant or take back a power beyond a role (publish, moderate); logged", "Grant"),
    ep!(GET, "/api/approvals", APPROVAL_READERS, "approvals with status and days left; an authority sees its own inbox"),
    ep!(POST, "/api/approvals/{project}/{approval}", DECIDERS, "grant or refuse an approval with a reason (its authority only); gates the plan; logged", "ApprovalDecision"),
    ep!(GET, "/api/progress", ANYONE, "actual progress per task and building beside the plan (?project=)"),
    ep!(POST, "/api/progress", PROGRESS_RECORDERS, "record actual start, finish, percent complete and delay reason; logged", "Progress"),
    ep!(GET, "/api/evaluations", EVALUATION_READERS, "third-party evaluations as stored records (?project=)"),
    ep!(POST, "/api/evaluations", EVALUATORS, "file an evaluation of a project; logged", "Evaluation"),
    ep!(GET, "/api/audit", ANYONE, "the hash-chained audit log with its verification (the public: without personal data)"),
    ep!(GET, "/api/audit.csv", ANYONE, "the audit log as CSV (the public: without personal data)"),
    ep!(GET, "/api/openapi.json", ANYONE, "this OpenAPI document"),
    ep!(GET, "/api/consultation/classification", ANYONE, "the privacy class (public, internal, personal, confidential) of every field"),
    ep!(POST, "/api/auth/bootstrap", ANYONE, "create the first government account (only from the server's own machine, only once)", "SignUp"),
    ep!(POST, "/api/auth/signup", ANYONE, "sign up with an invitation code; returns a session token", "SignUp"),
    ep!(POST, "/api/auth/login", ANYONE, "sign in; returns a session token that expires", "Login"),
    ep!(POST, "/api/auth/logout", SIGNED_IN, "end this session"),
    ep!(GET, "/api/auth/me", SIGNED_IN, "the signed-in account"),
    ep!(POST, "/api/invitations", GOVERNMENT, "issue an invitation code (a resident's is tied to one household)", "Invitation"),
    ep!(GET, "/api/projects", ANYONE, "renewal projects: phases as simulated today, and their consultations"),
    ep!(GET, "/api/follows", SIGNED_IN, "projects the account follows"),
    ep!(PUT, "/api/projects/{project}/follow", SIGNED_IN, "follow a project's progress"),
    ep!(DELETE, "/api/projects/{project}/follow", SIGNED_IN, "stop following a project"),
    ep!(PUT, "/api/projects/{project}/satisfaction", RESIDENT, "rate a project 1-5 (one answer per household, changeable)", "Satisfaction"),
    ep!(GET, "/api/announcements", ANYONE, "announcements and policies (?kind=policy, ?project=)"),
    ep!(POST, "/api/announcements", PUBLISHERS, "publish an announcement or a policy", "Announcement"),
    ep!(GET, "/api/comments", ANYONE, "comments (?project=, ?element=, ?parent=, ?after=, ?limit=)"),
    ep!(POST, "/api/comments", SIGNED_IN, "comment on an element, a point or a viewpoint, or reply (parent)", "Comment"),
    ep!(GET, "/api/comments/{id}", ANYONE, "one comment and its replies"),
    ep!(GET, "/api/consultations", ANYONE, "consultations with their questions and public tallies"),
    ep!(POST, "/api/consultations", GOVERNMENT, "open a consultation on a project (consent or choice questions, optional scopes), once its consultation phase has opened", "Consultation"),
    ep!(GET, "/api/consultations/{id}", ANYONE, "one consultation with its tallies"),
    ep!(POST, "/api/consultations/{id}/close", GOVERNMENT, "close after the publicity period: the outcome is computed from the ballots under the project's rule (Civil Code art. 278 by default), per scope, and recorded as consultation_closed; an asserted outcome that contradicts it is refused", "Close"),
    ep!(POST, "/api/consultations/{id}/objections", OBJECTORS, "object to a decided consultation during its objection window (the scene's objection_days; the public only where the rule says objections = \"public\"); the decision waits for every answer", "Objection"),
    ep!(GET, "/api/consultations/{id}/objections", GOVERNMENT, "the objections to a consultation with their answers"),
    ep!(POST, "/api/objections/{id}/answer", GOVERNMENT, "answer an objection (once); logged", "ObjectionAnswer"),
    ep!(PUT, "/api/questions/{id}/vote", RESIDENT, "cast or change the household's secret ballot", "Vote"),
    ep!(GET, "/api/questions/{id}/vote", RESIDENT, "the household's own ballot"),
    ep!(GET, "/api/reports", ANYONE, "problem reports (?status=, ?after=)"),
    ep!(POST, "/api/reports", SIGNED_IN, "report a problem with a location, a category and an optional photo", "Report"),
    ep!(GET, "/api/reports/{id}", ANYONE, "one report with its handling steps"),
    ep!(POST, "/api/reports/{id}/updates", STAFF, "answer a report and move its status", "ReportUpdate"),
    ep!(GET, "/api/reports/{id}/photo", SIGNED_IN, "a report's photo (its reporter and staff)"),
    ep!(POST, "/api/flags", SIGNED_IN, "flag a comment or report; hidden pending review after N flags", "Flag"),
    ep!(GET, "/api/moderation/queue", MODERATORS, "flagged and auto-hidden content awaiting review"),
    ep!(POST, "/api/moderation/{target}/{id}", MODERATORS, "hide (with a reason) or restore a comment or report", "Decision"),
    ep!(GET, "/api/export/bcf", STAFF, "comments and reports as a BCF 3.0 archive"),
    ep!(POST, "/api/import/bcf", STAFF, "import the topics of a BCF archive as comment threads", "BcfArchive"),
    ep!(GET, "/api/indicators", ANYONE, "satisfaction, report answer times and participation per building"),
    ep!(GET, "/api/indicators.csv", ANYONE, "the indicators as CSV"),
];

/// The endpoint for a matched route, if classified (`HEAD` is classified as `GET`).
pub fn endpoint(method: &Method, path: &str) -> Option<&'static Endpoint> {
    let method = if *method == Method::HEAD { &Method::GET } else { method };
    ENDPOINTS.iter().find(|e| e.method == *method && e.path == path)
}

impl Endpoint {
    /// Whether `account` (`None`: a visitor) may call this route.
    pub fn admits(&self, account: Option<&renewtwin_civic::auth::Account>) -> bool {
        self.allow.iter().any(|w| w.admits(account))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(METHOD, path)` of every `.route("path", get(..).post(..))` in `source`.
    fn routes_in(source: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for chunk in source.split(".route(").skip(1) {
            // The path literal, possibly on the next line.
            let Some(chunk) = chunk.trim_start().strip_prefix('"') else { continue };
            let Some(end) = chunk.find('"') else { continue };
            let path = &chunk[..end];
            // The handlers up to the parenthesis that closes this `.route(`.
            let mut depth = 1;
            let close = chunk[end..]
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(chunk.len(), |(i, _)| end + i);
            let rest = &chunk[end..close];
            let bytes = rest.as_bytes();
            for method in ["get", "post", "put", "delete", "patch"] {
                let needle = format!("{method}(");
                let mut from = 0;
                while let Some(i) = rest[from..].find(&needle) {
                    let at = from + i;
                    let before = if at == 0 { b' ' } else { bytes[at - 1] };
                    if !(before.is_ascii_alphanumeric() || before == b'_') {
                        out.push((method.to_ascii_uppercase(), path.to_owned()));
                    }
                    from = at + needle.len();
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn the_scan_reads_routes_as_rustfmt_writes_them() {
        let source = ".route(\"/a\", get(x).post(y.layer(z(1))))\n.route(\n    \"/b/{id}\",\n    delete(w),\n)\nfn f() { post(q) }";
        let found = routes_in(source);
        let want = [("DELETE", "/b/{id}"), ("GET", "/a"), ("POST", "/a")];
        assert_eq!(found, want.map(|(m, p)| (m.to_owned(), p.to_owned())));
        assert!(endpoint(&Method::GET, "/not/in/the/table").is_none());
    }

    #[test]
    fn every_route_the_router_serves_is_in_the_table_and_back() {
        let sources = [
            include_str!("lib.rs"),
            include_str!("civic.rs"),
            include_str!("governance.rs"),
            include_str!("viewer_api.rs"),
            include_str!("sensors.rs"),
        ];
        let served: Vec<(String, String)> = sources.iter().flat_map(|s| routes_in(s)).collect();
        assert!(served.len() >= 60, "the scan finds the routes: {served:?}");
        for (method, path) in &served {
            let m = Method::from_bytes(method.as_bytes()).expect("method");
            assert!(endpoint(&m, path).is_some(), "{method} {path} is served but missing from ENDPOINTS");
        }
        for e in ENDPOINTS {
            assert!(
                served.iter().any(|(m, p)| m == e.method.as_str() && p == e.path),
                "{} {} is in ENDPOINTS but not served",
                e.method,
                e.path
            );
        }
    }

    #[test]
    fn least_privilege_where_the_issue_asks_for_it() {
        let who = |m: Method, p: &str| endpoint(&m, p).expect("classified").allow;
        assert_eq!(who(Method::POST, "/api/announcements"), PUBLISHERS);
        assert!(!who(Method::POST, "/api/announcements").contains(&PRO));
        assert!(!who(Method::POST, "/api/moderation/{target}/{id}").contains(&PRO));
        assert!(!who(Method::POST, "/api/progress").contains(&PRO), "only contractors among professionals");
        assert!(!who(Method::GET, "/api/approvals").contains(&PUB));
        for route in ["/api/clock", "/api/events"] {
            assert_eq!(who(Method::POST, route), CONTROLLERS, "{route}: government or the operator, by role");
        }
        assert!(!who(Method::POST, "/api/sensors/readings").contains(&PUB));
    }
}

