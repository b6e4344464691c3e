//! Indicators for third-party evaluation: resident satisfaction (surveys and votes), the time to
//! answer and to close reports, and participation per building (over the model's households
//! where it states them, else over the households invited; each row says which). Served as
//! JSON and as CSV; all are aggregates, so they are public.

use serde_json::{Value, json};

use super::Result;
use super::ballot_key::BallotKey;

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

/// A building of the model, as the participation indicator counts it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelBuilding {
    /// The name shown (the building's name, else its GlobalId).
    pub name: String,
    /// What an invitation's `building` may say to mean it: its name,
    /// `Pset_BuildingCommon.Reference` and GlobalId.
    pub keys: Vec<String>,
    /// `RenewTwin_Building.Households`, if the model states it.
    pub households: Option<f64>,
}

/// The buildings of `model` with their household counts.
pub fn model_buildings(model: &renewtwin_importers::Model) -> Vec<ModelBuilding> {
    use renewtwin_twin::site::{number, text};
    model
        .spatial
        .iter()
        .filter(|n| n.kind == renewtwin_importers::SpatialKind::Building)
        .map(|n| {
            let mut keys: Vec<String> = [n.name.clone(), text(n.property("Pset_BuildingCommon", "Reference")), Some(n.global_id.clone())]
                .into_iter()
                .flatten()
                .map(|k| k.trim().to_owned())
                .filter(|k| !k.is_empty())
                .collect();
            keys.dedup();
            ModelBuilding {
                name: n.name.clone().unwrap_or_else(|| n.global_id.clone()),
                keys,
                households: number(n.property("RenewTwin_Building", "Households")).filter(|h| *h >= 0.0),
            }
        })
        .collect()
}

/// A count as JSON: whole numbers without a fraction.
fn count(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 { json!(x as i64) } else { json!(x) }
}

/// Participation per building: the model's buildings (with their households, participating or
/// not) and the invited buildings the model does not know.
fn participation(conn: &renewtwin_store::db::Connection, key: &BallotKey, buildings: &[ModelBuilding]) -> Result<Vec<Value>> {
    // Who voted is recomputed from the ballots' pseudonyms with the key; the database alone
    // does not say.
    let voted = super::votes::voted(conn, key)?;
    let mut stmt = conn.prepare(
        "SELECT h.building, h.id,
            EXISTS(SELECT 1 FROM c_surveys s WHERE s.household_id = h.id)
             OR EXISTS(SELECT 1 FROM c_accounts a JOIN c_comments c ON c.author_id = a.id WHERE a.household_id = h.id)
             OR EXISTS(SELECT 1 FROM c_accounts a JOIN c_reports r ON r.reporter_id = a.id WHERE a.household_id = h.id)
         FROM c_households h ORDER BY h.building",
    )?;
    let households: Vec<(String, bool)> = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, bool>(2)?)))?
        .map(|row| row.map(|(building, id, other)| (building, other || voted.contains(&id))))
        .collect::<renewtwin_store::db::Result<_>>()?;
    // (invited, participating) per model building, then per building the model does not know.
    let mut in_model = vec![(0u64, 0u64); buildings.len()];
    let mut elsewhere: Vec<(String, u64, u64)> = Vec::new();
    for (building, active) in households {
        let key = building.trim();
        match buildings.iter().position(|b| b.keys.iter().any(|k| k == key)) {
            Some(i) => {
                in_model[i].0 += 1;
                in_model[i].1 += u64::from(active);
            }
            None => match elsewhere.iter_mut().find(|(b, _, _)| *b == building) {
                Some(entry) => {
                    entry.1 += 1;
                    entry.2 += u64::from(active);
                }
                None => elsewhere.push((building, 1, u64::from(active))),
            },
        }
    }
    let row = |name: &str, households: f64, source: &str, invited: u64, active: u64| {
        json!({
            "building": name,
            "households": count(households),
            "households_source": source,
            "invited": invited,
            "participating": active,
            "rate": round((households > 0.0).then(|| active as f64 / households)),
        })
    };
    let mut rows = Vec::new();
    for (b, (invited, active)) in buildings.iter().zip(in_model) {
        match b.households {
            Some(h) => rows.push(row(&b.name, h, "model", invited, active)),
            None if invited > 0 => rows.push(row(&b.name, invited as f64, "invited", invited, active)),
            // Neither the model nor the invitations say how many households live there.
            None => {}
        }
    }
    for (name, invited, active) in elsewhere {
        rows.push(row(&name, invited as f64, "invited", invited, active));
    }
    Ok(rows)
}

