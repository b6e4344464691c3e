//! Approvals that gate: each authority's inbox of the approvals that name it, and its decision
//! (grant or refusal, always with a reason), recorded into the plan as an event, stored with its
//! reason and appended to the audit log.
//!
//! Days are simulated days of the plan (day 0 is the scene's `start`); "today" is the real date
//! as a plan day, distinct from the simulated day the twin is showing. An approval is in an
//! authority's inbox from the day the plan hands it the file (its dependencies granted) until
//! it decides; past its time limit it is overdue, unless the scene says its jurisdiction deems
//! silence a grant (`on_timeout = "deemed_granted"`), in which case it left the inbox granted.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use renewtwin_twin::manifest::{EventKind, Manifest, OnTimeout};
use renewtwin_twin::renewal::control::{EventRequest, EventRequestKind, PlanControl};
use renewtwin_twin::renewal::plan::Plan;

use super::auth::{Account, Role};
use super::{ConsultationError, Result, check_text, now, rfc3339};

/// `POST /api/approvals/{project}/{approval}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// `granted` or `refused`.
    pub decision: String,
    /// Why (shown to everyone, in the approval list and the audit log).
    pub reason: String,
    /// The plan day of the decision; or give `date`; default: today.
    #[serde(default)]
    pub day: Option<i32>,
    /// `YYYY-MM-DD`; or give `day`.
    #[serde(default)]
    pub date: Option<String>,
}

/// One approval as an inbox line.
#[derive(Debug, Clone, Serialize)]
pub struct InboxItem {
    pub project: String,
    pub project_name: String,
    pub approval: String,
    pub name: String,
    pub authority: String,
    pub time_limit: u32,
    pub on_timeout: &'static str,
    /// `waiting` (not yet received), `pending`, `overdue`, `granted`, `deemed_granted`, `refused`.
    pub status: &'static str,
    pub received_day: Option<i32>,
    pub received_date: Option<String>,
    pub due_day: Option<i32>,
    pub due_date: Option<String>,
    /// Days to the time limit from today (negative: overdue by that many).
    pub days_left: Option<i32>,
    /// Days to the time limit from the simulated day.
    pub days_left_simulated: Option<i32>,
    pub decided_day: Option<i32>,
    pub days_late: i32,
    pub reason: Option<String>,
}

/// The plan day of `date` (a real date) for a plan starting on `start`.
pub fn plan_day(manifest: &Manifest, date: renewtwin_protocol::CivilDate) -> i32 {
    i32::try_from(date.days_since_epoch() - manifest.start.days_since_epoch()).unwrap_or(i32::MAX)
}

/// Today (the real date, UTC) as a plan day.
pub fn today(manifest: &Manifest) -> i32 {
    let days = now().div_euclid(86_400);
    i32::try_from(days - manifest.start.days_since_epoch()).unwrap_or(i32::MAX)
}

/// Every approval of the plan as inbox lines, for `authority` only if given; `today` and
/// `sim_day` are plan days; `reasons` the stored decisions' reasons by (project, approval).
pub fn inbox(
    manifest: &Manifest,
    plan: &Plan,
    authority: Option<&str>,
    today: i32,
    sim_day: i32,
    reasons: &[(String, String, String)],
) -> Vec<InboxItem> {
    let date = |d: i32| {
        renewtwin_protocol::CivilDate::from_sim_day(manifest.start, renewtwin_protocol::SimDay(d))
            .to_string()
    };
    let mut out = Vec::new();
    for report in &plan.approvals {
        let Some(project) = manifest.projects.get(report.project) else {
            continue;
        };
        for w in &report.approvals {
            if authority.is_some_and(|a| a != w.authority) {
                continue;
            }
            let Some(spec) = project.approvals.iter().find(|a| a.id == w.id) else {
                continue;
            };
            let status = match (w.start, w.granted, w.refused) {
                (None, _, _) => "waiting",
                (_, _, Some(_)) => "refused",
                (_, Some(_), _) if w.deemed => "deemed_granted",
                (_, Some(g), _) if g <= today => "granted",
                (Some(s), _, _) if s > today => "waiting",
                _ if w.due.is_some_and(|d| today > d) => "overdue",
                _ => "pending",
            };
            // A grant recorded for a day still to come is shown as granted from that day.
            let status = if status == "granted" || w.granted.is_none_or(|g| g <= today) {
                status
            } else {
                "pending"
            };
            let undecided = matches!(status, "pending" | "overdue" | "waiting");
            out.push(InboxItem {
                project: project.id.clone(),
                project_name: project.name.clone(),
                approval: w.id.clone(),
                name: w.name.clone(),
                authority: w.authority.clone(),
                time_limit: spec.time_limit,
                on_timeout: spec.on_timeout.key(),
                status,
                received_day: w.start,
                received_date: w.start.map(date),
                due_day: w.due,
                due_date: w.due.map(date),
                days_left: w.due.filter(|_| undecided).map(|d| d - today),
                days_left_simulated: w.due.filter(|_| undecided).map(|d| d - sim_day),
                decided_day: w.granted.filter(|_| !w.deemed).or(w.refused),
                days_late: w.days_late,
                reason: reasons
                    .iter()
                    .find(|(p, a, _)| *p == project.id && *a == w.id)
                    .map(|(_, _, r)| r.clone()),
            });
        }
    }
    out
}

