//! Deciding a consultation from its ballots under the project's rule
//! ([`renewtwin_twin::manifest::decision::DecisionRule`]; PRC Civil Code art. 278 by default).
//!
//! For each scope the rule names (each unit 单元, each building, or the whole project) the
//! electorate is the households the model states there (`RenewTwin_Unit.Households`,
//! `RenewTwin_Building.Households`) with their floor area (`RenewTwin_Unit.FloorArea`, shared
//! equally by the unit's households). Participation is counted against all of them, consent
//! against those taking part; abstaining takes part without consenting. Every threshold is
//! compared exactly, in integers (areas in hundredths of a square metre), equality included
//! (以上 includes the number, art. 1259). Where the model states no area every household counts
//! with the same area, and the record says so (`area_source = "equal_shares"`).
//!
//! [`decide`] is pure: the property test and the hand-computed cases below exercise it without a
//! database; `votes::close` feeds it the stored ballots.

use std::collections::BTreeMap;

use renewtwin_importers::{Model, SpatialKind};
use renewtwin_twin::manifest::decision::{DecisionRule, Fraction, Scope, UNIT_PSET};
use serde::Serialize;

/// Alternatives of a `consent` question, in this order.
pub const CONSENT_ALTERNATIVES: [&str; 3] = ["agree", "oppose", "abstain"];

/// One scope's electorate: who may vote and how much area they hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Electorate {
    /// Scope key: a unit's `RenewTwin_Unit.Unit`, a building's name, or the project id.
    pub key: String,
    /// Households entitled to vote.
    pub households: u64,
    /// Their floor area in hundredths of m² (`None`: the model states none).
    pub area_centi_m2: Option<u64>,
    /// Household code prefixes of this scope (`1-2` holds `1-2-301`); empty: every household.
    #[serde(skip)]
    pub prefixes: Vec<String>,
    /// Building keys (name, `Pset_BuildingCommon.Reference`) of this scope, for households
    /// whose invitation names their building.
    #[serde(skip)]
    pub buildings: Vec<String>,
}

/// A cast ballot: the household (its code and building) and the alternative's index.
#[derive(Debug, Clone, PartialEq)]
pub struct Cast {
    pub household: String,
    pub building: String,
    pub alternative: usize,
}

/// One threshold, checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// `participation.households`, `participation.area`, `consent.households`, `consent.area`.
    pub threshold: &'static str,
    /// The required share, e.g. `2/3`.
    pub required: String,
    /// The share reached: `part/whole` (areas in m²).
    pub reached: String,
    pub met: bool,
}

/// The tally and outcome of one question in one scope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScopeDecision {
    pub scope: String,
    pub households: u64,
    /// Floor area of the scope in m² (equal shares: the household count).
    pub area_m2: f64,
    /// `model` (RenewTwin_Unit.FloorArea shared by the unit's households), `declared_and_model`
    /// (households that declared their own floor area count with it, the others with the
    /// model's share) or `equal_shares` (the model states no area: every household counts the
    /// same, declared areas too).
    pub area_source: &'static str,
    /// Households of the scope counted with their own declared floor area.
    pub declared_households: u64,
    /// Ballots per alternative.
    pub tally: Vec<u64>,
    /// Area (m²) behind each alternative.
    pub tally_area_m2: Vec<f64>,
    /// The alternative adopted: for `consent`, 0 (agree) when approved; for `choice`, the
    /// alternative with the most households (then most area) when it meets the thresholds.
    pub adopted: Option<usize>,
    pub approved: bool,
    pub checks: Vec<Check>,
}

/// How a question decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    /// agree / oppose / abstain: approved when the agreeing households meet the thresholds.
    Consent,
    /// A choice among scenarios (or `base`): the leading alternative is adopted when its
    /// supporters meet the consent thresholds.
    Choice,
}

