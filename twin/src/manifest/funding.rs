//! A project's funding sources with their shares (`funding_sources`) and how a lift's cost is
//! shared between the households of its unit by floor (`[projects.lift_cost_sharing]`). The
//! figures are computed in `renewal::cost_sharing`.
//!
//! No statutory formula is built in: cities publish their own guidance for sharing the cost of
//! a lift added to an existing residential building (既有住宅加装电梯), and those that do often
//! suggest floor coefficients. The scene declares its weights and names where they come from
//! (`source`); without a source they are reported as the scene's own declaration.

use serde::Deserialize;

/// One source of a project's funds (`funding_sources = [{ name = …, share = … }]`).
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct FundingSource {
    /// Who pays, e.g. `中央补助 Central subsidy`.
    pub name: String,
    /// Share of the project's cost, 0–1; the shares of a project sum to 1.
    pub share: f64,
    /// Whether this source is the households' own contribution: the part the lift cost sharing
    /// divides between them.
    #[serde(default)]
    pub households: bool,
}

/// `[projects.lift_cost_sharing]`: the households' part of each lift's cost, shared between the
/// households of its unit in proportion to the weight of their floor:
/// `pays(h) = part(unit) · w(floor(h)) / Σ_{h' in unit} w(floor(h'))`.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct LiftCostSharing {
    /// The task that builds the lifts (its cost is shared over the lifts it builds).
    pub task: String,
    /// Weight of a household on floor 1, 2, …; floors above the last take the last weight.
    pub floor_weights: Vec<f64>,
    /// Where the weights come from (a city's guidance, an agreement of the owners); absent: the
    /// scene's own declaration.
    #[serde(default)]
    pub source: Option<String>,
}

/// Text reported when a sharing rule names no source.
pub const SCENE_DECLARATION: &str = "the scene's declaration (scene.toml), no published guidance named";

impl LiftCostSharing {
    /// The weight of floor `floor` (1-based).
    pub fn weight(&self, floor: u32) -> f64 {
        let i = (floor.max(1) - 1) as usize;
        self.floor_weights.get(i).or(self.floor_weights.last()).copied().unwrap_or(0.0)
    }

    /// The source as reported.
    pub fn source_text(&self) -> String {
        self.source.clone().unwrap_or_else(|| SCENE_DECLARATION.to_owned())
    }

    /// Checks the weights; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.floor_weights.is_empty() {
            return Err("floor_weights must give at least one weight (floor 1 first)".into());
        }
        if self.floor_weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err("floor_weights must be non-negative numbers".into());
        }
        if self.floor_weights.iter().all(|w| *w == 0.0) {
            return Err("at least one floor weight must be positive".into());
        }
        Ok(())
    }
}

/// Checks a project's funding sources: names given, shares in 0..1 summing to 1 (within 1e-6).
pub fn validate_sources(sources: &[FundingSource]) -> Result<(), String> {
    if sources.is_empty() {
        return Ok(());
    }
    for s in sources {
        if s.name.trim().is_empty() {
            return Err("each funding source needs a name".into());
        }
        if !(s.share.is_finite() && (0.0..=1.0).contains(&s.share)) {
            return Err(format!("share of {:?} must be between 0 and 1", s.name));
        }
    }
    let sum: f64 = sources.iter().map(|s| s.share).sum();
    if (sum - 1.0).abs() > 1e-6 {
        return Err(format!("the shares sum to {sum}, not 1"));
    }
    Ok(())
}