/// Stored decisions' reasons: (project, approval, reason).
pub fn reasons(conn: &renewtwin_store::db::Connection) -> Result<Vec<(String, String, String)>> {
    let mut stmt =
        conn.prepare("SELECT project, approval, reason FROM c_approval_decisions ORDER BY id")?;
    let out = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<renewtwin_store::db::Result<_>>()?;
    Ok(out)
}

/// A decision checked against the plan: what to record.
#[derive(Debug, Clone)]
pub struct Checked {
    pub project: String,
    pub approval: String,
    pub granted: bool,
    pub day: i32,
    pub reason: String,
    pub authority: String,
    pub received_day: i32,
    pub due_day: i32,
}

/// Checks that `account` may decide approval `approval` of `project` now: it is the named
/// authority (government may record a decision on an authority's behalf), the approval has
/// reached the authority and is undecided, the day is not before it arrived, and a reason is
/// given.
pub fn check(
    manifest: &Manifest,
    plan: &Plan,
    account: &Account,
    project: &str,
    approval: &str,
    d: &Decision,
    today: i32,
) -> Result<Checked> {
    let granted = match d.decision.as_str() {
        "granted" => true,
        "refused" => false,
        other => {
            return Err(ConsultationError::Invalid(format!(
                "`decision` {other:?}: an approval is \"granted\" or \"refused\""
            )));
        }
    };
    check_text("reason", &d.reason, 2000, false)?;
    let pi = manifest
        .projects
        .iter()
        .position(|p| p.id == project)
        .ok_or_else(|| ConsultationError::NotFound(format!("no project {project:?}")))?;
    let spec = manifest.projects[pi]
        .approvals
        .iter()
        .find(|a| a.id == approval)
        .ok_or_else(|| {
            ConsultationError::NotFound(format!("project {project:?} has no approval {approval:?}"))
        })?;
    let own = account.role == Role::Authority
        && account.organisation.as_deref() == Some(spec.authority.as_str());
    if !own && account.role != Role::Government {
        return Err(ConsultationError::Forbidden(format!(
            "approval {approval:?} of {project:?} is decided by {}, not by this account",
            spec.authority
        )));
    }
    let window = plan
        .approvals
        .iter()
        .filter(|r| r.project == pi)
        .flat_map(|r| &r.approvals)
        .find(|w| w.id == approval)
        .ok_or_else(|| {
            ConsultationError::NotFound(format!("approval {approval:?} is not scheduled"))
        })?;
    let decided = manifest.events.iter().any(|e| {
        e.project == project
            && matches!(&e.kind, EventKind::ApprovalGranted { approval: a } | EventKind::ApprovalRefused { approval: a } if a == approval)
    });
    if decided {
        return Err(ConsultationError::Conflict(format!(
            "approval {approval:?} of {project:?} has been decided already"
        )));
    }
    if window.deemed
        && spec.on_timeout == OnTimeout::DeemedGranted
        && window.due.is_some_and(|due| today > due)
    {
        return Err(ConsultationError::Conflict(format!(
            "approval {approval:?} was deemed granted on day {} under its jurisdiction's rule",
            window.due.unwrap_or_default()
        )));
    }
    let (Some(received), Some(due)) = (window.start, window.due) else {
        return Err(ConsultationError::Conflict(format!(
            "approval {approval:?} has not reached {} yet: it waits for the approvals it depends on ({:?})",
            spec.authority, spec.depends
        )));
    };
    let day = match (d.day, d.date.as_deref()) {
        (None, None) => today,
        (Some(day), None) => day,
        (None, Some(text)) => {
            let date = renewtwin_protocol::CivilDate::parse_iso(text).ok_or_else(|| {
                ConsultationError::Invalid(format!("`date` {text:?} is not YYYY-MM-DD"))
            })?;
            plan_day(manifest, date)
        }
        _ => {
            return Err(ConsultationError::Invalid(
                "give at most one of `day` or `date`".into(),
            ));
        }
    };
    if day < received {
        return Err(ConsultationError::Conflict(format!(
            "a decision on day {day} comes before {} received approval {approval:?} on day {received}",
            spec.authority
        )));
    }
    if day > today {
        return Err(ConsultationError::Conflict(format!(
            "a decision on day {day} is in the future (today is day {today})"
        )));
    }
    Ok(Checked {
        project: project.to_owned(),
        approval: approval.to_owned(),
        granted,
        day,
        reason: d.reason.clone(),
        authority: spec.authority.clone(),
        received_day: received,
        due_day: due,
    })
}

