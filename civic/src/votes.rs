//! Consultations and their votes. The government opens a consultation on a project with
//! questions: `consent` (agree / oppose / abstain) or `choice` (alternatives are the scene's
//! scenarios or `base`); each household casts one secret ballot per question and may change it
//! until the consultation closes; the tally is public. Closing is allowed once the publicity
//! period (公示) of the project's decision rule has passed; the outcome is then computed from the
//! ballots under that rule ([`crate::decision`]; PRC Civil Code art. 278 by default), per scope
//! (unit, building or project), and recorded as a `consultation_closed` governance event dated
//! at the end of the objection window, which is what the simulation's phase gate and the
//! per-unit work wait for. Residents also rate each project (satisfaction, 1–5).

use renewtwin_store::db::OptionalExtension as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use std::collections::{BTreeMap, HashMap};

use super::ballot_key::BallotKey;
use super::decision::{self, CONSENT_ALTERNATIVES, Cast, QuestionKind, ScopeDecision};
use super::privacy::{Class, Field, Record};
use super::{ConsultationError, Result, check_id, check_text, now};
use renewtwin_twin::manifest::Manifest;
use renewtwin_twin::manifest::decision::DecisionRule;
use renewtwin_twin::renewal::control::{EventError, EventRequest, EventRequestKind, PlanControl};
use renewtwin_store::Store;

/// `POST /api/consultations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewConsultation {
    pub project: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub questions: Vec<NewQuestion>,
    /// The scopes (unit keys such as `1-2`, or building names) this consultation decides for,
    /// under a unit- or building-scoped rule; empty: every scope of the model.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// When the tallies are published while the consultation is open: every N ballots cast or
    /// changed (default [`DEFAULT_TALLY_BATCH`]), or only at the close.
    #[serde(default)]
    pub tally: TallyPublication,
}

/// Ballots cast or changed between two publications of an open consultation's tallies, unless it
/// says otherwise.
pub const DEFAULT_TALLY_BATCH: u32 = 10;

/// When an open consultation's tallies are published (on the API, the live stream and the
/// indicators alike). A tally that moved with each ballot would tell anyone who saw a neighbour
/// vote what they chose; a batch of N ballots mixes each choice with N − 1 others, and `close`
/// shows nothing but turnout until the decision. `{"every": 1}` is an open tally: only for
/// consultations whose ballots are not secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TallyPublication {
    /// After every N ballots cast or changed.
    Every(u32),
    /// Only when the consultation closes.
    Close,
}

impl Default for TallyPublication {
    fn default() -> Self {
        Self::Every(DEFAULT_TALLY_BATCH)
    }
}

impl TallyPublication {
    /// The stored form: the batch size, `None` for `close`.
    fn every(self) -> Option<i64> {
        match self {
            Self::Every(n) => Some(i64::from(n)),
            Self::Close => None,
        }
    }
}

/// One question and its alternatives.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewQuestion {
    pub text: String,
    /// `consent` (the default) or `choice`.
    #[serde(default = "consent")]
    pub kind: QuestionKind,
    /// For `consent`: omitted, or exactly agree / oppose / abstain. For `choice`: scenario
    /// names of the scene, or `base`.
    #[serde(default)]
    pub alternatives: Vec<String>,
}

fn consent() -> QuestionKind {
    QuestionKind::Consent
}

impl NewConsultation {
    pub fn check(&self) -> Result<()> {
        check_id("project", &self.project)?;
        check_text("title", &self.title, 200, false)?;
        check_text("description", &self.description, 5000, true)?;
        if self.questions.is_empty() || self.questions.len() > 20 {
            return Err(ConsultationError::Invalid("a consultation asks 1-20 questions".into()));
        }
        for q in &self.questions {
            check_text("text", &q.text, 500, false)?;
            match q.kind {
                QuestionKind::Consent => {
                    if !q.alternatives.is_empty() && q.alternatives != CONSENT_ALTERNATIVES {
                        return Err(ConsultationError::Invalid(format!(
                            "a consent question's alternatives are fixed: {CONSENT_ALTERNATIVES:?} (omit them)"
                        )));
                    }
                }
                QuestionKind::Choice => {
                    if q.alternatives.len() < 2 || q.alternatives.len() > 10 {
                        return Err(ConsultationError::Invalid("a choice question offers 2-10 alternatives".into()));
                    }
                    for a in &q.alternatives {
                        check_id("alternatives", a)?;
                    }
                }
            }
        }
        if let TallyPublication::Every(n) = self.tally
            && !(1..=10_000).contains(&n)
        {
            return Err(ConsultationError::Invalid("`tally.every` is 1-10000 ballots".into()));
        }
        if self.questions.iter().filter(|q| q.kind == QuestionKind::Choice).count() > 1 {
            return Err(ConsultationError::Invalid("a consultation asks at most one choice question (its winner becomes the plan played)".into()));
        }
        if self.scopes.len() > 500 {
            return Err(ConsultationError::Invalid("at most 500 scopes".into()));
        }
        for s in &self.scopes {
            check_text("scopes", s, 64, false)?;
        }
        Ok(())
    }

