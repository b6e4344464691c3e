//! 4D schedules: IfcWorkSchedule with the IfcTasks assigned to it (IfcRelAssignsToControl, and
//! IFC2X3's IfcRelAssignsTasks), nested tasks (IfcRelNests), task times (IFC4 IfcTaskTime;
//! IFC2X3 IfcScheduleTimeControl), predecessors (IfcRelSequence with type and lag), and the
//! products each task works on. Authoring tools disagree on the direction of that last link,
//! so both IfcRelAssignsToProcess (task → products) and IfcRelAssignsToProduct (product →
//! tasks) are read.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use ifc_lite_core::{AttributeValue, DecodedEntity, EntityDecoder};

use super::diagnostic;
use super::properties::text;
use super::source::Scanned;
use crate::{Diagnostic, DiagnosticKind, Severity, Task, TaskLink, TimeValue, WorkSchedule};

/// How deep task nesting is followed.
const MAX_NESTING: usize = 64;

/// Seconds per day, for IFC2X3 IfcTimeMeasure values.
const SECONDS_PER_DAY: f64 = 86_400.0;

/// The relationship classes [`fold`] reads.
const RELATIONSHIPS: [&str; 6] = [
    "IFCRELASSIGNSTOCONTROL",
    "IFCRELASSIGNSTASKS",
    "IFCRELNESTS",
    "IFCRELSEQUENCE",
    "IFCRELASSIGNSTOPROCESS",
    "IFCRELASSIGNSTOPRODUCT",
];

/// Relationships that matter for schedules, folded by the object they describe.
#[derive(Debug, Default)]
struct Links {
    /// schedule → its directly assigned tasks, in relationship order.
    assigned: BTreeMap<u32, Vec<u32>>,
    /// task → nested tasks, in relationship order.
    nested: HashMap<u32, Vec<u32>>,
    /// task → (predecessor, sequence type, lag).
    predecessors: HashMap<u32, Vec<(u32, String, Option<TimeValue>)>>,
    /// task → product `#id`s.
    products: HashMap<u32, BTreeSet<u32>>,
    /// task → IFC2X3 IfcScheduleTimeControl.
    time_control: HashMap<u32, u32>,
}