/// Records a checked decision into the plan (re-resolving it).
pub fn record_in_plan(plan: &PlanControl, c: &Checked) -> Result<()> {
    let request = EventRequest {
        kind: if c.granted {
            EventRequestKind::ApprovalGranted
        } else {
            EventRequestKind::ApprovalRefused
        },
        project: c.project.clone(),
        day: Some(c.day),
        date: None,
        outcome: None,
        approval: Some(c.approval.clone()),
        name: None,
        scenario: None,
        scopes: Default::default(),
    };
    plan.record(request).map(|_| ()).map_err(|e| match e {
        renewtwin_twin::renewal::control::EventError::Unavailable(_) => {
            ConsultationError::Unavailable("the replicas' shared log (NATS) cannot be reached; nothing was recorded, try again later")
        }
        e => ConsultationError::Plan(e),
    })
}

/// Stores a decision recorded in the plan and appends it to the audit log, in one transaction.
pub fn store(conn: &mut renewtwin_store::db::Connection, account: &Account, c: &Checked) -> Result<Value> {
    let tx = conn.transaction()?;
    let at = now();
    tx.execute(
        "INSERT INTO c_approval_decisions (project, approval, granted, day, reason, decided_by, decided_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        (&c.project, &c.approval, c.granted, c.day, &c.reason, account.id, at),
    )?;
    let days_late = (c.day - c.due_day).max(0);
    let detail = json!({
        "approval": c.approval, "authority": c.authority, "decision": if c.granted { "granted" } else { "refused" },
        "day": c.day, "received_day": c.received_day, "due_day": c.due_day, "days_late": days_late, "reason": c.reason,
    });
    let (seq, hash) = super::audit::append(
        &tx,
        &super::audit::Entry {
            actor: Some(account.id),
            actor_role: account.label(),
            action: if c.granted {
                "approval_granted".into()
            } else {
                "approval_refused".into()
            },
            project: Some(c.project.clone()),
            subject: format!("approval {}", c.approval),
            detail: detail.clone(),
            personal: json!({"organisation": account.organisation}),
        },
    )?;
    tx.commit()?;
    let mut out = detail;
    if let Some(m) = out.as_object_mut() {
        m.insert("project".into(), c.project.clone().into());
        m.insert("recorded_at".into(), rfc3339(at).into());
        m.insert("audit_seq".into(), seq.into());
        m.insert("audit_hash".into(), hash.into());
    }
    Ok(out)
}

/// Records into `plan` every decision stored in earlier runs, oldest first (skipping those the
/// plan has already).
pub fn replay(store: &renewtwin_store::Store, plan: &PlanControl) -> Result<()> {
    let stored: Vec<(String, String, bool, i32)> = {
        let conn = store.lock()?;
        let mut stmt = conn.prepare(
            "SELECT project, approval, granted, day FROM c_approval_decisions ORDER BY id",
        )?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<renewtwin_store::db::Result<_>>()?
    };
    let recorded = plan.events();
    for (project, approval, granted, day) in stored {
        let already = recorded.iter().any(|e| {
            e.day == day
                && e.project == project
                && matches!(&e.kind, EventKind::ApprovalGranted { approval: a } | EventKind::ApprovalRefused { approval: a } if *a == approval)
        });
        if already {
            continue;
        }
        let c = Checked {
            project: project.clone(),
            approval,
            granted,
            day,
            reason: String::new(),
            authority: String::new(),
            received_day: day,
            due_day: day,
        };
        if let Err(e) = record_in_plan(plan, &c) {
            tracing::warn!(%project, day, error = %e, "a stored approval decision no longer fits the plan");
        }
    }
    Ok(())
}