    /// Checks the consultation against the scene: the project exists and has a consultation
    /// phase that has opened by `day`, a choice offers the scene's scenarios (or `base`), and
    /// the scopes named are scopes of the project's rule in the model.
    pub fn check_against(&self, manifest: &Manifest, model: &renewtwin_importers::Model, day: i32) -> Result<()> {
        let project = manifest.projects.iter().find(|p| p.id == self.project).ok_or_else(|| {
            let ids: Vec<&str> = manifest.projects.iter().map(|p| p.id.as_str()).collect();
            ConsultationError::Invalid(format!("no project {:?}; projects are {ids:?}", self.project))
        })?;
        let Some(opens) = project.consultation_opens().filter(|_| project.consultation_required) else {
            return Err(ConsultationError::Invalid(format!("project {:?} has no consultation phase", project.id)));
        };
        if day < opens {
            return Err(ConsultationError::Conflict(format!(
                "the consultation window of project {:?} opens on day {opens}; today is day {day}",
                project.id
            )));
        }
        for q in self.questions.iter().filter(|q| q.kind == QuestionKind::Choice) {
            if project.decision.scope != renewtwin_twin::manifest::decision::Scope::Project {
                return Err(ConsultationError::Invalid(format!(
                    "project {:?} decides per {}; a choice between scenarios changes the whole plan, so it is asked of a project decided as one project",
                    project.id,
                    project.decision.scope.key()
                )));
            }
            for a in &q.alternatives {
                if a != "base" && manifest.scenario(a).is_none() {
                    let known: Vec<&str> = manifest.scenarios.iter().map(|s| s.name.as_str()).collect();
                    return Err(ConsultationError::Invalid(format!("alternative {a:?} is not a scenario of the scene ({known:?}) nor \"base\"")));
                }
            }
        }
        if !self.scopes.is_empty() {
            if project.decision.scope == renewtwin_twin::manifest::decision::Scope::Project {
                return Err(ConsultationError::Invalid(format!("project {:?} decides as one project; it takes no `scopes`", project.id)));
            }
            let known = decision::electorates(&project.decision, model, &project.id, &[]);
            if let Some(unknown) = self.scopes.iter().find(|s| !known.iter().any(|e| &e.key == *s)) {
                return Err(ConsultationError::Invalid(format!(
                    "no {} {unknown:?} in the model (scope keys come from {})",
                    project.decision.scope.key(),
                    if project.decision.scope == renewtwin_twin::manifest::decision::Scope::Unit { "RenewTwin_Unit.Unit" } else { "the building names" }
                )));
            }
        }
        Ok(())
    }
}

/// A question with its public tally.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Question {
    pub id: i64,
    pub text: String,
    pub kind: QuestionKind,
    pub alternatives: Vec<String>,
    /// Ballots per alternative.
    pub tally: Vec<i64>,
    pub ballots: i64,
}

/// A consultation with its questions and tallies.
#[derive(Debug, Clone)]
pub struct ConsultationRecord {
    pub id: i64,
    pub project: String,
    pub title: String,
    pub description: String,
    pub opened_by: i64,
    pub opened_at: i64,
    /// Simulated day it opened.
    pub opened_day: Option<i64>,
    /// The scopes it decides for (empty: every scope).
    pub scopes: Vec<String>,
    pub closed_at: Option<i64>,
    pub closed_day: Option<i64>,
    pub outcome: Option<String>,
    /// The decision computed when it closed: the rule, each scope's tally and thresholds.
    pub decision: Option<Value>,
    /// When its tallies are published while it is open.
    pub tally: TallyPublication,
    /// Ballots cast or changed up to the tallies shown in `questions` (all of them once closed).
    pub tally_as_of: i64,
    /// The questions with their published tallies: as of `tally_as_of` ballots while open, the
    /// final ones once closed.
    /// The day the decision took effect in the plan: the end of the objection window, or the
    /// day its last objection was answered if later. `None` while objections may still come or
    /// wait for an answer.
    pub in_effect_day: Option<i64>,
    pub questions: Vec<Question>,
}

impl Record for ConsultationRecord {
    const KIND: &'static str = "consultation";
    const FIELDS: &'static [Field<Self>] = &[
        Field::new("id", Class::Public, |r| r.id.into()),
        Field::new("project", Class::Public, |r| r.project.clone().into()),
        Field::new("title", Class::Public, |r| r.title.clone().into()),
        Field::new("description", Class::Public, |r| r.description.clone().into()),
        Field::new("status", Class::Public, |r| if r.closed_at.is_some() { "closed" } else { "open" }.into()),
        Field::new("opened_by", Class::Internal, |r| r.opened_by.into()),
        Field::new("opened_at", Class::Public, |r| super::rfc3339(r.opened_at).into()),
        Field::new("opened_day", Class::Public, |r| r.opened_day.into()),
        Field::new("scopes", Class::Public, |r| r.scopes.clone().into()),
        Field::new("decision", Class::Public, |r| r.decision.clone().unwrap_or(Value::Null)),
        Field::new("closed_at", Class::Public, |r| r.closed_at.map(super::rfc3339).into()),
        Field::new("closed_day", Class::Public, |r| r.closed_day.into()),
        Field::new("outcome", Class::Public, |r| r.outcome.clone().into()),
        Field::new("tally_publication", Class::Public, |r| serde_json::to_value(r.tally).unwrap_or(Value::Null)),
        Field::new("tally_as_of_ballots", Class::Public, |r| r.tally_as_of.into()),
        Field::new("in_effect_day", Class::Public, |r| r.in_effect_day.into()),
        Field::new("questions", Class::Public, |r| serde_json::to_value(&r.questions).unwrap_or(Value::Null)),
    ];
    fn owner(&self) -> Option<i64> {
        None
    }
}

/// One household's ballot on one question: the choice is seen by its voter only.
#[derive(Debug, Clone)]
pub struct Ballot {
    pub question: i64,
    pub voter: i64,
    pub household: i64,
    pub alternative: i64,
    pub updated_at: i64,
}

impl Record for Ballot {
    const KIND: &'static str = "ballot";
    const FIELDS: &'static [Field<Self>] = &[
        Field::new("question", Class::Public, |r| r.question.into()),
        Field::new("household", Class::Confidential, |r| r.household.into()),
        Field::new("alternative", Class::Personal, |r| r.alternative.into()),
        Field::new("updated_at", Class::Personal, |r| super::rfc3339(r.updated_at).into()),
    ];
    fn owner(&self) -> Option<i64> {
        Some(self.voter)
    }
}

