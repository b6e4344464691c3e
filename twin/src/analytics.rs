//! Everything the sensors, risk and population plugins prepare from a loaded scene, once:
//! the site in plan view, each task's works, the sensor setup, the risk configuration and the
//! population model, and the hub they publish to. [`Analytics::insert_into`] hands them to a
//! simulation app.

use std::sync::Arc;

use bevy_app::App;
use renewtwin_importers::Model;

use crate::manifest::Manifest;
use crate::population::{PopulationFeed, PopulationModel, PopulationSetup};
use crate::risk::{RiskConfig, RiskFeed, RiskSetup};
use crate::sensors::hub::SensorHub;
use crate::sensors::log::SensorLog;
use crate::sensors::simulate::SensorSetup;
use crate::sensors::{SensorFeed, SensorModel};
use crate::site::Site;
use crate::site::works::Works;

/// A section of the manifest the analytics cannot work with.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {field}: {message}")]
pub struct AnalyticsError {
    /// The manifest.
    pub file: String,
    /// Dotted field path.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// The prepared analytics of one scene.
#[derive(Debug, Clone)]
pub struct Analytics {
    /// The district in plan view.
    pub site: Arc<Site>,
    /// Sensors and works.
    pub sensors: Arc<SensorSetup>,
    /// Risk models.
    pub risk: Arc<RiskConfig>,
    /// Residents, destinations, flows and what each task disrupts.
    pub population: Arc<PopulationModel>,
    /// Shared with the server.
    pub feeds: AnalyticsFeeds,
}

/// What the sensors, risk and population plugins share with whoever serves the twin: the
/// simulation thread writes, request handlers read.
#[derive(Debug, Clone)]
pub struct AnalyticsFeeds {
    /// Sensor readings, alerts, today's works and the plan being played.
    pub sensors: Arc<SensorHub>,
    /// The latest risk layer.
    pub risk: RiskFeed,
    /// The population model and today's disruption.
    pub population: PopulationFeed,
}

impl Default for AnalyticsFeeds {
    fn default() -> Self {
        Self { sensors: Arc::new(SensorHub::default()), risk: RiskFeed::default(), population: PopulationFeed::default() }
    }
}

impl Analytics {
    /// Prepares the analytics of `model` under `manifest`'s `[sensors]`, `[risk]` and
    /// `[population]` sections (defaults where absent); keeps readings and alerts in `log` when
    /// given.
    pub fn prepare(manifest: &Manifest, model: &Model, log: Option<Arc<dyn SensorLog>>) -> Result<Self, AnalyticsError> {
        let err = |e: crate::manifest::ConfigError| AnalyticsError { file: manifest.file.clone(), field: e.field, message: e.message };
        let sensors_cfg = manifest.sensors.clone().unwrap_or_default();
        sensors_cfg.validate().map_err(err)?;
        let risk = manifest.risk.clone().unwrap_or_default();
        risk.validate().map_err(err)?;
        let population_cfg = manifest.population.clone().unwrap_or_default();
        population_cfg.validate().map_err(err)?;
        let site = Site::from_model(model, f64::from(manifest.indicators.households_per_building), population_cfg.residents_per_household);
        let works = Works::build(manifest, model, &site);
        let population = PopulationModel::new(&population_cfg, model, &site, &works);
        let sensors = Arc::new(SensorSetup::new(sensors_cfg, &site, works, manifest.start));
        let feeds = AnalyticsFeeds {
            sensors: Arc::new(SensorHub::new(sensors.clone(), log)),
            risk: RiskFeed::default(),
            population: PopulationFeed::default(),
        };
        Ok(Self { site: Arc::new(site), sensors, risk: Arc::new(risk), population: Arc::new(population), feeds })
    }

    /// Inserts the resources the sensors, risk and population plugins run on.
    pub fn insert_into(self, app: &mut App) {
        app.insert_resource(SensorModel(self.sensors.clone()))
            .insert_resource(SensorFeed(self.feeds.sensors.clone()))
            .insert_resource(self.feeds.risk.clone())
            .insert_resource(self.feeds.population.clone())
            .insert_resource(RiskSetup { site: self.site.clone(), config: self.risk.clone(), start: self.sensors.start })
            .insert_resource(PopulationSetup(self.population.clone()));
    }
}

/// What `renewtwin simulate --json` reports of one scenario's analytics.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScenarioAnalytics {
    /// Alerts the simulated sensors raise over the plan, with their evidence.
    pub alerts: Vec<crate::sensors::rules::Alert>,
    /// Expected days above the noise limit per building, per working-hours option.
    pub predicted_nuisance: Vec<crate::sensors::nuisance::NuisanceOption>,
    /// Households, trips and detours the plan's tasks disrupt.
    pub population: crate::population::PlanDisruption,
    /// The risk layer on day 0 and at the plan's end (or `until`), on the plan's element states.
    pub risk: crate::risk::RiskOutcome,
}

impl Analytics {
    /// The analytics of `plan` until day `until` (the plan's end when `None`).
    pub fn scenario(&self, plan: &crate::renewal::plan::Plan, until: Option<i32>) -> ScenarioAnalytics {
        ScenarioAnalytics {
            alerts: crate::sensors::rules::alerts_over_plan(&self.sensors, plan, until),
            predicted_nuisance: crate::sensors::nuisance::predicted_nuisance(&self.sensors, &self.site, plan),
            population: self.population.plan_disruption(plan),
            risk: crate::risk::outcome(&self.site, &self.risk, plan, self.sensors.start, until.unwrap_or(plan.end)),
        }
    }

    /// Risk warnings in the plan's first year.
    pub fn risk_warnings(&self) -> Vec<crate::risk::RiskWarning> {
        crate::risk::assess(&self.site, &self.risk, self.sensors.start.year).warnings
    }
}

