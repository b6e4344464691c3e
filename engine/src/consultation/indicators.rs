//! Indicators for third-party evaluation: resident satisfaction (surveys and votes), the time to
//! answer and to close reports, and participation per building. Served as JSON and as CSV;
//! all are aggregates, so they are public.

use serde_json::{Value, json};

use super::Result;

/// The median of `v` (sorted in place), if any.
fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn round(x: Option<f64>) -> Value {
    x.map_or(Value::Null, |x| json!((x * 100.0).round() / 100.0))
}

/// Every indicator.
pub(crate) fn compute(conn: &rusqlite::Connection) -> Result<Value> {
    let mut stmt = conn.prepare(
        "SELECT project, COUNT(*), AVG(score), SUM(score >= 4) FROM c_surveys GROUP BY project ORDER BY project",
    )?;
    let satisfaction: Vec<Value> = stmt
        .query_map([], |r| {
            let n: i64 = r.get(1)?;
            let satisfied: i64 = r.get(3)?;
            Ok(json!({
                "project": r.get::<_, String>(0)?,
                "responses": n,
                "mean_score": round(r.get::<_, Option<f64>>(2)?),
                "satisfied_share": round((n > 0).then(|| satisfied as f64 / n as f64)),
            }))
        })?
        .collect::<rusqlite::Result<_>>()?;

    let mut votes = Vec::new();
    for c in super::votes::list(conn)? {
        for q in &c.questions {
            let (lead, top) = q.tally.iter().enumerate().max_by_key(|(_, n)| **n).map_or((0, 0), |(i, n)| (i, *n));
            votes.push(json!({
                "consultation": c.id,
                "project": c.project,
                "question": q.id,
                "ballots": q.ballots,
                "leading_alternative": q.alternatives.get(lead),
                "leading_share": round((q.ballots > 0).then(|| top as f64 / q.ballots as f64)),
            }));
        }
    }

    let mut stmt = conn.prepare("SELECT created_at, first_answer_at, closed_at FROM c_reports")?;
    let rows: Vec<(i64, Option<i64>, Option<i64>)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?;
    let mut answer: Vec<f64> = rows.iter().filter_map(|(c, a, _)| a.map(|a| (a - c) as f64 / 3600.0)).collect();
    let mut close: Vec<f64> = rows.iter().filter_map(|(c, _, d)| d.map(|d| (d - c) as f64 / 3600.0)).collect();
    let reports = json!({
        "total": rows.len(),
        "answered": answer.len(),
        "closed": close.len(),
        "unanswered": rows.len() - answer.len(),
        "mean_hours_to_answer": round(mean(&answer)),
        "median_hours_to_answer": round(median(&mut answer)),
        "mean_hours_to_close": round(mean(&close)),
        "median_hours_to_close": round(median(&mut close)),
    });

    let mut stmt = conn.prepare(
        "SELECT h.building, COUNT(*),
            SUM(EXISTS(SELECT 1 FROM c_ballots b WHERE b.household_id = h.id)
             OR EXISTS(SELECT 1 FROM c_surveys s WHERE s.household_id = h.id)
             OR EXISTS(SELECT 1 FROM c_accounts a JOIN c_comments c ON c.author_id = a.id WHERE a.household_id = h.id)
             OR EXISTS(SELECT 1 FROM c_accounts a JOIN c_reports r ON r.reporter_id = a.id WHERE a.household_id = h.id))
         FROM c_households h GROUP BY h.building ORDER BY h.building",
    )?;
    let participation: Vec<Value> = stmt
        .query_map([], |r| {
            let n: i64 = r.get(1)?;
            let active: i64 = r.get(2)?;
            Ok(json!({
                "building": r.get::<_, String>(0)?,
                "households": n,
                "participating": active,
                "rate": round((n > 0).then(|| active as f64 / n as f64)),
            }))
        })?
        .collect::<rusqlite::Result<_>>()?;

    Ok(json!({
        "generated_at": super::rfc3339(super::now()),
        "satisfaction": satisfaction,
        "votes": votes,
        "reports": reports,
        "participation": participation,
        "notes": {
            "participation": "households invited per building (the denominator) that voted, rated, commented or reported",
            "satisfied_share": "share of survey answers scoring 4 or 5 out of 5",
        },
    }))
}

/// One CSV field: quoted when needed; text that a spreadsheet would run as a formula is
/// prefixed with an apostrophe.
pub(crate) fn csv_field(v: &Value) -> String {
    let text = match v {
        Value::Null => return String::new(),
        Value::String(s) => {
            if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.clone() }
        }
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

/// The indicators as long-format CSV: `indicator,scope,value`.
pub(crate) fn to_csv(ind: &Value) -> String {
    let mut out = String::from("indicator,scope,value\n");
    let mut line = |name: &str, scope: String, value: &Value| {
        out.push_str(&format!("{},{},{}\n", csv_field(&json!(name)), csv_field(&json!(scope)), csv_field(value)));
    };
    for s in ind["satisfaction"].as_array().into_iter().flatten() {
        let scope = format!("project:{}", s["project"].as_str().unwrap_or_default());
        line("satisfaction_responses", scope.clone(), &s["responses"]);
        line("satisfaction_mean_score", scope.clone(), &s["mean_score"]);
        line("satisfaction_satisfied_share", scope, &s["satisfied_share"]);
    }
    for v in ind["votes"].as_array().into_iter().flatten() {
        let scope = format!("question:{}", v["question"]);
        line("vote_ballots", scope.clone(), &v["ballots"]);
        line("vote_leading_alternative", scope.clone(), &v["leading_alternative"]);
        line("vote_leading_share", scope, &v["leading_share"]);
    }
    let r = &ind["reports"];
    for key in ["total", "answered", "closed", "unanswered", "mean_hours_to_answer", "median_hours_to_answer", "mean_hours_to_close", "median_hours_to_close"] {
        line(&format!("reports_{key}"), "all".into(), &r[key]);
    }
    for p in ind["participation"].as_array().into_iter().flatten() {
        let scope = format!("building:{}", p["building"].as_str().unwrap_or_default());
        line("participation_households", scope.clone(), &p["households"]);
        line("participation_participating", scope.clone(), &p["participating"]);
        line("participation_rate", scope, &p["rate"]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field(&json!("a,b")), "\"a,b\"");
        assert_eq!(csv_field(&json!("say \"hi\"")), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field(&json!("=HYPERLINK(\"x\")")), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field(&json!(0.5)), "0.5");
        assert_eq!(csv_field(&Value::Null), "");
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
