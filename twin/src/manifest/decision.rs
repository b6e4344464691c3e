//! A project's decision rule (`[projects.decision]`): who decides (the scope: each unit
//! 单元, each building, or the whole project), the participation and consent thresholds by
//! number of households and by floor area, the publicity period (公示) and the objection window.
//!
//! The defaults are those of the PRC Civil Code (中华人民共和国民法典), art. 278 para. 2, for
//! "renovation and reconstruction of buildings and their ancillary facilities" (改建、重建建筑物
//! 及其附属设施, art. 278 para. 1 item 7): the owners holding at least two thirds of the exclusive
//! area AND at least two thirds of the owners by number take part in the vote, and the scheme
//! passes with the consent of owners holding at least three quarters of the participating area
//! AND at least three quarters of the participating owners. "At least" (以上) includes the
//! number itself (art. 1259), so every threshold is met at equality.
//!
//! Floor area comes from the model: `RenewTwin_Unit.FloorArea` (m², the unit's flats) over
//! `RenewTwin_Unit.Households` gives each household of the unit an equal share. Where the model
//! states no area, every household counts with the same area and the decision says so
//! (`area_source`), so the area thresholds then coincide with the head-count thresholds.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Where the Civil Code defaults come from, for messages and records.
pub const CIVIL_CODE_278: &str = "PRC Civil Code art. 278 (renovation/reconstruction: participation ≥ 2/3 of owners by area and by number; consent ≥ 3/4 of participating area and of participating owners; art. 1259: 以上 includes the number)";

/// The property set the model states units (单元) in: `Unit` (key), `Households`, `FloorArea`.
pub const UNIT_PSET: &str = "RenewTwin_Unit";

/// Who a decision is taken by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Each unit / stairwell (单元) decides for itself (e.g. adding a lift to its stairwell).
    Unit,
    /// Each building decides for itself.
    Building,
    /// The households of the whole project decide together.
    #[default]
    Project,
}

impl Scope {
    /// The key as written in `scene.toml`.
    pub fn key(self) -> &'static str {
        match self {
            Self::Unit => "unit",
            Self::Building => "building",
            Self::Project => "project",
        }
    }
}

/// An exact fraction `num/den` (thresholds are compared in integers, never in floating point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Fraction {
    /// Numerator.
    pub num: u32,
    /// Denominator (at least 1).
    pub den: u32,
}

impl Fraction {
    /// `num/den`.
    pub const fn new(num: u32, den: u32) -> Self {
        Self { num, den }
    }

    /// Parses `"2/3"`; the fraction is between 0 and 1.
    pub fn parse(text: &str) -> Option<Self> {
        let (n, d) = text.split_once('/')?;
        let (num, den) = (n.trim().parse::<u32>().ok()?, d.trim().parse::<u32>().ok()?);
        (den > 0 && num <= den).then_some(Self { num, den })
    }

    /// Whether `part / whole` reaches this fraction (`part/whole ≥ num/den`, equality included).
    /// An empty whole reaches nothing.
    pub fn reached(self, part: u128, whole: u128) -> bool {
        whole > 0 && part * u128::from(self.den) >= whole * u128::from(self.num)
    }
}

impl std::fmt::Display for Fraction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

/// A pair of thresholds: by number of households and by floor area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Thresholds {
    /// Share of households.
    pub households: Fraction,
    /// Share of floor area.
    pub area: Fraction,
}

/// A project's decision rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DecisionRule {
    /// Who decides.
    pub scope: Scope,
    /// Share of all households (and of all area) in the scope that must take part.
    pub participation: Thresholds,
    /// Share of the participating households (and of their area) that must agree.
    pub consent: Thresholds,
    /// Days a consultation stays open (公示) before it may be closed.
    pub publicity_days: u32,
    /// Days after the close during which objections may be raised; the outcome takes effect
    /// (its event is dated) when this window ends and every objection filed in it is answered.
    pub objection_days: u32,
    /// Whether the public (visitors without an account) may object too; residents always may.
    pub objections_public: bool,
    /// Where the thresholds come from (the Civil Code, or "scene.toml" when the scene sets them).
    pub source: String,
}

