//! Actual progress: contractors and government record, per task and optionally per building,
//! the actual start, the actual finish, the percent complete and the reason for a delay. The
//! latest record of a task (and building) stands; every record is appended to the audit log.
//! Each answer sets the actual figures beside the plan's, with the delay in days.

use serde::{Deserialize, Serialize};
use serde_json::json;

use renewtwin_protocol::{CivilDate, SimDay};
use renewtwin_twin::manifest::Manifest;
use renewtwin_twin::renewal::plan::Plan;

use super::auth::Account;
use super::{ConsultationError, Result, check_text, now, rfc3339};

/// `POST /api/progress`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProgress {
    pub project: String,
    pub task: String,
    /// A building name as the model names it; absent: the whole task.
    #[serde(default)]
    pub building: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub actual_start: Option<String>,
    /// `YYYY-MM-DD`; only with 100 percent.
    #[serde(default)]
    pub actual_finish: Option<String>,
    /// 0 to 100.
    pub percent: f64,
    #[serde(default)]
    pub delay_reason: Option<String>,
    /// Yuan spent on the task (or the building's share) so far.
    #[serde(default)]
    pub actual_cost: Option<f64>,
}

/// A task's (or a task's building's) actual progress beside the plan.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Progress {
    pub project: String,
    pub task: String,
    pub building: Option<String>,
    pub planned_start: Option<String>,
    pub planned_finish: Option<String>,
    pub actual_start: Option<String>,
    pub actual_finish: Option<String>,
    pub percent: f64,
    pub delay_reason: Option<String>,
    /// Actual finish − planned finish when finished; else actual start − planned start when
    /// started; else today − planned start when it should have started; else 0.
    pub delay_days: i32,
    pub actual_cost: Option<f64>,
    pub recorded_at: String,
}

fn date(text: &str, field: &str) -> Result<CivilDate> {
    CivilDate::parse_iso(text)
        .ok_or_else(|| ConsultationError::Invalid(format!("`{field}` {text:?} is not YYYY-MM-DD")))
}

fn day_of(manifest: &Manifest, d: CivilDate) -> i32 {
    i32::try_from(d.days_since_epoch() - manifest.start.days_since_epoch()).unwrap_or(i32::MAX)
}

/// Checks a record against the plan (`buildings`: the model's building names) and `today` (a
/// plan day).
pub fn check(
    manifest: &Manifest,
    plan: &Plan,
    buildings: &[String],
    p: &NewProgress,
    today: i32,
) -> Result<()> {
    let project = manifest
        .projects
        .iter()
        .find(|x| x.id == p.project)
        .ok_or_else(|| ConsultationError::NotFound(format!("no project {:?}", p.project)))?;
    if !project.tasks.iter().any(|t| t.id == p.task) && !plan.tasks.iter().any(|t| t.id == p.task) {
        return Err(ConsultationError::NotFound(format!(
            "project {:?} has no task {:?}",
            p.project, p.task
        )));
    }
    if let Some(b) = &p.building
        && !buildings.iter().any(|x| x == b)
    {
        return Err(ConsultationError::Invalid(format!(
            "no building {b:?} in the model; buildings are {buildings:?}"
        )));
    }
    if !(0.0..=100.0).contains(&p.percent) || !p.percent.is_finite() {
        return Err(ConsultationError::Invalid(format!(
            "`percent` {} is not between 0 and 100",
            p.percent
        )));
    }
    if let Some(c) = p.actual_cost
        && (!c.is_finite() || c < 0.0)
    {
        return Err(ConsultationError::Invalid(format!(
            "`actual_cost` {c} is not a positive amount of yuan"
        )));
    }
    if let Some(r) = &p.delay_reason {
        check_text("delay_reason", r, 500, false)?;
    }
    let start = p
        .actual_start
        .as_deref()
        .map(|t| date(t, "actual_start"))
        .transpose()?;
    let finish = p
        .actual_finish
        .as_deref()
        .map(|t| date(t, "actual_finish"))
        .transpose()?;
    for (d, field) in [(start, "actual_start"), (finish, "actual_finish")] {
        if let Some(d) = d
            && day_of(manifest, d) > today
        {
            return Err(ConsultationError::Invalid(format!(
                "`{field}` {d} is in the future"
            )));
        }
    }
    if p.percent > 0.0 && start.is_none() {
        return Err(ConsultationError::Invalid(
            "work under way has an `actual_start`".into(),
        ));
    }
    match (start, finish) {
        (None, Some(_)) => {
            return Err(ConsultationError::Invalid(
                "an `actual_finish` needs an `actual_start`".into(),
            ));
        }
        (Some(s), Some(f)) if f.days_since_epoch() < s.days_since_epoch() => {
            return Err(ConsultationError::Invalid(format!(
                "`actual_finish` {f} is before `actual_start` {s}"
            )));
        }
        (_, Some(_)) if p.percent < 100.0 => {
            return Err(ConsultationError::Invalid(
                "a finished task is 100 percent complete".into(),
            ));
        }
        _ => {}
    }
    Ok(())
}