/// Reads every work schedule; tasks assigned to no schedule are gathered in one with
/// `step_id` 0. `elements` maps a product `#id` to its index in the model's elements.
pub(crate) fn read(
    scanned: &Scanned,
    decoder: &mut EntityDecoder,
    elements: &super::ElementIndex<'_>,
    ifc2x3: bool,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<WorkSchedule> {
    // Only the records of these classes: looked up in the scan's keyword table.
    let ids =
        |class: &str| -> Vec<u32> { scanned.records_of(class).iter().map(|r| r.id).collect() };
    let task_ids = ids("IFCTASK");
    let schedule_ids = ids("IFCWORKSCHEDULE");
    if task_ids.is_empty() && schedule_ids.is_empty() {
        return Vec::new();
    }
    let rels: Vec<(u32, String)> = scanned
        .records_where(|keyword| {
            RELATIONSHIPS
                .iter()
                .any(|class| keyword.eq_ignore_ascii_case(class))
        })
        .into_iter()
        .map(|r| (r.id, scanned.keyword(r).to_ascii_uppercase()))
        .collect();
    let tasks: HashSet<u32> = task_ids.iter().copied().collect();
    let schedules: HashSet<u32> = schedule_ids.iter().copied().collect();
    let links = fold(
        decoder,
        scanned,
        &rels,
        &tasks,
        &schedules,
        ifc2x3,
        diagnostics,
    );

    let mut out = Vec::new();
    let mut scheduled: HashSet<u32> = HashSet::new();
    for &id in &schedule_ids {
        let Ok(entity) = decoder.decode_by_id(id) else {
            continue;
        };
        let roots = links.assigned.get(&id).cloned().unwrap_or_default();
        let mut schedule = WorkSchedule {
            step_id: id,
            global_id: text(&entity, 0).unwrap_or_default(),
            name: text(&entity, 2),
            // IfcWorkControl: Identification (IFC2X3 Identifier) 5, StartTime 11,
            // FinishTime 12 (IFC2X3: IfcDateTimeSelect entities, IFC4: ISO strings).
            identification: text(&entity, 5),
            start: None,
            finish: None,
            tasks: Vec::new(),
        };
        if ifc2x3 {
            schedule.start = date_select(decoder, entity.get(11));
            schedule.finish = date_select(decoder, entity.get(12));
        } else {
            schedule.start = entity.get(11).and_then(date_value);
            schedule.finish = entity.get(12).and_then(date_value);
        }
        fill_tasks(
            &mut schedule,
            &roots,
            decoder,
            &links,
            elements,
            ifc2x3,
            diagnostics,
        );
        scheduled.extend(schedule.tasks.iter().map(|t| t.step_id));
        out.push(schedule);
    }
    let nested: HashSet<u32> = links.nested.values().flatten().copied().collect();
    let loose: Vec<u32> = task_ids
        .iter()
        .copied()
        .filter(|t| !scheduled.contains(t) && !nested.contains(t))
        .collect();
    if !loose.is_empty() {
        diagnostics.push(diagnostic(
            Severity::Info,
            DiagnosticKind::Other,
            None,
            Some("IfcTask"),
            format!(
                "{} tasks belong to no IfcWorkSchedule; they are gathered in a schedule without id",
                loose.len()
            ),
        ));
        let mut schedule = WorkSchedule {
            name: Some("unscheduled tasks".to_owned()),
            ..WorkSchedule::default()
        };
        fill_tasks(
            &mut schedule,
            &loose,
            decoder,
            &links,
            elements,
            ifc2x3,
            diagnostics,
        );
        out.push(schedule);
    }
    out
}

/// Adds `roots` and their nested tasks (depth first) to `schedule`, then the predecessor links
/// between them.
fn fill_tasks(
    schedule: &mut WorkSchedule,
    roots: &[u32],
    decoder: &mut EntityDecoder,
    links: &Links,
    elements: &super::ElementIndex<'_>,
    ifc2x3: bool,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let mut index: HashMap<u32, usize> = HashMap::new();
    let mut stack: Vec<(u32, Option<usize>, usize)> =
        roots.iter().rev().map(|&r| (r, None, 0)).collect();
    while let Some((id, parent, depth)) = stack.pop() {
        if index.contains_key(&id) || depth > MAX_NESTING {
            continue;
        }
        let Ok(entity) = decoder.decode_by_id(id) else {
            continue;
        };
        let mut task = read_task(decoder, &entity, links, ifc2x3);
        task.parent = parent;
        task.products = links
            .products
            .get(&id)
            .map(|ps| ps.iter().filter_map(|p| elements.get(p).copied()).collect())
            .unwrap_or_default();
        task.products.sort_unstable();
        task.products.dedup();
        let at = schedule.tasks.len();
        index.insert(id, at);
        schedule.tasks.push(task);
        if let Some(children) = links.nested.get(&id) {
            stack.extend(children.iter().rev().map(|&c| (c, Some(at), depth + 1)));
        }
    }
    for task in &mut schedule.tasks {
        for (pred, kind, lag) in links.predecessors.get(&task.step_id).into_iter().flatten() {
            match index.get(pred) {
                Some(&at) => task.predecessors.push(TaskLink {
                    task: at,
                    sequence_type: kind.clone(),
                    lag: lag.clone(),
                }),
                None => diagnostics.push(diagnostic(
                    Severity::Info,
                    DiagnosticKind::Other,
                    Some(task.step_id),
                    Some("IfcRelSequence"),
                    format!(
                        "the predecessor #{pred} of task #{} is not in the same work schedule; the link is left out",
                        task.step_id
                    ),
                )),
            }
        }
    }
}

/// One task's own attributes and times.
fn read_task(
    decoder: &mut EntityDecoder,
    entity: &DecodedEntity,
    links: &Links,
    ifc2x3: bool,
) -> Task {
    let mut task = Task {
        step_id: entity.id,
        global_id: text(entity, 0).unwrap_or_default(),
        name: text(entity, 2),
        // IFC4 Identification 5 / IFC2X3 TaskId 5.
        identification: text(entity, 5),
        ..Task::default()
    };
    if ifc2x3 {
        // IFC2X3 IfcTask: IsMilestone 8; times in an IfcScheduleTimeControl.
        task.is_milestone = is_true(entity.get(8));
        if let Some(&control) = links.time_control.get(&entity.id)
            && let Ok(time) = decoder.decode_by_id(control)
        {
            // ActualStart 5, ScheduleStart 8, ActualFinish 9, ScheduleFinish 12,
            // ScheduleDuration 13, ActualDuration 14 (IfcTimeMeasure, seconds).
            task.start =
                date_select(decoder, time.get(8)).or_else(|| date_select(decoder, time.get(5)));
            task.finish =
                date_select(decoder, time.get(12)).or_else(|| date_select(decoder, time.get(9)));
            task.duration = seconds_value(time.get(13)).or_else(|| seconds_value(time.get(14)));
        }
        return task;
    }
    // IFC4: IsMilestone 9, TaskTime 11, PredefinedType 12.
    task.is_milestone = is_true(entity.get(9));
    task.predefined_type = entity
        .get(12)
        .and_then(AttributeValue::as_enum)
        .map(|e| e.trim_matches('.').to_owned());
    if let Some(time_id) = entity.get_ref(11)
        && let Ok(time) = decoder.decode_by_id(time_id)
    {
        // IfcTaskTime: ScheduleDuration 4, ScheduleStart 5, ScheduleFinish 6,
        // ActualDuration 15, ActualStart 16, ActualFinish 17.
        let at = |i: usize| time.get(i);
        task.start = at(5)
            .and_then(date_value)
            .or_else(|| at(16).and_then(date_value));
        task.finish = at(6)
            .and_then(date_value)
            .or_else(|| at(17).and_then(date_value));
        task.duration = at(4)
            .and_then(duration_value)
            .or_else(|| at(15).and_then(duration_value));
    }
    task
}

/// Folds the schedule relationships.
fn fold(
    decoder: &mut EntityDecoder,
    scanned: &Scanned,
    rels: &[(u32, String)],
    tasks: &HashSet<u32>,
    schedules: &HashSet<u32>,
    ifc2x3: bool,
    diagnostics: &mut Vec<Diagnostic>,
) -> Links {
    let mut links = Links::default();
    for (id, keyword) in rels {
        let Ok(rel) = decoder.decode_by_id(*id) else {
            continue;
        };
        let related = rel.get_refs(4).unwrap_or_default();
        match keyword.as_str() {
            // RelatedObjects 4, RelatingControl 6 (IFC2X3 IfcRelAssignsTasks: TimeForTask 7).
            "IFCRELASSIGNSTOCONTROL" | "IFCRELASSIGNSTASKS" => {
                let Some(control) = rel.get_ref(6) else {
                    continue;
                };
                if schedules.contains(&control) {
                    let list = links.assigned.entry(control).or_default();
                    list.extend(related.iter().copied().filter(|t| tasks.contains(t)));
                }
                if let Some(time) = rel.get_ref(7) {
                    for &t in related.iter().filter(|t| tasks.contains(t)) {
                        links.time_control.entry(t).or_insert(time);
                    }
                }
            }
            // RelatingObject 4, RelatedObjects 5.
            "IFCRELNESTS" => {
                let Some(parent) = rel.get_ref(4) else {
                    continue;
                };
                if tasks.contains(&parent) {
                    let children = rel.get_refs(5).unwrap_or_default();
                    links.nested.entry(parent).or_default().extend(
                        children
                            .into_iter()
                            .filter(|c| tasks.contains(c) && *c != parent),
                    );
                }
            }
            // RelatingProcess 4 (before), RelatedProcess 5 (after), TimeLag 6, SequenceType 7.
            "IFCRELSEQUENCE" => {
                let (Some(before), Some(after)) = (rel.get_ref(4), rel.get_ref(5)) else {
                    continue;
                };
                for missing in [before, after]
                    .into_iter()
                    .filter(|p| !scanned.contains(*p))
                {
                    diagnostics.push(diagnostic(
                        Severity::Warning,
                        DiagnosticKind::DanglingReference,
                        Some(*id),
                        Some("IfcRelSequence"),
                        format!(
                            "#{id} refers to #{missing}, which does not exist; that link is ignored"
                        ),
                    ));
                }
                if !tasks.contains(&before) || !tasks.contains(&after) {
                    continue;
                }
                let kind = rel.get(7).and_then(AttributeValue::as_enum).map_or_else(
                    || "NOTDEFINED".to_owned(),
                    |e| e.trim_matches('.').to_owned(),
                );
                let lag = if ifc2x3 {
                    seconds_value(rel.get(6))
                } else {
                    rel.get_ref(6)
                        .and_then(|lag| decoder.decode_by_id(lag).ok())
                        // IfcLagTime.LagValue 3: IfcDuration or a ratio.
                        .and_then(|lag| lag.get(3).and_then(duration_value))
                };
                links
                    .predecessors
                    .entry(after)
                    .or_default()
                    .push((before, kind, lag));
            }
            // RelatedObjects 4 (products), RelatingProcess 6 (task).
            "IFCRELASSIGNSTOPROCESS" => {
                let Some(task) = rel.get_ref(6).filter(|t| tasks.contains(t)) else {
                    continue;
                };
                links.products.entry(task).or_default().extend(related);
            }
            // RelatedObjects 4 (tasks), RelatingProduct 6 (product).
            "IFCRELASSIGNSTOPRODUCT" => {
                let Some(product) = rel.get_ref(6) else {
                    continue;
                };
                for &t in related.iter().filter(|t| tasks.contains(t)) {
                    links.products.entry(t).or_default().insert(product);
                }
            }
            _ => {}
        }
    }
    links
}

fn is_true(value: Option<&AttributeValue>) -> bool {
    value
        .and_then(AttributeValue::as_enum)
        .is_some_and(|e| matches!(e.trim_matches('.'), "T" | "TRUE"))
}

/// An IFC4 IfcDateTime / IfcDate string.
fn date_value(value: &AttributeValue) -> Option<TimeValue> {
    let iso = value.as_string()?.trim().to_owned();
    if iso.is_empty() {
        return None;
    }
    let days = parse_date_days(&iso);
    Some(TimeValue { iso, days })
}

/// An IFC4 IfcDuration string (a ratio lag is kept as text with no days).
fn duration_value(value: &AttributeValue) -> Option<TimeValue> {
    if let AttributeValue::Typed { name, value } = value
        && &**name != "IFCDURATION"
    {
        let ratio = value.as_float()?;
        return Some(TimeValue {
            iso: format!("{name}({ratio})").to_lowercase(),
            days: None,
        });
    }
    let iso = value.as_string()?.trim().to_owned();
    if iso.is_empty() {
        return None;
    }
    let days = parse_duration_days(&iso);
    Some(TimeValue { iso, days })
}

/// An IFC2X3 IfcTimeMeasure (seconds) as a duration.
fn seconds_value(value: Option<&AttributeValue>) -> Option<TimeValue> {
    let seconds = value?.as_float().filter(|s| s.is_finite())?;
    let days = seconds / SECONDS_PER_DAY;
    Some(TimeValue {
        iso: format_duration(days),
        days: Some(days),
    })
}

/// An IFC2X3 IfcDateTimeSelect: IfcCalendarDate (Day 0, Month 1, Year 2) or IfcDateAndTime
/// (DateComponent 0, TimeComponent 1 = IfcLocalTime: Hour 0, Minute 1, Second 2).
fn date_select(decoder: &mut EntityDecoder, value: Option<&AttributeValue>) -> Option<TimeValue> {
    let entity = decoder.decode_by_id(value?.as_entity_ref()?).ok()?;
    let (date, time) = match entity.ifc_type.as_str() {
        "IFCCALENDARDATE" => (entity, None),
        "IFCDATEANDTIME" => {
            let date = decoder.decode_by_id(entity.get_ref(0)?).ok()?;
            let time = entity.get_ref(1).and_then(|t| decoder.decode_by_id(t).ok());
            (date, time)
        }
        _ => return None,
    };
    let int = |e: &DecodedEntity, i: usize| e.get(i).and_then(AttributeValue::as_int);
    let (day, month, year) = (int(&date, 0)?, int(&date, 1)?, int(&date, 2)?);
    let (hour, minute, second) = match &time {
        Some(t) => (
            int(t, 0).unwrap_or(0),
            int(t, 1).unwrap_or(0),
            t.get_float(2).unwrap_or(0.0),
        ),
        None => (0, 0, 0.0),
    };
    let iso = if time.is_some() {
        format!(
            "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{:02}",
            second as i64
        )
    } else {
        format!("{year:04}-{month:02}-{day:02}")
    };
    let days = parse_date_days(&iso);
    Some(TimeValue { iso, days })
}

/// Days since 1970-01-01 of `YYYY-MM-DD[Thh:mm[:ss[.fff]]][zone]` (the zone is ignored).
pub(crate) fn parse_date_days(text: &str) -> Option<f64> {
    let (date, time) = match text.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let mut parts = date.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || !(-9999..=9999).contains(&year) {
        return None;
    }
    let mut days = days_from_civil(year, month, day) as f64;
    if let Some(time) = time {
        let time = time
            .split(['Z', '+'])
            .next()
            .unwrap_or(time)
            .split('-')
            .next()
            .unwrap_or(time);
        let mut hms = time.split(':');
        let hours: f64 = hms.next()?.parse().ok()?;
        let minutes: f64 = hms.next().map_or(Ok(0.0), str::parse).ok()?;
        let seconds: f64 = hms.next().map_or(Ok(0.0), str::parse).ok()?;
        if !(0.0..=24.0).contains(&hours)
            || !(0.0..60.0).contains(&minutes)
            || !(0.0..=61.0).contains(&seconds)
        {
            return None;
        }
        days += (hours * 3600.0 + minutes * 60.0 + seconds) / SECONDS_PER_DAY;
    }
    Some(days)
}

/// Length in days of an ISO 8601 duration `[-]P[nY][nM][nW][nD][T[nH][nM][nS]]`. Years count
/// 365 days and months 30 (schedules rarely use either; the text is kept beside).
pub(crate) fn parse_duration_days(text: &str) -> Option<f64> {
    let (sign, rest) = match text.strip_prefix('-') {
        Some(r) => (-1.0, r),
        None => (1.0, text.strip_prefix('+').unwrap_or(text)),
    };
    let rest = rest.strip_prefix('P')?;
    if rest.is_empty() {
        return None;
    }
    let mut days = 0.0;
    let mut in_time = false;
    let mut number = String::new();
    let mut any = false;
    for c in rest.chars() {
        match c {
            '0'..='9' | '.' | ',' => number.push(if c == ',' { '.' } else { c }),
            'T' if !in_time && number.is_empty() => in_time = true,
            unit => {
                let n: f64 = number.parse().ok()?;
                number.clear();
                any = true;
                days += n * match (in_time, unit) {
                    (false, 'Y') => 365.0,
                    (false, 'M') => 30.0,
                    (false, 'W') => 7.0,
                    (false, 'D') => 1.0,
                    (true, 'H') => 1.0 / 24.0,
                    (true, 'M') => 1.0 / 1440.0,
                    (true, 'S') => 1.0 / SECONDS_PER_DAY,
                    _ => return None,
                };
            }
        }
    }
    (any && number.is_empty() && days.is_finite()).then_some(sign * days)
}

/// `P…D` text for a length in days (IFC2X3 seconds turned into a duration).
fn format_duration(days: f64) -> String {
    let sign = if days < 0.0 { "-" } else { "" };
    let days = days.abs();
    let whole = days.floor();
    let seconds = ((days - whole) * SECONDS_PER_DAY).round();
    if seconds > 0.0 {
        format!("{sign}P{whole}DT{seconds}S")
    } else {
        format!("{sign}P{whole}D")
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_days_from_the_unix_epoch() {
        assert_eq!(parse_date_days("1970-01-01"), Some(0.0));
        assert_eq!(parse_date_days("2024-03-01"), Some(19_783.0));
        assert_eq!(parse_date_days("2024-03-01T12:00:00"), Some(19_783.5));
        assert_eq!(parse_date_days("2024-03-01T06:00:00Z"), Some(19_783.25));
        assert_eq!(parse_date_days("2024-13-01"), None);
        assert_eq!(parse_date_days("soon"), None);
    }

    #[test]
    fn durations_are_lengths_in_days() {
        assert_eq!(parse_duration_days("P10D"), Some(10.0));
        assert_eq!(parse_duration_days("P2W"), Some(14.0));
        assert_eq!(parse_duration_days("PT12H"), Some(0.5));
        assert_eq!(parse_duration_days("P1DT6H"), Some(1.25));
        assert_eq!(parse_duration_days("-P3D"), Some(-3.0));
        assert_eq!(parse_duration_days("P"), None);
        assert_eq!(parse_duration_days("P3"), None);
        assert_eq!(parse_duration_days("10 days"), None);
        assert_eq!(format_duration(1.5), "P1DT43200S");
    }
}