/// Opens a consultation by `by` on simulated day `day`.
pub fn open(conn: &mut renewtwin_store::db::Connection, by: i64, c: &NewConsultation, day: i32) -> Result<ConsultationRecord> {
    let tx = conn.transaction()?;
    let open: bool = tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM c_consultations WHERE project = ?1 AND closed_at IS NULL)",
        [&c.project],
        |r| r.get(0),
    )?;
    if open {
        return Err(ConsultationError::Conflict(format!("project {:?} has an open consultation already", c.project)));
    }
    tx.execute(
        "INSERT INTO c_consultations (project, title, description, opened_by, opened_at, opened_day, scopes, tally_every) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        (&c.project, &c.title, &c.description, by, now(), day, serde_json::json!(c.scopes).to_string(), c.tally.every()),
    )?;
    let id = tx.last_insert_rowid()?;
    for q in &c.questions {
        let (kind, alternatives) = match q.kind {
            QuestionKind::Consent => ("consent", CONSENT_ALTERNATIVES.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>()),
            QuestionKind::Choice => ("choice", q.alternatives.clone()),
        };
        tx.execute(
            "INSERT INTO c_questions (consultation_id, text, alternatives, kind) VALUES (?1, ?2, ?3, ?4)",
            (id, &q.text, serde_json::json!(alternatives).to_string(), kind),
        )?;
    }
    let record = get(&tx, id)?;
    tx.commit()?;
    Ok(record)
}

/// One consultation with its published tallies ([`TallyPublication`]).
pub fn get(conn: &renewtwin_store::db::Connection, id: i64) -> Result<ConsultationRecord> {
    let (mut record, published) = conn
        .query_row(
            "SELECT id, project, title, description, opened_by, opened_at, closed_at, closed_day, outcome, opened_day, scopes, decision,
                    tally_every, ballot_changes, published_tally, in_effect_day FROM c_consultations WHERE id = ?1",
            [id],
            |r| {
                let every: Option<i64> = r.get(12)?;
                let record = ConsultationRecord {
                    id: r.get(0)?,
                    project: r.get(1)?,
                    title: r.get(2)?,
                    description: r.get(3)?,
                    opened_by: r.get(4)?,
                    opened_at: r.get(5)?,
                    closed_at: r.get(6)?,
                    closed_day: r.get(7)?,
                    outcome: r.get(8)?,
                    opened_day: r.get(9)?,
                    scopes: serde_json::from_str(&r.get::<_, String>(10)?).unwrap_or_default(),
                    decision: r.get::<_, Option<String>>(11)?.and_then(|d| serde_json::from_str(&d).ok()),
                    tally: every.map_or(TallyPublication::Close, |n| TallyPublication::Every(u32::try_from(n).unwrap_or(u32::MAX))),
                    tally_as_of: r.get(13)?,
                    in_effect_day: r.get(15)?,
                    questions: Vec::new(),
                };
                Ok((record, r.get::<_, Option<String>>(14)?))
            },
        )
        .optional()?
        .ok_or_else(|| ConsultationError::NotFound(format!("no consultation {id}")))?;
    // While open, and unless each ballot is published, the tallies are the last batch's.
    let live = record.closed_at.is_some() || record.tally == TallyPublication::Every(1);
    let snapshot: Option<Published> = if live { None } else { published.and_then(|p| serde_json::from_str(&p).ok()) };
    if !live {
        record.tally_as_of = snapshot.as_ref().map_or(0, |p| p.ballot_changes);
    }
    let mut stmt = conn.prepare("SELECT id, text, alternatives, kind FROM c_questions WHERE consultation_id = ?1 ORDER BY id")?;
    let questions: Vec<(i64, String, String, String)> =
        stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect::<renewtwin_store::db::Result<_>>()?;
    for (qid, text, alternatives, kind) in questions {
        let kind = if kind == "choice" { QuestionKind::Choice } else { QuestionKind::Consent };
        let alternatives: Vec<String> = serde_json::from_str(&alternatives).unwrap_or_default();
        let tally = if live {
            live_tally(conn, qid, alternatives.len())?
        } else {
            let mut t = snapshot.as_ref().and_then(|p| p.tallies.get(&qid).cloned()).unwrap_or_default();
            t.resize(alternatives.len(), 0);
            t
        };
        let ballots = tally.iter().sum();
        record.questions.push(Question { id: qid, text, kind, alternatives, tally, ballots });
    }
    Ok(record)
}

/// The tallies of an open consultation as last published: after `ballot_changes` ballots cast
/// or changed, per question id.
#[derive(Debug, Serialize, Deserialize)]
struct Published {
    ballot_changes: i64,
    tallies: BTreeMap<i64, Vec<i64>>,
}

/// The ballots on question `qid` per alternative, now.
fn live_tally(conn: &renewtwin_store::db::Connection, qid: i64, alternatives: usize) -> Result<Vec<i64>> {
    let mut tally = vec![0i64; alternatives];
    let mut stmt = conn.prepare("SELECT alternative, COUNT(*) FROM c_secret_ballots WHERE question_id = ?1 GROUP BY alternative")?;
    for row in stmt.query_map([qid], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))? {
        let (alt, n) = row?;
        if let Some(slot) = usize::try_from(alt).ok().and_then(|a| tally.get_mut(a)) {
            *slot = n;
        }
    }
    Ok(tally)
}