/// Stores a checked record and appends it to the audit log, in one transaction.
pub fn record(conn: &mut renewtwin_store::db::Connection, account: &Account, p: &NewProgress) -> Result<i64> {
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO c_progress (project, task, building, actual_start, actual_finish, percent, delay_reason, recorded_by, recorded_at, actual_cost)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        renewtwin_store::params![p.project, p.task, p.building, p.actual_start, p.actual_finish, p.percent, p.delay_reason, account.id, now(), p.actual_cost],
    )?;
    let id = tx.last_insert_rowid()?;
    super::audit::append(
        &tx,
        &super::audit::Entry {
            actor: Some(account.id),
            actor_role: account.label(),
            action: "progress_recorded".into(),
            project: Some(p.project.clone()),
            subject: match &p.building {
                Some(b) => format!("task {} building {b}", p.task),
                None => format!("task {}", p.task),
            },
            detail: json!({"actual_start": p.actual_start, "actual_finish": p.actual_finish, "percent": p.percent, "delay_reason": p.delay_reason, "actual_cost": p.actual_cost}),
            personal: json!({"organisation": account.organisation}),
        },
    )?;
    tx.commit()?;
    Ok(id)
}

type Row = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    f64,
    Option<String>,
    i64,
    Option<f64>,
);

/// The latest record of every task (and building), with the plan's dates beside it, for
/// `project` if given; `today` is a plan day.
pub fn list(
    conn: &renewtwin_store::db::Connection,
    manifest: &Manifest,
    plan: &Plan,
    project: Option<&str>,
    today: i32,
) -> Result<Vec<Progress>> {
    let mut stmt = conn.prepare(
        "SELECT project, task, building, actual_start, actual_finish, percent, delay_reason, recorded_at, actual_cost FROM c_progress p
         WHERE id = (SELECT MAX(id) FROM c_progress q WHERE q.project = p.project AND q.task = p.task AND q.building IS p.building)
           AND (project = ?1 OR ?1 IS NULL)
         ORDER BY project, task, building",
    )?;
    let rows: Vec<Row> = stmt
        .query_map([project], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        })?
        .collect::<renewtwin_store::db::Result<_>>()?;
    let show = |d: i32| CivilDate::from_sim_day(manifest.start, SimDay(d)).to_string();
    let parse_day = |t: &Option<String>| {
        t.as_deref()
            .and_then(CivilDate::parse_iso)
            .map(|d| day_of(manifest, d))
    };
    Ok(rows
        .into_iter()
        .map(
            |(
                project,
                task,
                building,
                actual_start,
                actual_finish,
                percent,
                delay_reason,
                at,
                actual_cost,
            )| {
                let planned = plan.tasks.iter().find(|t| t.id == task);
                let (ps, pf) = planned.map_or((None, None), |t| (t.start, t.end));
                let delay_days = match (parse_day(&actual_start), parse_day(&actual_finish), ps, pf)
                {
                    (_, Some(f), _, Some(pf)) => f - pf,
                    (Some(s), None, Some(ps), _) => s - ps,
                    (None, None, Some(ps), _) if today > ps => today - ps,
                    _ => 0,
                };
                Progress {
                    project,
                    task,
                    building,
                    planned_start: ps.map(show),
                    planned_finish: pf.map(show),
                    actual_start,
                    actual_finish,
                    percent,
                    delay_reason,
                    delay_days,
                    actual_cost,
                    recorded_at: rfc3339(at),
                }
            },
        )
        .collect())
}

