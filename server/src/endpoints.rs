//! Every civic route with the roles allowed to call it: the one table that the [`Caller`]
//! extractor enforces (`crate::civic`), the OpenAPI document describes (`crate::openapi`) and
//! the endpoint × role test walks.
//!
//! [`Caller`]: renewtwin_civic::Caller

use axum::http::Method;
use renewtwin_civic::Role;

/// A route and who may call it.
#[derive(Debug)]
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    pub allow: &'static [Role],
    pub summary: &'static str,
    /// Name of the request body schema in the OpenAPI document, if any.
    pub body: Option<&'static str>,
}

const ANYONE: &[Role] = &[Role::Government, Role::Professional, Role::Resident, Role::Public];
const SIGNED_IN: &[Role] = &[Role::Government, Role::Professional, Role::Resident];
const STAFF: &[Role] = &[Role::Government, Role::Professional];
const GOVERNMENT: &[Role] = &[Role::Government];
const RESIDENT: &[Role] = &[Role::Resident];

macro_rules! ep {
    ($m:ident, $p:literal, $a:expr, $s:literal) => {
        Endpoint { method: Method::$m, path: $p, allow: $a, summary: $s, body: None }
    };
    ($m:ident, $p:literal, $a:expr, $s:literal, $b:literal) => {
        Endpoint { method: Method::$m, path: $p, allow: $a, summary: $s, body: Some($b) }
    };
}

/// Every consultation route, with the roles allowed to call it.
pub static ENDPOINTS: &[Endpoint] = &[
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
    ep!(POST, "/api/announcements", STAFF, "publish an announcement or a policy", "Announcement"),
    ep!(GET, "/api/comments", ANYONE, "comments (?project=, ?element=, ?parent=, ?after=, ?limit=)"),
    ep!(POST, "/api/comments", SIGNED_IN, "comment on an element, a point or a viewpoint, or reply (parent)", "Comment"),
    ep!(GET, "/api/comments/{id}", ANYONE, "one comment and its replies"),
    ep!(GET, "/api/consultations", ANYONE, "consultations with their questions and public tallies"),
    ep!(POST, "/api/consultations", STAFF, "open a consultation on a project", "Consultation"),
    ep!(GET, "/api/consultations/{id}", ANYONE, "one consultation with its tallies"),
    ep!(POST, "/api/consultations/{id}/close", STAFF, "close with an outcome; records consultation_closed for the phase gate", "Close"),
    ep!(PUT, "/api/questions/{id}/vote", RESIDENT, "cast or change the household's secret ballot", "Vote"),
    ep!(GET, "/api/questions/{id}/vote", RESIDENT, "the household's own ballot"),
    ep!(GET, "/api/reports", ANYONE, "problem reports (?status=, ?after=)"),
    ep!(POST, "/api/reports", SIGNED_IN, "report a problem with a location, a category and an optional photo", "Report"),
    ep!(GET, "/api/reports/{id}", ANYONE, "one report with its handling steps"),
    ep!(POST, "/api/reports/{id}/updates", STAFF, "answer a report and move its status", "ReportUpdate"),
    ep!(GET, "/api/reports/{id}/photo", SIGNED_IN, "a report's photo (its reporter and staff)"),
    ep!(POST, "/api/flags", SIGNED_IN, "flag a comment or report; hidden pending review after N flags", "Flag"),
    ep!(GET, "/api/moderation/queue", STAFF, "flagged and auto-hidden content awaiting review"),
    ep!(POST, "/api/moderation/{target}/{id}", STAFF, "hide (with a reason) or restore a comment or report", "Decision"),
    ep!(GET, "/api/export/bcf", STAFF, "comments and reports as a BCF 3.0 archive"),
    ep!(POST, "/api/import/bcf", STAFF, "import the topics of a BCF archive as comment threads", "BcfArchive"),
    ep!(GET, "/api/indicators", ANYONE, "satisfaction, report answer times and participation per building"),
    ep!(GET, "/api/indicators.csv", ANYONE, "the indicators as CSV"),
];

/// The endpoint for a matched route, if classified.
pub fn endpoint(method: &Method, path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS.iter().find(|e| e.method == *method && e.path == path)
}