/// Alerts the plain-text report lists one by one; the rest are counted (`--json` lists all).
pub const TEXT_ALERTS: usize = 20;

impl ScenarioAnalytics {
    /// The plain-text form of `renewtwin simulate`: the alerts with their evidence (the first
    /// [`TEXT_ALERTS`], then counts by sensor and rule), the predicted nuisance of each
    /// working-hours option, and the population disruption with each task's part.
    pub fn write_text(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        writeln!(out, "  alerts               {} (simulated sensors over the plan)", self.alerts.len())?;
        for a in self.alerts.iter().take(TEXT_ALERTS) {
            let works: Vec<String> = a
                .evidence
                .tasks
                .iter()
                .map(|t| match t.modelled {
                    Some(m) => format!("{} {:.0} m ({m:.1} {})", t.task, t.distance_m, a.unit),
                    None => format!("{} {:.0} m", t.task, t.distance_m),
                })
                .collect();
            let works = if works.is_empty() { "none".to_owned() } else { works.join(", ") };
            writeln!(
                out,
                "    {} {:<9} {:<15} {:.1} > {:.1} {} in {} h; works: {works}",
                a.date,
                a.sensor,
                a.rule,
                a.value,
                a.limit,
                a.unit,
                a.evidence.readings.len()
            )?;
        }
        if self.alerts.len() > TEXT_ALERTS {
            let mut counts: std::collections::BTreeMap<(&str, &str), usize> = std::collections::BTreeMap::new();
            for a in &self.alerts[TEXT_ALERTS..] {
                *counts.entry((a.sensor.as_str(), a.rule.as_str())).or_default() += 1;
            }
            let rest: Vec<String> = counts.iter().map(|((s, r), n)| format!("{s} {r} ×{n}")).collect();
            writeln!(out, "    … and {} more (--json lists all): {}", self.alerts.len() - TEXT_ALERTS, rest.join(", "))?;
        }
        writeln!(out, "  predicted nuisance   days (hours) above the noise limit at each building, by working hours")?;
        for o in &self.predicted_nuisance {
            let buildings: Vec<String> =
                o.buildings.iter().map(|b| format!("{} {} ({})", b.name, b.days_above_limit, b.hours_above_limit)).collect();
            writeln!(
                out,
                "    {:<24} {:.0} household-days, {:.0} household-hours: {}",
                o.name,
                o.household_days,
                o.household_hours,
                buildings.join(", ")
            )?;
        }
        let p = &self.population;
        writeln!(
            out,
            "  population           {:.0} households ({:.0} residents) disrupted on {} days: {:.0} household-days, {:.0} trip-days (peak {:.0} a day), {:.1} km of detours",
            p.households_disrupted, p.residents_disrupted, p.disruption_days, p.household_days, p.trip_days_disrupted, p.peak_trips_per_day, p.detour_km
        )?;
        for t in &p.tasks {
            writeln!(
                out,
                "    {:<24} {:.0} households on {} days, {:.0} trip-days, {:.1} km of detours",
                t.task, t.households, t.days, t.trip_days, t.detour_km
            )?;
        }
        writeln!(out, "    destinations         {}: {}", p.destinations, match p.destinations {
            "map" => "points of interest of the scene's GeoJSON/CityJSON layers",
            "population.places" => "declared in [population] places",
            _ => "none",
        })?;
        for d in &p.diagnostics {
            writeln!(out, "    note: {d}")?;
        }
        let v = &p.vulnerable;
        if v.declared {
            writeln!(
                out,
                "  vulnerable residents {:.0} elderly, {:.0} disabled, {:.0} children disrupted, {:.0} vulnerable-resident-days [{}]",
                v.elderly, v.disabled, v.children, v.vulnerable_resident_days, v.source
            )?;
            for b in v.priority.iter().take(10) {
                writeln!(out, "    priority {:<15} {:.0} vulnerable residents × {} days", b.building, b.vulnerable, b.days)?;
            }
            let a = &v.accessible_routes;
            writeln!(
                out,
                "  accessible routes    {:.0} elderly/disabled trip-days cut, {:.0} pushed beyond a {:.0} m walk [{}]",
                a.trip_days_cut, a.trip_days_beyond_walk, a.walk_m, a.walk_source
            )?;
            for b in a.buildings.iter().take(5) {
                writeln!(out, "    {:<24} {:.0} trip-days", b.building, b.trip_days)?;
            }
        } else {
            writeln!(out, "  vulnerable residents unknown: the model declares no RenewTwin_Building.Elderly, .Disabled or .Children")?;
        }
        let r = &self.risk;
        writeln!(
            out,
            "  risk on {}       {} surveyed pipes in service (day 0: {}), {} warnings (day 0: {}) [{}]",
            r.date, r.pipes_after, r.pipes_before, r.warnings_after, r.warnings_before, r.source
        )?;
        for b in r.buildings.iter().filter(|b| b.score_after != Some(b.score_before)) {
            let after = b.score_after.map_or_else(|| "gone".to_owned(), |s| format!("{s:.1}"));
            let by = if b.improved_by.is_empty() { String::new() } else { format!(" (improved by {})", b.improved_by.join(", ")) };
            writeln!(out, "    {:<24} safety score {:.1} → {after}{by}", b.name, b.score_before)?;
        }
        Ok(())
    }
}

/// The plain-text list of risk warnings with their evidence.
pub fn write_risk_warnings(warnings: &[crate::risk::RiskWarning], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    writeln!(out, "\nrisk warnings          {}", warnings.len())?;
    for w in warnings {
        writeln!(out, "  {:<8} {}  [{} {}]", w.kind, w.message, w.global_id, w.evidence)?;
    }
    Ok(())
}