/// Counts one ballot cast or changed in consultation `id` and publishes its tallies when the
/// batch is full; returns whether it did.
fn count_ballot(tx: &renewtwin_store::db::Transaction<'_>, id: i64) -> Result<bool> {
    let (every, changes): (Option<i64>, i64) = tx.query_row(
        "UPDATE c_consultations SET ballot_changes = ballot_changes + 1 WHERE id = ?1 RETURNING tally_every, ballot_changes",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let Some(every) = every.filter(|n| *n > 0) else { return Ok(false) };
    if changes % every != 0 {
        return Ok(false);
    }
    let mut tallies = BTreeMap::new();
    let mut stmt = tx.prepare("SELECT id, alternatives FROM c_questions WHERE consultation_id = ?1")?;
    let questions: Vec<(i64, String)> = stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<renewtwin_store::db::Result<_>>()?;
    for (qid, alternatives) in questions {
        let n = serde_json::from_str::<Vec<String>>(&alternatives).map(|a| a.len()).unwrap_or(0);
        tallies.insert(qid, live_tally(tx, qid, n)?);
    }
    let published = serde_json::to_string(&Published { ballot_changes: changes, tallies }).map_err(|e| ConsultationError::Invalid(e.to_string()))?;
    tx.execute("UPDATE c_consultations SET published_tally = ?1 WHERE id = ?2", (published, id))?;
    Ok(true)
}

/// Every household: (id, code, building).
fn households(conn: &renewtwin_store::db::Connection) -> Result<Vec<(i64, String, String)>> {
    let mut stmt = conn.prepare("SELECT id, code, building FROM c_households")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<renewtwin_store::db::Result<_>>()?;
    Ok(rows)
}

/// The ballots on `question` with their households' codes and buildings: each household's
/// pseudonym is recomputed with the key and matched to the stored ones (the database alone
/// cannot make that link).
fn casts(conn: &renewtwin_store::db::Connection, key: &BallotKey, question: i64, households: &[(i64, String, String)]) -> Result<Vec<Cast>> {
    let mut stmt = conn.prepare("SELECT voter, alternative FROM c_secret_ballots WHERE question_id = ?1")?;
    let mut stored: HashMap<String, i64> = stmt.query_map([question], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<renewtwin_store::db::Result<_>>()?;
    let mut casts = Vec::with_capacity(stored.len());
    for (id, code, building) in households {
        if let Some(alternative) = stored.remove(&key.pseudonym(question, *id)) {
            casts.push(Cast { alternative: usize::try_from(alternative).unwrap_or(usize::MAX), household: code.clone(), building: building.clone() });
        }
    }
    if !stored.is_empty() {
        // Only a household could have cast them, under this key (checked at start-up): a
        // household removed since. They are not counted, and said so.
        tracing::warn!(question, ballots = stored.len(), "ballots of households no longer known are not counted");
    }
    Ok(casts)
}

/// Whether each household (by id) has cast a ballot on any question: the turnout, which is
/// public, unlike the choices.
pub fn voted(conn: &renewtwin_store::db::Connection, key: &BallotKey) -> Result<std::collections::HashSet<i64>> {
    let mut stmt = conn.prepare("SELECT question_id, voter FROM c_secret_ballots")?;
    let cast: std::collections::HashSet<(i64, String)> = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<renewtwin_store::db::Result<_>>()?;
    let questions: std::collections::BTreeSet<i64> = cast.iter().map(|(q, _)| *q).collect();
    let mut out = std::collections::HashSet::new();
    for (id, _, _) in households(conn)? {
        if questions.iter().any(|q| cast.contains(&(*q, key.pseudonym(*q, id)))) {
            out.insert(id);
        }
    }
    Ok(out)
}

/// Adopts `key` for the ballots in this database: records its fingerprint the first time, and
/// refuses a key other than the one the stored ballots were cast under (a server started with
/// a lost or wrong key file would not recognise them and count households twice). Ballots stored
/// by earlier versions beside their household are moved under their pseudonyms, and the old
/// rows are overwritten on delete (`secure_delete`).
pub fn adopt_key(conn: &mut renewtwin_store::db::Connection, key: &BallotKey) -> Result<()> {
    let fingerprint = key.fingerprint();
    let tx = conn.transaction()?;
    let known: Vec<String> = tx.prepare("SELECT fingerprint FROM c_ballot_keys")?.query_map([], |r| r.get(0))?.collect::<renewtwin_store::db::Result<_>>()?;
    let ballots: i64 = tx.query_row("SELECT COUNT(*) FROM c_secret_ballots", [], |r| r.get(0))?;
    if !known.is_empty() && !known.contains(&fingerprint) && ballots > 0 {
        return Err(ConsultationError::Conflict(format!(
            "the {ballots} stored ballots were cast under the ballot key {}, not this one ({fingerprint}): start the server with the key file they were cast under",
            known.join(", ")
        )));
    }
    if !known.contains(&fingerprint) {
        tx.execute("DELETE FROM c_ballot_keys", [])?;
        tx.execute("INSERT INTO c_ballot_keys (fingerprint, adopted_at) VALUES (?1, ?2)", (&fingerprint, now()))?;
    }
    let legacy: Vec<(i64, i64, i64, i64)> = tx
        .prepare("SELECT question_id, household_id, alternative, updated_at FROM c_ballots")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<renewtwin_store::db::Result<_>>()?;
    if !legacy.is_empty() {
        // SQLite overwrites deleted rows with zeros under secure_delete; PostgreSQL's deleted
        // tuples go at its next VACUUM (README "Security").
        if tx.backend() == renewtwin_store::db::Backend::Sqlite {
            tx.execute_batch("PRAGMA secure_delete = ON")?;
        }
        for (question, household, alternative, at) in &legacy {
            let row = i64::from_le_bytes(super::auth::random_bytes::<8>()?) & i64::MAX;
            tx.execute(
                "INSERT INTO c_secret_ballots (id, question_id, voter, alternative, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (question_id, voter) DO NOTHING",
                (row, question, key.pseudonym(*question, *household), alternative, at.div_euclid(86_400) * 86_400),
            )?;
        }
        tx.execute("DELETE FROM c_ballots", [])?;
        tracing::info!(ballots = legacy.len(), "moved ballots stored beside their households under their pseudonyms");
    }
    tx.commit()?;
    Ok(())
}

/// Every consultation, newest first.
pub fn list(conn: &renewtwin_store::db::Connection) -> Result<Vec<ConsultationRecord>> {
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM c_consultations ORDER BY id DESC LIMIT 500")?
        .query_map([], |r| r.get(0))?
        .collect::<renewtwin_store::db::Result<_>>()?;
    ids.into_iter().map(|id| get(conn, id)).collect()
}

/// Casts or changes the ballot of `voter`'s household on `question`; returns the ballot, the
/// consultation with its published tallies, and whether this ballot completed a batch (the
/// tallies were published anew).
pub fn vote(
    conn: &mut renewtwin_store::db::Connection,
    key: &BallotKey,
    voter: i64,
    household: i64,
    question: i64,
    alternative: i64,
) -> Result<(Ballot, ConsultationRecord, bool)> {
    let tx = conn.transaction()?;
    let (consultation, alternatives, closed): (i64, String, Option<i64>) = tx
        .query_row(
            "SELECT q.consultation_id, q.alternatives, c.closed_at FROM c_questions q JOIN c_consultations c ON c.id = q.consultation_id WHERE q.id = ?1",
            [question],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?
        .ok_or_else(|| ConsultationError::NotFound(format!("no question {question}")))?;
    if closed.is_some() {
        return Err(ConsultationError::Conflict("the consultation is closed; ballots can no longer change".into()));
    }
    let n = serde_json::from_str::<Vec<String>>(&alternatives).map(|a| a.len()).unwrap_or(0) as i64;
    if !(0..n).contains(&alternative) {
        return Err(ConsultationError::Invalid(format!("`alternative` must be 0-{} for this question", n - 1)));
    }
    // The day only: a time to the second could be matched against other traces of the voter.
    let at = now().div_euclid(86_400) * 86_400;
    // A random row id, so the table's order is not the order households voted in.
    let row = i64::from_le_bytes(super::auth::random_bytes::<8>()?) & i64::MAX;
    tx.execute(
        "INSERT INTO c_secret_ballots (id, question_id, voter, alternative, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (question_id, voter) DO UPDATE SET alternative = excluded.alternative, updated_at = excluded.updated_at",
        (row, question, key.pseudonym(question, household), alternative, at),
    )?;
    let published = count_ballot(&tx, consultation)?;
    let record = get(&tx, consultation)?;
    tx.commit()?;
    Ok((Ballot { question, voter, household, alternative, updated_at: at }, record, published))
}

/// The ballot of `household` on `question`, if cast.
pub fn ballot(conn: &renewtwin_store::db::Connection, key: &BallotKey, voter: i64, household: i64, question: i64) -> Result<Option<Ballot>> {
    Ok(conn
        .query_row(
            "SELECT alternative, updated_at FROM c_secret_ballots WHERE question_id = ?1 AND voter = ?2",
            (question, key.pseudonym(question, household)),
            |r| Ok(Ballot { question, voter, household, alternative: r.get(0)?, updated_at: r.get(1)? }),
        )
        .optional()?)
}

/// The consultation `id` if it is open, for closing.
pub fn open_consultation(conn: &renewtwin_store::db::Connection, id: i64) -> Result<ConsultationRecord> {
    let record = get(conn, id)?;
    if record.closed_at.is_some() {
        return Err(ConsultationError::Conflict(format!("consultation {id} is closed already")));
    }
    Ok(record)
}

/// The open consultations whose window has ended by simulated day `day`, each with the last
/// day of its window (the day it opened plus the publicity period of its project's rule in
/// `manifest`): those with `day` past that last day. A consultation whose project left the
/// scene is not listed.
pub fn windows_ended(conn: &renewtwin_store::db::Connection, manifest: &Manifest, day: i32) -> Result<Vec<(i64, i32)>> {
    let mut stmt = conn.prepare("SELECT id, project, opened_day FROM c_consultations WHERE closed_at IS NULL ORDER BY id")?;
    let open: Vec<(i64, String, Option<i64>)> = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<renewtwin_store::db::Result<_>>()?;
    Ok(open
        .into_iter()
        .filter_map(|(id, project, opened)| {
            let rule = &manifest.projects.iter().find(|p| p.id == project)?.decision;
            let last = i32::try_from(opened.unwrap_or(0)).ok()?.checked_add(i32::try_from(rule.publicity_days).ok()?)?;
            (day > last).then_some((id, last))
        })
        .collect())
}

/// One question decided in every scope.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuestionDecision {
    pub question: i64,
    pub kind: QuestionKind,
    pub alternatives: Vec<String>,
    pub scopes: Vec<ScopeDecision>,
}

/// A consultation decided from its ballots: what the close answers, stores and records (and
/// what an audit log appends). Plain data.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decision {
    pub consultation: i64,
    pub project: String,
    /// The rule applied, with its source.
    pub rule: DecisionRule,
    /// Simulated day the consultation closed.
    pub closed_day: i32,
    /// The day the outcome takes effect: the close plus the objection window; the recorded
    /// event's day.
    pub effective_day: i32,
    /// Whether the scheme is approved (for a scoped rule: in at least one scope).
    pub approved: bool,
    /// For a unit- or building-scoped rule, each scope's outcome (empty for the project scope).
    pub scope_outcomes: BTreeMap<String, bool>,
    /// Each question's tally and thresholds per scope.
    pub questions: Vec<QuestionDecision>,
    /// The scenario a `choice` question adopted (`base`: the base plan), played from
    /// `effective_day`; `None` when no choice question adopted one (a tie, or the thresholds
    /// missed: the plan played stays as it was).
    #[serde(default)]
    pub scenario: Option<String>,
}

impl Decision {
    /// `approved` / `rejected`.
    pub fn outcome(&self) -> &'static str {
        if self.approved { "approved" } else { "rejected" }
    }

    /// Every scope's tally in one line each, for messages.
    pub fn describe(&self) -> String {
        self.questions
            .iter()
            .flat_map(|q| q.scopes.iter().map(move |d| decision::describe(d, &q.alternatives)))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Decides the open consultation `id` from its ballots on simulated day `day` under the rule of
/// its project in `manifest`, over the households and areas of `model`. Refused before the
/// publicity period (公示) has passed.
pub fn decide(
    conn: &renewtwin_store::db::Connection,
    key: &BallotKey,
    id: i64,
    manifest: &Manifest,
    model: &renewtwin_importers::Model,
    day: i32,
) -> Result<Decision> {
    let record = open_consultation(conn, id)?;
    let project = manifest
        .projects
        .iter()
        .find(|p| p.id == record.project)
        .ok_or_else(|| ConsultationError::Conflict(format!("project {:?} is not in the scene any more", record.project)))?;
    let rule = project.decision.clone();
    let opened = record.opened_day.unwrap_or(0) as i32;
    let earliest = opened + rule.publicity_days as i32;
    if day < earliest {
        return Err(ConsultationError::Conflict(format!(
            "consultation {id} opened on day {opened}; its publicity period (公示) of {} days under the rule of project {:?} ends on day {earliest}; today is day {day}, so it cannot close yet",
            rule.publicity_days, record.project
        )));
    }
    let electorates = decision::electorates(&rule, model, &project.id, &record.scopes);
    if electorates.is_empty() {
        return Err(ConsultationError::Conflict(format!(
            "the model states no {} for project {:?} to decide in (RenewTwin_Unit.Unit for units, buildings for buildings)",
            rule.scope.key(),
            project.id
        )));
    }
    // Floor areas the households declared on their records (invitations), in hundredths of m².
    let declared: Vec<decision::DeclaredArea> = conn
        .prepare("SELECT code, building, floor_area FROM c_households WHERE floor_area IS NOT NULL")?
        .query_map([], |r| {
            Ok(decision::DeclaredArea { household: r.get(0)?, building: r.get(1)?, area_centi_m2: (r.get::<_, f64>(2)? * 100.0).round().max(0.0) as u64 })
        })?
        .collect::<renewtwin_store::db::Result<_>>()?;
    let households = households(conn)?;
    let mut questions = Vec::new();
    for q in &record.questions {
        let casts = casts(conn, key, q.id, &households)?;
        let scopes = electorates.iter().map(|e| decision::decide_with_areas(&rule, q.kind, q.alternatives.len(), e, &casts, &declared)).collect();
        questions.push(QuestionDecision { question: q.id, kind: q.kind, alternatives: q.alternatives.clone(), scopes });
    }
    // A scope approves when every question is approved there.
    let per_scope: BTreeMap<String, bool> = electorates
        .iter()
        .enumerate()
        .map(|(i, e)| (e.key.clone(), questions.iter().all(|q: &QuestionDecision| q.scopes[i].approved)))
        .collect();
    let approved = per_scope.values().any(|a| *a);
    let scoped = rule.scope != renewtwin_twin::manifest::decision::Scope::Project;
    // A choice changes the plan of the whole scene, so it is decided for the whole project
    // (checked when the consultation opens); its adopted alternative becomes the played plan.
    let scenario = if approved && !scoped {
        questions
            .iter()
            .filter(|q| q.kind == QuestionKind::Choice)
            .find_map(|q| q.scopes.first().and_then(|d| d.adopted).and_then(|a| q.alternatives.get(a).cloned()))
    } else {
        None
    };
    Ok(Decision {
        scenario,
        consultation: id,
        project: project.id.clone(),
        effective_day: day + rule.objection_days as i32,
        rule,
        closed_day: day,
        approved,
        scope_outcomes: if scoped { per_scope } else { BTreeMap::new() },
        questions,
    })
}

/// The plan played changed because a `choice` consultation adopted a scenario: what the live
/// stream (`plan`) and the audit log (`scenario_chosen`) carry. Public.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlanChange {
    pub consultation: i64,
    pub project: String,
    /// The scenario played from `effective_day` (`base`: the base plan).
    pub scenario: String,
    pub closed_day: i32,
    /// The day it plays from.
    pub effective_day: i32,
}

impl PlanChange {
    /// The change `decision`, in effect from `day`, makes, if a choice adopted a scenario (the
    /// consultation's record holds the tally that decided it).
    pub fn of(decision: &Outcome, day: i32) -> Option<Self> {
        Some(Self {
            consultation: decision.consultation,
            project: decision.project.clone(),
            scenario: decision.scenario.clone()?,
            closed_day: decision.closed_day,
            effective_day: day,
        })
    }
}

impl Record for PlanChange {
    const KIND: &'static str = "plan_change";
    const FIELDS: &'static [Field<Self>] = &[
        Field::new("consultation", Class::Public, |r| r.consultation.into()),
        Field::new("project", Class::Public, |r| r.project.clone().into()),
        Field::new("scenario", Class::Public, |r| r.scenario.clone().into()),
        Field::new("closed_day", Class::Public, |r| r.closed_day.into()),
        Field::new("effective_day", Class::Public, |r| r.effective_day.into()),
    ];
    fn owner(&self) -> Option<i64> {
        None
    }
}