impl DecisionRule {
    /// The Civil Code art. 278 rule over `scope`, open for `publicity_days`.
    pub fn civil_code(scope: Scope, publicity_days: u32) -> Self {
        Self {
            scope,
            participation: Thresholds {
                households: Fraction::new(2, 3),
                area: Fraction::new(2, 3),
            },
            consent: Thresholds {
                households: Fraction::new(3, 4),
                area: Fraction::new(3, 4),
            },
            publicity_days,
            objection_days: 0,
            objections_public: false,
            source: CIVIL_CODE_278.to_owned(),
        }
    }
}

/// `[projects.decision]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDecision {
    #[serde(default)]
    pub scope: Scope,
    pub participation: Option<RawThresholds>,
    pub consent: Option<RawThresholds>,
    pub publicity_days: Option<u32>,
    #[serde(default)]
    pub objection_days: u32,
    /// Who may object: `residents` (the default) or `public`.
    pub objections: Option<String>,
}

/// `{ households = "2/3", area = "2/3" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawThresholds {
    pub households: String,
    pub area: String,
}

impl RawDecision {
    /// The rule, with `consultation_days` (the project's consultation phase) as the default
    /// publicity period. Errors name the field under `[projects.decision]`.
    pub fn resolve(self, consultation_days: u32) -> Result<DecisionRule, (String, String)> {
        let mut rule =
            DecisionRule::civil_code(self.scope, self.publicity_days.unwrap_or(consultation_days));
        rule.objection_days = self.objection_days;
        rule.objections_public = match self.objections.as_deref() {
            None | Some("residents") => false,
            Some("public") => true,
            Some(other) => return Err(("objections".into(), format!("{other:?}: objections are filed by \"residents\" or \"public\""))),
        };
        let defaults = (rule.participation, rule.consent);
        for (name, raw, slot) in [
            ("participation", self.participation, &mut rule.participation),
            ("consent", self.consent, &mut rule.consent),
        ] {
            let Some(raw) = raw else { continue };
            for (what, text, out) in [
                ("households", &raw.households, &mut slot.households),
                ("area", &raw.area, &mut slot.area),
            ] {
                *out = Fraction::parse(text).ok_or_else(|| {
                    (
                        format!("{name}.{what}"),
                        format!("{text:?} is not a fraction between 0 and 1; write e.g. \"2/3\""),
                    )
                })?;
            }
        }
        if (rule.participation, rule.consent) != defaults {
            rule.source = "scene.toml [projects.decision]".to_owned();
        }
        if rule.publicity_days == 0 {
            return Err((
                "publicity_days".into(),
                "a consultation stays open at least 1 day (公示)".into(),
            ));
        }
        Ok(rule)
    }
}

/// The consultation events of `project`, in the order they take effect: by day, then as recorded.
fn consultation_events<'a>(
    project: &str,
    events: &'a [super::EventSpec],
) -> Vec<(
    usize,
    &'a super::EventSpec,
    bool,
    &'a BTreeMap<String, bool>,
)> {
    let mut out: Vec<_> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.project == project)
        .filter_map(|(i, e)| match &e.kind {
            super::EventKind::ConsultationClosed { approved, scopes } => {
                Some((i, e, *approved, scopes))
            }
            _ => None,
        })
        .collect();
    out.sort_by_key(|(i, e, _, _)| (e.day, *i));
    out
}

/// Whether the scheme stands approved (for any scope) after the events up to day `t`: a later
/// outcome supersedes an earlier one; a per-scope outcome supersedes for its scope only.
fn approved_on(list: &[(usize, &super::EventSpec, bool, &BTreeMap<String, bool>)], t: i32) -> bool {
    let mut whole: Option<bool> = None;
    let mut scoped: BTreeMap<&str, bool> = BTreeMap::new();
    for (_, _, approved, scopes) in list.iter().take_while(|(_, e, _, _)| e.day <= t) {
        if scopes.is_empty() {
            whole = Some(*approved);
            scoped.clear();
        } else {
            scoped.extend(scopes.iter().map(|(k, v)| (k.as_str(), *v)));
        }
    }
    whole == Some(true) || scoped.values().any(|a| *a)
}