/// The electorates of `rule`'s scope in `model`; `project` names the whole-project scope.
/// `only` restricts to these scope keys (the consultation's own scopes), if not empty.
pub fn electorates(
    rule: &DecisionRule,
    model: &Model,
    project: &str,
    only: &[String],
) -> Vec<Electorate> {
    use renewtwin_twin::site::{number, text};
    // Units: key → (households, area m², building index).
    let mut units: BTreeMap<String, (u64, Option<f64>, Option<usize>)> = BTreeMap::new();
    let building_of = renewtwin_twin::renewal::plan::buildings_of_elements(model);
    for (ei, e) in model.elements.iter().enumerate() {
        let Some(key) = text(e.property(UNIT_PSET, "Unit")) else {
            continue;
        };
        let households = number(e.property(UNIT_PSET, "Households"))
            .filter(|h| *h >= 0.0)
            .map_or(0, |h| h as u64);
        let area = number(e.property(UNIT_PSET, "FloorArea")).filter(|a| a.is_finite() && *a > 0.0);
        units
            .entry(key)
            .or_insert((households, area, building_of[ei]));
    }
    let dense = renewtwin_twin::renewal::plan::building_indices(model);
    let buildings: Vec<(usize, &renewtwin_importers::SpatialNode)> = model
        .spatial
        .iter()
        .zip(&dense)
        .filter(|(n, _)| n.kind == SpatialKind::Building)
        .filter_map(|(n, d)| d.map(|d| (d, n)))
        .collect();
    let building_keys = |n: &renewtwin_importers::SpatialNode| -> Vec<String> {
        [
            n.name.clone(),
            text(n.property("Pset_BuildingCommon", "Reference")),
        ]
        .into_iter()
        .flatten()
        .collect()
    };
    let centi = |a: f64| (a * 100.0).round() as u64;
    let mut out: Vec<Electorate> = match rule.scope {
        Scope::Unit => units
            .iter()
            .map(|(key, (h, a, _))| Electorate {
                key: key.clone(),
                households: *h,
                area_centi_m2: a.map(centi),
                prefixes: vec![crate::normalise_household(&format!("{key}-"))],
                buildings: Vec::new(),
            })
            .collect(),
        Scope::Building => buildings
            .iter()
            .map(|(d, n)| {
                let own: Vec<_> = units
                    .iter()
                    .filter(|(_, (_, _, b))| *b == Some(*d))
                    .collect();
                let area = (!own.is_empty() && own.iter().all(|(_, (_, a, _))| a.is_some()))
                    .then(|| own.iter().filter_map(|(_, (_, a, _))| a.map(centi)).sum());
                Electorate {
                    key: n.name.clone().unwrap_or_else(|| n.global_id.clone()),
                    households: number(n.property("RenewTwin_Building", "Households"))
                        .filter(|h| *h >= 0.0)
                        .map_or(0, |h| h as u64),
                    area_centi_m2: area,
                    prefixes: own.iter().map(|(k, _)| crate::normalise_household(&format!("{k}-"))).collect(),
                    buildings: building_keys(n),
                }
            })
            .collect(),
        Scope::Project => {
            let households = buildings
                .iter()
                .filter_map(|(_, n)| number(n.property("RenewTwin_Building", "Households")))
                .map(|h| h.max(0.0) as u64)
                .sum();
            let area = (!units.is_empty() && units.values().all(|(_, a, _)| a.is_some()))
                .then(|| units.values().filter_map(|(_, a, _)| a.map(centi)).sum());
            vec![Electorate {
                key: project.to_owned(),
                households,
                area_centi_m2: area,
                prefixes: Vec::new(),
                buildings: Vec::new(),
            }]
        }
    };
    if !only.is_empty() {
        out.retain(|e| only.contains(&e.key));
    }
    out
}

impl Electorate {
    /// Whether `cast` belongs to this scope.
    pub fn holds(&self, cast: &Cast) -> bool {
        (self.prefixes.is_empty() && self.buildings.is_empty())
            || self
                .prefixes
                .iter()
                .any(|p| cast.household.starts_with(p.as_str()))
            || self.buildings.contains(&cast.building)
    }
}

fn share(f: Fraction, part: u128, whole: u128) -> bool {
    f.reached(part, whole)
}

/// A household's own floor area as declared on its household record (its invitation).
#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredArea {
    pub household: String,
    pub building: String,
    /// Hundredths of m².
    pub area_centi_m2: u64,
}

/// Decides one question in one scope from `ballots` (those of the scope's households; others
/// are ignored) with `alternatives` alternatives, every household with the model's share of
/// the scope's area.
pub fn decide(
    rule: &DecisionRule,
    kind: QuestionKind,
    alternatives: usize,
    electorate: &Electorate,
    ballots: &[Cast],
) -> ScopeDecision {
    decide_with_areas(rule, kind, alternatives, electorate, ballots, &[])
}