/// What a decision records into the plan: read from a [`Decision`] or from its stored JSON
/// (the same field names).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Outcome {
    pub consultation: i64,
    pub project: String,
    pub closed_day: i32,
    /// The earliest day it may take effect: the close plus the objection window.
    pub effective_day: i32,
    pub approved: bool,
    #[serde(default)]
    pub scope_outcomes: BTreeMap<String, bool>,
    #[serde(default)]
    pub scenario: Option<String>,
}

impl Decision {
    /// What this decision records into the plan.
    pub fn recorded(&self) -> Outcome {
        Outcome {
            consultation: self.consultation,
            project: self.project.clone(),
            closed_day: self.closed_day,
            effective_day: self.effective_day,
            approved: self.approved,
            scope_outcomes: self.scope_outcomes.clone(),
            scenario: self.scenario.clone(),
        }
    }
}

/// Records `decision` in the plan dated on `day` (its effective day, or later when an objection
/// was answered later): the outcome (the phase gate and the per-scope work wait for it) and the
/// scenario a choice adopted.
pub fn record_outcome(plan: &PlanControl, decision: &Outcome, day: i32) -> Result<()> {
    let mut requests = vec![outcome_request(decision, day)];
    requests.extend(scenario_request(&decision.project, day, decision.scenario.as_deref()));
    match plan.record_all(requests) {
        Ok(_) => Ok(()),
        Err(EventError::Stopped) => Err(ConsultationError::Unavailable("the simulation is not running")),
        Err(EventError::Unavailable(_)) => Err(ConsultationError::Unavailable("the replicas' shared log (NATS) cannot be reached; nothing was recorded, try again later")),
        Err(e) => Err(ConsultationError::Plan(e)),
    }
}