/// The day the consultation phase of `project` (opened on `opens`, declared `days` long)
/// closes under `events`: the first day, no earlier than its declared end, on which the latest
/// outcome stands approved. `None` while no outcome approves it (the project waits or halts).
pub fn consultation_closes(
    project: &str,
    opens: i32,
    days: i32,
    events: &[super::EventSpec],
) -> Option<i32> {
    let list = consultation_events(project, events);
    let end = opens + days;
    std::iter::once(end)
        .chain(list.iter().map(|(_, e, _, _)| e.day).filter(|d| *d > end))
        .find(|t| approved_on(&list, *t))
}

/// The outcome in effect for scope `key` of `project` and the day it was decided: the latest
/// consultation event that decides for every scope or names `key`.
pub fn scope_outcome(project: &str, key: &str, events: &[super::EventSpec]) -> Option<(bool, i32)> {
    consultation_events(project, events)
        .into_iter()
        .rev()
        .find_map(|(_, e, approved, scopes)| {
            if scopes.is_empty() {
                Some((approved, e.day))
            } else {
                scopes.get(key).map(|a| (*a, e.day))
            }
        })
}

/// A scenario adopted by a `choice` consultation: from `day` the twin plays `scenario`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScenarioChoice {
    /// The day it takes effect (the close plus the objection window).
    pub day: i32,
    /// The project whose consultation chose it.
    pub project: String,
    /// The scenario's name, or `None` for the base plan (`base`).
    pub scenario: Option<String>,
}

/// Every `scenario_chosen` event of `events`, in the order they take effect: by day, then as
/// recorded. A later choice supersedes an earlier one from its own day.
pub fn scenario_choices(events: &[super::EventSpec]) -> Vec<ScenarioChoice> {
    let mut out: Vec<(usize, ScenarioChoice)> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.kind {
            super::EventKind::ScenarioChosen { scenario } => Some((
                i,
                ScenarioChoice {
                    day: e.day,
                    project: e.project.clone(),
                    scenario: (scenario != "base").then(|| scenario.clone()),
                },
            )),
            _ => None,
        })
        .collect();
    out.sort_by_key(|(i, c)| (c.day, *i));
    out.into_iter().map(|(_, c)| c).collect()
}

/// The scenario played on `day`: that of the latest choice in effect by then, else `initial`
/// (the one the server was started with).
pub fn scenario_on<'a>(initial: Option<&'a str>, choices: &'a [ScenarioChoice], day: i32) -> Option<&'a str> {
    choices
        .iter()
        .take_while(|c| c.day <= day)
        .last()
        .map_or(initial, |c| c.scenario.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_met_at_equality_and_missed_just_below() {
        let two_thirds = Fraction::new(2, 3);
        // 2 of 3 households is exactly 2/3: met (以上 includes the number, art. 1259).
        assert!(two_thirds.reached(2, 3));
        assert!(!two_thirds.reached(1, 3));
        // 66 of 100 is below 2/3, 67 of 100 above.
        assert!(!two_thirds.reached(66, 100));
        assert!(two_thirds.reached(67, 100));
        let three_quarters = Fraction::new(3, 4);
        assert!(three_quarters.reached(3, 4));
        assert!(!three_quarters.reached(5, 7), "5/7 = 0.714 < 0.75");
        assert!(three_quarters.reached(6, 8));
        assert!(
            !three_quarters.reached(0, 0),
            "nobody taking part reaches nothing"
        );
    }

    #[test]
    fn fractions_parse_only_between_zero_and_one() {
        assert_eq!(Fraction::parse("2/3"), Some(Fraction::new(2, 3)));
        assert_eq!(Fraction::parse(" 1 / 2 "), Some(Fraction::new(1, 2)));
        assert_eq!(Fraction::parse("4/3"), None);
        assert_eq!(Fraction::parse("1/0"), None);
        assert_eq!(Fraction::parse("0.75"), None);
    }
}