/// Every indicator; participation counts against `buildings` of the model.
pub fn compute(conn: &renewtwin_store::db::Connection, key: &BallotKey, buildings: &[ModelBuilding]) -> Result<Value> {
    let mut stmt = conn.prepare(
        "SELECT project, COUNT(*), AVG(score), SUM(CASE WHEN score >= 4 THEN 1 ELSE 0 END) FROM c_surveys GROUP BY project ORDER BY project",
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
        .collect::<renewtwin_store::db::Result<_>>()?;

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
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<renewtwin_store::db::Result<_>>()?;
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

    let participation = participation(conn, key, buildings)?;
    Ok(json!({
        "generated_at": super::rfc3339(super::now()),
        "satisfaction": satisfaction,
        "votes": votes,
        "reports": reports,
        "participation": participation,
        "notes": {
            "participation": "per building: households that voted, rated, commented or reported, over the building's households in the model (RenewTwin_Building.Households; households_source \"model\") or, where the model has no figure, over the households invited (households_source \"invited\")",
            "satisfied_share": "share of survey answers scoring 4 or 5 out of 5",
        },
    }))
}

/// One CSV field: quoted when needed; text that a spreadsheet would run as a formula is
/// prefixed with an apostrophe.
pub fn csv_field(v: &Value) -> String {
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
pub fn to_csv(ind: &Value) -> String {
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
        line("participation_households_source", scope.clone(), &p["households_source"]);
        line("participation_invited", scope.clone(), &p["invited"]);
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
    fn participation_counts_against_the_models_households_and_falls_back_to_the_invited_ones() {
        let store = renewtwin_store::Store::in_memory(&[crate::MIGRATIONS]).expect("store");
        let conn = store.lock().expect("lock");
        for (id, code, building) in [(1, "1-101", "1号楼"), (2, "1-102", "REF-1"), (3, "3-101", "3号楼"), (4, "9-101", "B9"), (5, "9-102", "B9")] {
            conn.execute("INSERT INTO c_households (id, code, building) VALUES (?1, ?2, ?3)", (id, code, building)).expect("household");
        }
        // Households 1 (1号楼) and 4 (B9) take part.
        for h in [1, 4] {
            conn.execute("INSERT INTO c_surveys (project, household_id, score, updated_at) VALUES ('lifts', ?1, 4, 0)", [h]).expect("survey");
        }
        let building = |name: &str, reference: &str, households: Option<f64>| ModelBuilding {
            name: name.into(),
            keys: vec![name.into(), reference.into(), format!("GID-{name}")],
            households,
        };
        let buildings = [building("1号楼", "REF-1", Some(24.0)), building("2号楼", "REF-2", Some(18.0)), building("3号楼", "REF-3", None), building("4号楼", "REF-4", None)];
        let rows = participation(&conn, &BallotKey::from_bytes([1; 32]), &buildings).expect("participation");
        let brief: Vec<(String, Value, String, u64, u64, Value)> = rows
            .iter()
            .map(|r| {
                let text = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
                (text("building"), r["households"].clone(), text("households_source"), r["invited"].as_u64().unwrap_or(99), r["participating"].as_u64().unwrap_or(99), r["rate"].clone())
            })
            .collect();
        assert_eq!(
            brief,
            [
                // Named by its name and by its Reference: both are the model's 1号楼.
                ("1号楼".into(), json!(24), "model".into(), 2, 1, json!(0.04)),
                // Nobody invited yet: the model still says how many could take part.
                ("2号楼".into(), json!(18), "model".into(), 0, 0, json!(0.0)),
                // The model has no figure: the invited households are the denominator.
                ("3号楼".into(), json!(1), "invited".into(), 1, 0, json!(0.0)),
                // 4号楼: no figure and nobody invited, so no row. B9 is not in the model.
                ("B9".into(), json!(2), "invited".into(), 2, 1, json!(0.5)),
            ]
        );
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