fn scenario_request(project: &str, day: i32, scenario: Option<&str>) -> Option<EventRequest> {
    scenario.map(|s| EventRequest {
        kind: EventRequestKind::ScenarioChosen,
        project: project.to_owned(),
        day: Some(day),
        date: None,
        outcome: None,
        approval: None,
        name: None,
        scenario: Some(s.to_owned()),
        scopes: BTreeMap::new(),
    })
}

fn outcome_request(decision: &Outcome, day: i32) -> EventRequest {
    EventRequest {
        kind: EventRequestKind::ConsultationClosed,
        project: decision.project.clone(),
        day: Some(day),
        date: None,
        outcome: Some(if decision.approved { "approved" } else { "rejected" }.into()),
        approval: None,
        name: None,
        scenario: None,
        scopes: decision.scope_outcomes.iter().map(|(k, v)| (k.clone(), if *v { "approved" } else { "rejected" }.to_owned())).collect(),
    }
}

/// Marks the consultation closed with its decision; `in_effect` is the day it took effect in
/// the plan (after the plan accepted the outcome), `None` while its objection window runs.
pub fn mark_closed(conn: &renewtwin_store::db::Connection, decision: &Decision, in_effect: Option<i32>) -> Result<ConsultationRecord> {
    let stored = serde_json::to_string(decision).map_err(|e| ConsultationError::Invalid(format!("the decision does not serialise: {e}")))?;
    conn.execute(
        "UPDATE c_consultations SET closed_at = ?1, closed_day = ?2, outcome = ?3, decision = ?4, in_effect_day = ?5 WHERE id = ?6 AND closed_at IS NULL",
        (now(), decision.closed_day, decision.outcome(), stored, in_effect, decision.consultation),
    )?;
    get(conn, decision.consultation)
}