/// As [`decide`], where the households of `declared` count with their own declared floor area
/// and the others with the model's share. Where the model states no area, every household
/// counts the same (an area declared by some cannot be weighed against unknown areas of the
/// others).
pub fn decide_with_areas(
    rule: &DecisionRule,
    kind: QuestionKind,
    alternatives: usize,
    electorate: &Electorate,
    ballots: &[Cast],
    declared: &[DeclaredArea],
) -> ScopeDecision {
    let mine: Vec<&Cast> = ballots
        .iter()
        .filter(|c| electorate.holds(c) && c.alternative < alternatives)
        .collect();
    // More ballots than the model's households (invitations beyond the model): the households
    // who voted are the floor of the electorate.
    let households = electorate.households.max(mine.len() as u64);
    // Each household's area: an equal share of the scope's area, or 1 (equal shares).
    let (total_area, per_household, area_source): (u128, u128, &'static str) =
        match electorate.area_centi_m2 {
            Some(a) if electorate.households > 0 => {
                let each = u128::from(a) / u128::from(electorate.households);
                (each * u128::from(households), each, "model")
            }
            _ => (u128::from(households), 1, "equal_shares"),
        };
    // Declared areas count where the model states areas, for the scope's own households.
    let own: BTreeMap<&str, u128> = if area_source == "model" {
        declared
            .iter()
            .filter(|d| d.area_centi_m2 > 0)
            .filter(|d| electorate.holds(&Cast { household: d.household.clone(), building: d.building.clone(), alternative: 0 }))
            .map(|d| (d.household.as_str(), u128::from(d.area_centi_m2)))
            .collect()
    } else {
        BTreeMap::new()
    };
    let area_of = |household: &str| own.get(household).copied().unwrap_or(per_household);
    let (total_area, area_source) = if own.is_empty() {
        (total_area, area_source)
    } else {
        let others = u128::from(households).saturating_sub(own.len() as u128);
        (others * per_household + own.values().sum::<u128>(), "declared_and_model")
    };
    let mut tally = vec![0u64; alternatives];
    let mut tally_area = vec![0u128; alternatives];
    for c in &mine {
        tally[c.alternative] += 1;
        tally_area[c.alternative] += area_of(&c.household);
    }
    let participants = mine.len() as u128;
    let participating_area: u128 = tally_area.iter().sum();
    let leading = match kind {
        QuestionKind::Consent => Some(0),
        QuestionKind::Choice => {
            let best = tally.iter().copied().max().unwrap_or(0);
            let leaders: Vec<usize> = (0..alternatives)
                .filter(|&i| tally[i] == best && best > 0)
                .collect();
            // A tie between alternatives adopts none of them.
            (leaders.len() == 1).then(|| leaders[0])
        }
    };
    let support = leading.map_or(0, |i| u128::from(tally[i]));
    let support_area = leading.map_or(0, |i| tally_area[i]);
    let m2 = |centi: u128| centi as f64 / if area_source == "equal_shares" { 1.0 } else { 100.0 };
    let p = &rule.participation;
    let c = &rule.consent;
    let checks = vec![
        Check {
            threshold: "participation.households",
            required: p.households.to_string(),
            reached: format!("{participants}/{households}"),
            met: share(p.households, participants, u128::from(households)),
        },
        Check {
            threshold: "participation.area",
            required: p.area.to_string(),
            reached: format!("{}/{}", m2(participating_area), m2(total_area)),
            met: share(p.area, participating_area, total_area),
        },
        Check {
            threshold: "consent.households",
            required: c.households.to_string(),
            reached: format!("{support}/{participants}"),
            met: share(c.households, support, participants),
        },
        Check {
            threshold: "consent.area",
            required: c.area.to_string(),
            reached: format!("{}/{}", m2(support_area), m2(participating_area)),
            met: share(c.area, support_area, participating_area),
        },
    ];
    let approved = leading.is_some() && checks.iter().all(|c| c.met);
    ScopeDecision {
        scope: electorate.key.clone(),
        households,
        area_m2: m2(total_area),
        area_source,
        declared_households: own.len() as u64,
        tally_area_m2: tally_area.iter().map(|&a| m2(a)).collect(),
        tally,
        adopted: if approved { leading } else { None },
        approved,
        checks,
    }
}

/// A tally as one line for messages: `agree 1, oppose 2, abstain 0 of 3 households`.
pub fn describe(d: &ScopeDecision, alternatives: &[String]) -> String {
    let parts: Vec<String> = alternatives
        .iter()
        .zip(&d.tally)
        .map(|(a, n)| format!("{a} {n}"))
        .collect();
    let missed: Vec<String> = d
        .checks
        .iter()
        .filter(|c| !c.met)
        .map(|c| format!("{} {} < {}", c.threshold, c.reached, c.required))
        .collect();
    let missed = if missed.is_empty() {
        "every threshold met".to_owned()
    } else {
        format!("missed: {}", missed.join(", "))
    };
    format!(
        "scope {:?}: {} of {} households ({missed})",
        d.scope,
        parts.join(", "),
        d.households
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use renewtwin_twin::manifest::decision::{DecisionRule, Scope};

    fn rule() -> DecisionRule {
        DecisionRule::civil_code(Scope::Unit, 30)
    }

    fn unit(households: u64, area_m2: Option<u64>) -> Electorate {
        Electorate {
            key: "1-1".into(),
            households,
            area_centi_m2: area_m2.map(|a| a * 100),
            prefixes: vec!["1-1-".into()],
            buildings: Vec::new(),
        }
    }

    fn ballots(choices: &[usize]) -> Vec<Cast> {
        choices
            .iter()
            .enumerate()
            .map(|(i, &a)| Cast {
                household: format!("1-1-{}", 101 + i),
                building: "1号楼".into(),
                alternative: a,
            })
            .collect()
    }

    #[test]
    fn a_declared_floor_area_counts_instead_of_the_model_share() {
        // Unit 1-1: 4 households on 400 m² (100 m² each by the model). Flat 101 declared
        // 250 m². 101 and 102 agree, 103 opposes, 104 does not vote.
        let declared = [DeclaredArea { household: "1-1-101".into(), building: "1号楼".into(), area_centi_m2: 25_000 }];
        let stranger = DeclaredArea { household: "2-1-101".into(), building: "2号楼".into(), area_centi_m2: 90_000 };
        let cast = ballots(&[0, 0, 1]);
        let d = decide_with_areas(&rule(), QuestionKind::Consent, 3, &unit(4, Some(400)), &cast, &[declared[0].clone(), stranger]);
        let reached = |d: &ScopeDecision, t: &str| d.checks.iter().find(|c| c.threshold == t).map(|c| (c.reached.clone(), c.met)).expect("check");
        assert_eq!((d.area_source, d.declared_households), ("declared_and_model", 1), "another unit's household does not count here");
        // Total 3 × 100 + 250 = 550 m²; taking part 250 + 100 + 100 = 450 (≥ 2/3 of 550).
        assert_eq!(d.area_m2, 550.0);
        assert_eq!(reached(&d, "participation.area"), ("450/550".to_owned(), true));
        // Agreeing area 350 of 450 = 0.78 ≥ 3/4; by head count 2 of 3 < 3/4: rejected.
        assert_eq!(reached(&d, "consent.area"), ("350/450".to_owned(), true));
        assert_eq!(reached(&d, "consent.households"), ("2/3".to_owned(), false));
        assert_eq!(d.tally_area_m2, vec![350.0, 100.0, 0.0]);
        assert!(!d.approved);
        // By the model's shares alone the agreeing area is 200 of 300 < 3/4.
        let plain = decide(&rule(), QuestionKind::Consent, 3, &unit(4, Some(400)), &cast);
        assert_eq!((plain.area_source, reached(&plain, "consent.area")), ("model", ("200/300".to_owned(), false)));
        // Without model areas every household counts the same, declared or not.
        let equal = decide_with_areas(&rule(), QuestionKind::Consent, 3, &unit(4, None), &cast, &declared);
        assert_eq!((equal.area_source, equal.declared_households), ("equal_shares", 0));
    }

    #[test]
    fn three_of_three_opposed_is_rejected() {
        let d = decide(
            &rule(),
            QuestionKind::Consent,
            3,
            &unit(3, Some(270)),
            &ballots(&[1, 1, 1]),
        );
        assert!(!d.approved);
        assert_eq!(d.tally, vec![0, 3, 0]);
        let consent = d
            .checks
            .iter()
            .find(|c| c.threshold == "consent.households")
            .expect("check");
        assert_eq!((consent.reached.as_str(), consent.met), ("0/3", false));
        assert!(
            d.checks
                .iter()
                .filter(|c| c.threshold.starts_with("participation"))
                .all(|c| c.met),
            "all took part"
        );
    }

    #[test]
    fn hand_computed_thresholds_of_art_278() {
        // 12 households of 60 m² (720 m²). 8 take part: 8/12 = 2/3 exactly, met; 480/720 m² too.
        // 6 of the 8 agree: 6/8 = 3/4 exactly, met: approved.
        let d = decide(
            &rule(),
            QuestionKind::Consent,
            3,
            &unit(12, Some(720)),
            &ballots(&[0, 0, 0, 0, 0, 0, 1, 2]),
        );
        assert!(d.approved, "{d:?}");
        assert_eq!(
            d.checks
                .iter()
                .map(|c| c.reached.as_str())
                .collect::<Vec<_>>(),
            ["8/12", "480/720", "6/8", "360/480"]
        );
        // 7 take part (7/12 < 2/3) even if all agree: not approved.
        let d = decide(
            &rule(),
            QuestionKind::Consent,
            3,
            &unit(12, Some(720)),
            &ballots(&[0; 7]),
        );
        assert!(!d.approved);
        assert!(!d.checks[0].met && d.checks[2].met);
        // 8 take part, 5 agree, 3 abstain: 5/8 < 3/4; abstaining is not consenting.
        let d = decide(
            &rule(),
            QuestionKind::Consent,
            3,
            &unit(12, Some(720)),
            &ballots(&[0, 0, 0, 0, 0, 2, 2, 2]),
        );
        assert!(!d.approved);
        assert_eq!(d.checks[2].reached, "5/8");
    }

    #[test]
    fn without_area_every_household_counts_equally_and_the_record_says_so() {
        let d = decide(
            &rule(),
            QuestionKind::Consent,
            3,
            &unit(4, None),
            &ballots(&[0, 0, 0]),
        );
        assert_eq!(d.area_source, "equal_shares");
        assert!(d.approved, "3/4 took part (≥ 2/3), 3/3 agree");
        assert_eq!(d.checks[1].reached, "3/4");
    }

    #[test]
    fn a_choice_adopts_the_leading_alternative_only_with_enough_support_and_never_on_a_tie() {
        let r = rule();
        let d = decide(
            &r,
            QuestionKind::Choice,
            2,
            &unit(4, Some(400)),
            &ballots(&[1, 1, 1, 0]),
        );
        assert_eq!(
            (d.adopted, d.approved),
            (Some(1), true),
            "3 of 4 choose the second: 3/4"
        );
        let d = decide(
            &r,
            QuestionKind::Choice,
            2,
            &unit(4, Some(400)),
            &ballots(&[1, 1, 0, 0]),
        );
        assert_eq!(
            (d.adopted, d.approved),
            (None, false),
            "a tie adopts nothing"
        );
    }

    /// Over many random electorates, areas and ballots: approved exactly when every threshold
    /// holds, computed here independently in rationals (f64 cross-multiplication of integers
    /// below 2^53 is exact).
    #[test]
    fn random_tallies_are_approved_exactly_when_they_reach_every_threshold() {
        // xorshift64*, seeded: the cases are the same on every run.
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = |n: u64| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
        };
        let fractions = [(1, 2), (2, 3), (3, 4), (1, 1), (0, 1), (3, 5)];
        let (mut approved, mut refused) = (0, 0);
        for _ in 0..20_000 {
            let pick = |k: u64| {
                let (n, d) = fractions[k as usize];
                Fraction::new(n, d)
            };
            let mut r = rule();
            r.participation.households = pick(next(6));
            r.participation.area = pick(next(6));
            r.consent.households = pick(next(6));
            r.consent.area = pick(next(6));
            let households = 1 + next(40);
            let area = if next(4) == 0 {
                None
            } else {
                Some(households * (30 + next(90)))
            };
            // Turnout and agreement skewed high, so both outcomes are common.
            let voters = (households - next(households / 2 + 1)) as usize;
            let choices: Vec<usize> = (0..voters)
                .map(|_| {
                    if next(5) == 0 {
                        1 + next(2) as usize
                    } else {
                        0
                    }
                })
                .collect();
            let d = decide(
                &r,
                QuestionKind::Consent,
                3,
                &unit(households, area),
                &ballots(&choices),
            );
            let each = area.map_or(1, |a| a * 100 / households);
            let total = households * each;
            let part = voters as u64 * each;
            let agree = choices.iter().filter(|&&c| c == 0).count() as u64;
            let at_least =
                |f: Fraction, p: u64, w: u64| w > 0 && p * u64::from(f.den) >= w * u64::from(f.num);
            let expected = at_least(r.participation.households, voters as u64, households)
                && at_least(r.participation.area, part, total)
                && at_least(r.consent.households, agree, voters as u64)
                && at_least(r.consent.area, agree * each, part);
            assert_eq!(
                d.approved, expected,
                "{households} households, area {area:?}, ballots {choices:?}, rule {r:?}: {d:?}"
            );
            // No tally below a threshold is approved.
            if d.checks.iter().any(|c| !c.met) {
                assert!(!d.approved);
            }
            if expected {
                approved += 1
            } else {
                refused += 1
            }
        }
        assert!(
            approved > 1000 && refused > 1000,
            "both sides are exercised: {approved} approved, {refused} refused"
        );
    }
}