/// A project's actual progress from the latest records: the cost-weighted percent complete
/// over its tasks (a task recorded per building counts the mean of its buildings; a task
/// without a record counts 0), the earliest actual start, the actual finish once every task
/// is finished, and the largest delay.
pub fn summary(
    manifest: &Manifest,
    plan: &Plan,
    project: &str,
    records: &[Progress],
) -> serde_json::Value {
    let Some(pi) = manifest.projects.iter().position(|p| p.id == project) else {
        return serde_json::Value::Null;
    };
    let tasks: Vec<_> = plan.tasks.iter().filter(|t| t.project == pi).collect();
    let mine: Vec<&Progress> = records.iter().filter(|r| r.project == project).collect();
    let weight = |c: f64| if c > 0.0 { c } else { 1.0 };
    let total: f64 = tasks.iter().map(|t| weight(t.cost)).sum();
    let mut done = 0.0;
    let mut finished = 0;
    for t in &tasks {
        let of_task: Vec<&&Progress> = mine.iter().filter(|r| r.task == t.id).collect();
        if of_task.is_empty() {
            continue;
        }
        let whole: Vec<&&&Progress> = of_task.iter().filter(|r| r.building.is_none()).collect();
        let percent = match whole.first() {
            Some(r) => r.percent,
            None => of_task.iter().map(|r| r.percent).sum::<f64>() / of_task.len() as f64,
        };
        if percent >= 100.0 {
            finished += 1;
        }
        done += weight(t.cost) * percent / 100.0;
    }
    let start = mine.iter().filter_map(|r| r.actual_start.clone()).min();
    let finish = if !tasks.is_empty() && finished == tasks.len() {
        mine.iter().filter_map(|r| r.actual_finish.clone()).max()
    } else {
        None
    };
    json!({
        "percent_complete": if total > 0.0 { (done / total * 1000.0).round() / 10.0 } else { 0.0 },
        "actual_start": start,
        "actual_finish": finish,
        "delay_days": mine.iter().map(|r| r.delay_days).max().unwrap_or(0),
        "records": mine.len(),
    })
}

/// The latest records as the twin's task actuals (plan days): per task the earliest actual
/// start, the latest actual finish once every record of it is finished, the mean percent and
/// the sum of the recorded costs.
pub fn task_actuals(
    manifest: &Manifest,
    records: &[Progress],
) -> Vec<renewtwin_twin::renewal::indicators::TaskActual> {
    let day = |t: &Option<String>| {
        t.as_deref()
            .and_then(CivilDate::parse_iso)
            .map(|d| day_of(manifest, d))
    };
    let mut tasks: Vec<&str> = records.iter().map(|r| r.task.as_str()).collect();
    tasks.sort_unstable();
    tasks.dedup();
    tasks
        .into_iter()
        .map(|task| {
            let of: Vec<&Progress> = records.iter().filter(|r| r.task == task).collect();
            let finished = of.iter().all(|r| r.actual_finish.is_some());
            let costs: Vec<f64> = of.iter().filter_map(|r| r.actual_cost).collect();
            renewtwin_twin::renewal::indicators::TaskActual {
                task: task.to_owned(),
                start: of.iter().filter_map(|r| day(&r.actual_start)).min(),
                finish: if finished {
                    of.iter().filter_map(|r| day(&r.actual_finish)).max()
                } else {
                    None
                },
                percent: of.iter().map(|r| r.percent).sum::<f64>() / of.len() as f64,
                cost: (!costs.is_empty()).then(|| costs.iter().sum()),
            }
        })
        .collect()
}