/// Marks the decision of consultation `id` in effect in the plan from `day`.
pub fn mark_in_effect(conn: &renewtwin_store::db::Connection, id: i64, day: i32) -> Result<ConsultationRecord> {
    conn.execute("UPDATE c_consultations SET in_effect_day = ?1 WHERE id = ?2 AND in_effect_day IS NULL", (day, id))?;
    get(conn, id)
}

/// The closed consultations whose decision is not in effect yet (their objection window runs
/// or an objection waits for its answer), each with what its decision records.
pub fn pending_effect(conn: &renewtwin_store::db::Connection) -> Result<Vec<Outcome>> {
    let mut stmt = conn.prepare("SELECT decision FROM c_consultations WHERE closed_at IS NOT NULL AND in_effect_day IS NULL ORDER BY id")?;
    let rows: Vec<Option<String>> = stmt.query_map([], |r| r.get(0))?.collect::<renewtwin_store::db::Result<_>>()?;
    Ok(rows.into_iter().filter_map(|d| serde_json::from_str::<Outcome>(&d?).ok()).collect())
}

/// Records into `plan` the outcome of every consultation closed in `store`, oldest first.
pub fn replay_outcomes(store: &Store, plan: &PlanControl) -> Result<()> {
    let closed: Vec<(String, i32, String, Option<String>)> = {
        let conn = store.lock()?;
        let mut stmt = conn.prepare(
            "SELECT project, in_effect_day, outcome, decision FROM c_consultations WHERE closed_at IS NOT NULL AND in_effect_day IS NOT NULL ORDER BY closed_at, id",
        )?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect::<renewtwin_store::db::Result<_>>()?
    };
    let recorded = plan.events();
    for (project, in_effect_day, outcome, stored) in closed {
        let stored: Option<Value> = stored.and_then(|d| serde_json::from_str(&d).ok());
        // Rows closed before objections were stored carry their close day (migration 014);
        // the decision's own effective day is then the later one.
        let day = stored.as_ref().and_then(|d| d["effective_day"].as_i64()).map_or(in_effect_day, |d| (d as i32).max(in_effect_day));
        let scopes: BTreeMap<String, String> = stored
            .as_ref()
            .and_then(|d| d["scope_outcomes"].as_object())
            .map(|m| m.iter().map(|(k, v)| (k.clone(), if v.as_bool() == Some(true) { "approved" } else { "rejected" }.to_owned())).collect())
            .unwrap_or_default();
        // A router built twice over one plan (tests) must not record an outcome twice.
        let already = recorded.iter().any(|e| {
            e.day == day && e.project == project && matches!(e.kind, renewtwin_twin::manifest::EventKind::ConsultationClosed { .. })
        });
        if already {
            continue;
        }
        let request = EventRequest {
            kind: EventRequestKind::ConsultationClosed,
            project: project.clone(),
            day: Some(day),
            date: None,
            outcome: Some(outcome),
            approval: None,
            name: None,
            scenario: None,
            scopes,
        };
        let mut requests = vec![request];
        let chosen = stored.as_ref().and_then(|d| d["scenario"].as_str());
        requests.extend(scenario_request(&project, day, chosen));
        if let Err(e) = plan.record_all(requests) {
            tracing::warn!(%project, day, error = %e, "a stored consultation outcome no longer fits the plan");
        }
    }
    Ok(())
}

/// `PUT /api/projects/{project}/satisfaction`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Satisfaction {
    pub score: i64,
}

