//! The `[networks]` section of the scene manifest and a task's `temporary_supply`: how the
//! utility networks are read from the model (the snapping tolerance, where each system is fed
//! from) and which temporary supplies bridge a gap the works leave. The check itself is in
//! `renewal::network`.

use serde::Deserialize;

/// A utility system a building can be served by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum System {
    /// Drinking water supply (给水).
    WaterSupply,
    /// Sewage and storm drainage (排水).
    Drainage,
    /// Gas (燃气).
    Gas,
    /// District heating (供热).
    Heating,
    /// Electric power (电力).
    Power,
}

impl System {
    /// Every system, in reporting order.
    pub const ALL: [System; 5] = [System::WaterSupply, System::Drainage, System::Gas, System::Heating, System::Power];

    /// Stable lowercase key, as written in the manifest.
    pub fn key(self) -> &'static str {
        match self {
            Self::WaterSupply => "water_supply",
            Self::Drainage => "drainage",
            Self::Gas => "gas",
            Self::Heating => "heating",
            Self::Power => "power",
        }
    }

    /// The system a manifest key names.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.key().eq_ignore_ascii_case(key.trim()))
    }

    /// The system a model's text names (`RenewTwin_Survey.System`, an IFC system type such as
    /// `DOMESTICCOLDWATER`, `SEWAGE`, `GAS`, `HEATING`, `ELECTRICAL`, or a Chinese name), or
    /// `None` when it names none of them. Drainage words are tried before water (`STORMWATER`,
    /// `WASTEWATER`), heating before water (`HOT WATER HEATING`).
    pub fn from_text(text: &str) -> Option<Self> {
        let t = text.to_uppercase();
        let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
        if has(&["DRAIN", "SEWAGE", "SEWER", "STORMWATER", "WASTEWATER", "RAINWATER", "排水", "污水", "雨水"]) {
            Some(Self::Drainage)
        } else if has(&["HEATING", "DISTRICTHEAT", "供热", "采暖", "暖气"]) {
            Some(Self::Heating)
        } else if has(&["GAS", "FUEL", "燃气", "煤气", "天然气"]) {
            Some(Self::Gas)
        } else if has(&["WATER", "给水", "供水", "自来水"]) {
            Some(Self::WaterSupply)
        } else if has(&["ELECTRIC", "POWER", "电力", "供电"]) {
            Some(Self::Power)
        } else {
            None
        }
    }
}

/// `[networks]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworksConfig {
    /// Two network elements of one system are connected when an end of one lies within this
    /// distance (metres, in 3D) of the other's centre line, and a network element serves a
    /// building when an end lies within it of the building's plan footprint (assumed 0.5 m:
    /// the generated district's branches sit up to 0.4 m above the trunks they tee into;
    /// real models with ports are not snapped at all).
    pub snap_tolerance_m: f64,
    /// GlobalIds of the elements each system is fed from (where it enters the district).
    /// When empty, the segments of the largest nominal diameter of each system are taken to
    /// be its mains and its source (stated in the check's messages).
    pub sources: Vec<String>,
    /// Check that no plan leaves a served building without a system it had (default true).
    pub check_supply: bool,
}

impl Default for NetworksConfig {
    fn default() -> Self {
        Self { snap_tolerance_m: 0.5, sources: Vec::new(), check_supply: true }
    }
}

impl NetworksConfig {
    /// Checks values the check cannot work with; the error names the field.
    pub fn validate(&self) -> Result<(), super::ConfigError> {
        if !(self.snap_tolerance_m.is_finite() && self.snap_tolerance_m >= 0.0 && self.snap_tolerance_m <= 10.0) {
            return Err(super::ConfigError::new("networks.snap_tolerance_m", "must be a number of metres from 0 to 10"));
        }
        Ok(())
    }
}

/// A task's `temporary_supply`: while the task runs, the named systems of the named buildings
/// are supplied temporarily (a water tanker, bottled gas, a generator, a temporary main), so a
/// gap in the permanent network then is covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemporarySupply {
    /// Systems supplied.
    pub systems: Vec<System>,
    /// Names of the buildings supplied; empty: every building.
    pub buildings: Vec<String>,
}

/// The raw TOML shape of [`TemporarySupply`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTemporarySupply {
    pub(crate) systems: Vec<String>,
    #[serde(default)]
    pub(crate) buildings: Vec<String>,
}

impl RawTemporarySupply {
    /// The supply, or the first unknown system name.
    pub(crate) fn resolve(&self) -> Result<TemporarySupply, String> {
        let systems = self
            .systems
            .iter()
            .map(|s| {
                System::from_key(s).ok_or_else(|| {
                    let known: Vec<&str> = System::ALL.iter().map(|s| s.key()).collect();
                    format!("unknown system {s:?}; expected one of {}", known.join(", "))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if systems.is_empty() {
            return Err("name at least one system".into());
        }
        Ok(TemporarySupply { systems, buildings: self.buildings.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_names_of_models_are_read_drainage_and_heating_before_water() {
        assert_eq!(System::from_text("WATER_SUPPLY"), Some(System::WaterSupply));
        assert_eq!(System::from_text("DOMESTICCOLDWATER"), Some(System::WaterSupply));
        assert_eq!(System::from_text("STORMWATER"), Some(System::Drainage));
        assert_eq!(System::from_text("污水"), Some(System::Drainage));
        assert_eq!(System::from_text("hot water heating"), Some(System::Heating));
        assert_eq!(System::from_text("GAS"), Some(System::Gas));
        assert_eq!(System::from_text("ELECTRICAL"), Some(System::Power));
        assert_eq!(System::from_text("VENTILATION"), None);
    }
}