/// Records or changes the household's satisfaction with `project`.
pub fn rate(conn: &renewtwin_store::db::Connection, household: i64, project: &str, score: i64) -> Result<()> {
    check_id("project", project)?;
    if !(1..=5).contains(&score) {
        return Err(ConsultationError::Invalid("`score` is 1 (very unsatisfied) to 5 (very satisfied)".into()));
    }
    conn.execute(
        "INSERT INTO c_surveys (project, household_id, score, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (project, household_id) DO UPDATE SET score = excluded.score, updated_at = excluded.updated_at",
        (project, household, score, now()),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store with one consultation of one consent question and three households; returns the
    /// question id and the household ids.
    fn setup() -> (Store, i64, Vec<i64>) {
        let store = Store::in_memory(&[crate::MIGRATIONS]).expect("store");
        let (question, households) = {
            let mut conn = store.lock().expect("lock");
            conn.execute(
                "INSERT INTO c_accounts (username, password_hash, role, display_name, created_at) VALUES ('gov', 'x', 'government', 'G', 0)",
                [],
            )
            .expect("account");
            let by = conn.last_insert_rowid().expect("id");
            let mut households = Vec::new();
            for code in ["1-1-101", "1-1-102", "1-1-201"] {
                conn.execute("INSERT INTO c_households (code, building) VALUES (?1, '1')", [code]).expect("household");
                households.push(conn.last_insert_rowid().expect("id"));
            }
            let c = NewConsultation {
                project: "lifts".into(),
                title: "t".into(),
                description: String::new(),
                questions: vec![NewQuestion { text: "q".into(), kind: QuestionKind::Consent, alternatives: Vec::new() }],
                scopes: Vec::new(),
                tally: TallyPublication::Every(1),
            };
            let record = open(&mut conn, by, &c, 0).expect("opens");
            (record.questions[0].id, households)
        };
        (store, question, households)
    }

    #[test]
    fn nothing_stored_links_a_ballot_to_its_household_without_the_key() {
        let (store, question, households) = setup();
        let key = BallotKey::from_bytes([5; 32]);
        let mut conn = store.lock().expect("lock");
        adopt_key(&mut conn, &key).expect("adopts");
        for (h, choice) in households.iter().zip([0, 1, 1]) {
            vote(&mut conn, &key, 0, *h, question, choice).expect("votes");
        }
        // The household changes its mind: still one ballot.
        let (_, record, _) = vote(&mut conn, &key, 0, households[0], question, 1).expect("changes");
        assert_eq!(record.questions[0].tally, vec![0, 3, 0]);
        // Every column of every ballot row: no household id, code or exact time.
        let rows: Vec<(i64, i64, String, i64, i64)> = conn
            .prepare("SELECT id, question_id, voter, alternative, updated_at FROM c_secret_ballots")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .expect("query")
            .collect::<renewtwin_store::db::Result<_>>()
            .expect("rows");
        assert_eq!(rows.len(), 3);
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('c_secret_ballots')")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<renewtwin_store::db::Result<_>>()
            .expect("columns");
        assert_eq!(columns, ["id", "question_id", "voter", "alternative", "updated_at"], "no household column");
        for (_, _, voter, _, at) in &rows {
            assert!(voter.len() == 64 && voter.chars().all(|c| c.is_ascii_hexdigit()), "a keyed hash: {voter}");
            assert!(households.iter().all(|h| *voter != key.pseudonym(question + 1, *h)), "not another question's pseudonym");
            assert_eq!(at % 86_400, 0, "the day only");
        }
        let old: i64 = conn.query_row("SELECT COUNT(*) FROM c_ballots", [], |r| r.get(0)).expect("count");
        assert_eq!(old, 0);
        // With the key: the household finds its own ballot, and the close sees each household.
        let mine = ballot(&conn, &key, 0, households[0], question).expect("reads").expect("cast");
        assert_eq!(mine.alternative, 1);
        let hh = super::households(&conn).expect("households");
        let cast = casts(&conn, &key, question, &hh).expect("casts");
        assert_eq!(cast.len(), 3);
        assert!(cast.iter().all(|c| c.alternative == 1 && c.household.starts_with("1-1-")));
        // With another key nothing links, and the store refuses to run under it.
        let stranger = BallotKey::from_bytes([6; 32]);
        assert!(casts(&conn, &stranger, question, &hh).expect("casts").is_empty());
        let e = adopt_key(&mut conn, &stranger).expect_err("another key");
        assert!(e.to_string().contains(&key.fingerprint()) && e.to_string().contains("3 stored ballots"), "{e}");
        assert_eq!(voted(&conn, &key).expect("turnout").len(), 3);
    }

    #[test]
    fn ballots_stored_beside_their_households_move_under_their_pseudonyms() {
        let (store, question, households) = setup();
        let key = BallotKey::from_bytes([5; 32]);
        let mut conn = store.lock().expect("lock");
        for (h, choice) in households.iter().zip([0, 0, 2]) {
            conn.execute(
                "INSERT INTO c_ballots (question_id, household_id, alternative, updated_at) VALUES (?1, ?2, ?3, 1714552217)",
                (question, h, choice),
            )
            .expect("a ballot of the old layout");
        }
        adopt_key(&mut conn, &key).expect("adopts and moves");
        let old: i64 = conn.query_row("SELECT COUNT(*) FROM c_ballots", [], |r| r.get(0)).expect("count");
        assert_eq!(old, 0, "the old rows are gone");
        let hh = super::households(&conn).expect("households");
        let mut choices: Vec<usize> = casts(&conn, &key, question, &hh).expect("casts").iter().map(|c| c.alternative).collect();
        choices.sort_unstable();
        assert_eq!(choices, vec![0, 0, 2]);
        assert_eq!(live_tally(&conn, question, 3).expect("tally"), vec![2, 0, 1]);
        adopt_key(&mut conn, &key).expect("the same key again");
    }
}
