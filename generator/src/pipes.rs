//! The underground utility network: existing water, drainage and gas mains under the street,
//! trunks under the cross road, branches under each lane and service connections to every
//! stair unit, plus the renewal plan's NEW PE water pipes beside the old ones.
//!
//! Every pipe is an IfcPipeSegment (hollow circular profile extruded along its axis, below
//! ground), contained in the site, with `Pset_PipeSegmentTypeCommon` and `RenewTwin_Survey`
//! shared by the segments of one run. Runs are split into segments of at most 40 m, as
//! between manholes.

use crate::building::RENEWAL_YEAR;
use crate::kit::{Dir, ElementHead, Emitter, Value, key};
use crate::layout::{CROSS_ROAD_EAST, CROSS_ROAD_WEST, DistrictPlan, STREET_NORTH, STREET_SOUTH};
use crate::rng::SplitMix64;
use crate::step::Id;
use std::collections::BTreeMap;
use std::io::{self, Write};

const MAX_SEGMENT: f64 = 40.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum System {
    WaterSupply,
    Drainage,
    Gas,
}

impl System {
    fn object_type(self) -> &'static str {
        match self {
            Self::WaterSupply => "WATER_SUPPLY",
            Self::Drainage => "DRAINAGE",
            Self::Gas => "GAS",
        }
    }

    fn code(self) -> &'static str {
        match self {
            Self::WaterSupply => "WS",
            Self::Drainage => "DR",
            Self::Gas => "GAS",
        }
    }
}

/// Pipe material with its Chinese and English name and wall thickness per nominal diameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Material {
    GreyCastIron,
    Concrete,
    Steel,
    GalvanisedSteel,
    Pe100,
}

impl Material {
    fn name(self) -> &'static str {
        match self {
            Self::GreyCastIron => "灰口铸铁 grey cast iron",
            Self::Concrete => "钢筋混凝土 reinforced concrete",
            Self::Steel => "钢 steel",
            Self::GalvanisedSteel => "镀锌钢 galvanised steel",
            Self::Pe100 => "聚乙烯 PE100",
        }
    }

    fn wall(self, dn: f64) -> f64 {
        match self {
            Self::GreyCastIron => 0.008 + 0.02 * dn,
            Self::Concrete => 0.1 * dn,
            Self::Steel | Self::GalvanisedSteel => 0.003 + 0.02 * dn,
            Self::Pe100 => dn / 11.0, // SDR 11
        }
    }
}

/// Which way a run goes from its start point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Axis {
    East,
    North,
}

/// A straight run of identical pipe.
#[derive(Debug, Clone)]
struct Run {
    system: System,
    material: Material,
    /// Nominal (inner) diameter, m.
    dn: f64,
    year: i64,
    new: bool,
    start: [f64; 3],
    axis: Axis,
    length: f64,
    name: String,
    code: String,
}

/// Writes every pipe; returns the ids to contain in the site.
pub(crate) fn write_pipes<W: Write>(
    e: &mut Emitter<W>,
    site_placement: Id,
    plan: &DistrictPlan,
    seed: u64,
) -> io::Result<Vec<Id>> {
    let mut writer = PipeWriter {
        site_placement,
        profiles: BTreeMap::new(),
        shapes: BTreeMap::new(),
        elements: Vec::new(),
        rng: SplitMix64::new(seed, 0x5049_5045),
    };
    let oldest = plan
        .buildings
        .iter()
        .map(|b| i64::from(b.year))
        .min()
        .unwrap_or(1985);
    let (x0, x1) = (plan.street.x0, plan.street.x1);
    let street_length = x1 - x0;
    let north_end = plan.rows.last().map_or(0.0, |r| r.lane_center);

    // Street mains (市政干管) and the trunks under the cross road up to the last lane.
    let mains = [
        (
            System::WaterSupply,
            Material::GreyCastIron,
            0.2,
            oldest,
            STREET_NORTH - 3.0,
            -1.4,
            CROSS_ROAD_WEST + 2.0,
            -1.4,
            0.15,
        ),
        (
            System::Drainage,
            Material::Concrete,
            0.5,
            oldest,
            (STREET_NORTH + STREET_SOUTH) / 2.0,
            -2.4,
            CROSS_ROAD_WEST + 3.5,
            -2.2,
            0.4,
        ),
        (
            System::Gas,
            Material::Steel,
            0.15,
            oldest.max(1990),
            STREET_NORTH + 2.0,
            -1.0,
            CROSS_ROAD_EAST - 1.5,
            -1.0,
            0.1,
        ),
    ];
    for (system, material, dn, year, y, z, trunk_x, trunk_z, trunk_dn) in mains {
        let label = system_label(system);
        writer.run(
            e,
            Run {
                system,
                material,
                dn,
                year,
                new: false,
                start: [x0, y, z],
                axis: Axis::East,
                length: street_length,
                name: format!(
                    "市政{}干管 street {} main DN{:.0}",
                    label.0,
                    label.1,
                    dn * 1000.0
                ),
                code: format!("P-STREET-{}", system.code()),
            },
        )?;
        if north_end > y {
            writer.run(
                e,
                Run {
                    system,
                    material,
                    dn: trunk_dn,
                    year,
                    new: false,
                    start: [trunk_x, y, trunk_z],
                    axis: Axis::North,
                    length: north_end + 2.0 - y,
                    name: format!(
                        "小区{}总管 estate {} trunk DN{:.0}",
                        label.0,
                        label.1,
                        trunk_dn * 1000.0
                    ),
                    code: format!("P-TRUNK-{}", system.code()),
                },
            )?;
        }
    }

    // Lane branches (支管), old and NEW, and the service connections of every unit.
    for row in &plan.rows {
        let r = row.index + 1;
        let row_buildings: Vec<_> = plan
            .buildings
            .iter()
            .filter(|b| b.row == row.index)
            .collect();
        let row_year = row_buildings
            .iter()
            .map(|b| i64::from(b.year))
            .min()
            .unwrap_or(oldest);
        let lc = row.lane_center;
        let branches = [
            (
                System::WaterSupply,
                Material::GreyCastIron,
                0.1,
                row_year,
                lc - 1.5,
                -1.2,
                CROSS_ROAD_WEST + 2.0,
                false,
            ),
            (
                System::Drainage,
                Material::Concrete,
                0.3,
                row_year,
                lc,
                -1.8,
                CROSS_ROAD_WEST + 3.5,
                false,
            ),
            (
                System::Gas,
                Material::Steel,
                0.1,
                row_year.max(1990),
                lc + 1.5,
                -0.9,
                CROSS_ROAD_EAST - 1.5,
                false,
            ),
            (
                System::WaterSupply,
                Material::Pe100,
                0.11,
                RENEWAL_YEAR,
                lc - 2.3,
                -1.2,
                CROSS_ROAD_WEST + 2.0,
                true,
            ),
        ];
        for (system, material, dn, year, y, z, start_x, new) in branches {
            let label = system_label(system);
            let state = if new { "新建 new" } else { "现状 existing" };
            writer.run(
                e,
                Run {
                    system,
                    material,
                    dn,
                    year,
                    new,
                    start: [start_x, y, z],
                    axis: Axis::East,
                    length: row.lane.x1 - 1.0 - start_x,
                    name: format!(
                        "{r}号路{}支管 lane {r} {} branch DN{:.0} ({state})",
                        label.0,
                        label.1,
                        dn * 1000.0
                    ),
                    code: format!(
                        "P-LANE{r:02}-{}{}",
                        system.code(),
                        if new { "-NEW" } else { "" }
                    ),
                },
            )?;
        }
        for b in row_buildings {
            let n = b.number;
            let face = b.origin[1] + b.depth;
            let services = [
                (
                    System::WaterSupply,
                    Material::GalvanisedSteel,
                    0.05,
                    i64::from(b.year),
                    2.2,
                    lc - 1.5,
                    -1.0,
                    false,
                ),
                (
                    System::Drainage,
                    Material::GreyCastIron,
                    0.15,
                    i64::from(b.year),
                    2.9,
                    lc,
                    -1.5,
                    false,
                ),
                (
                    System::Gas,
                    Material::Steel,
                    0.025,
                    i64::from(b.year).max(1990),
                    3.6,
                    lc + 1.5,
                    -0.8,
                    false,
                ),
                (
                    System::WaterSupply,
                    Material::Pe100,
                    0.032,
                    RENEWAL_YEAR,
                    1.6,
                    lc - 2.3,
                    -1.0,
                    true,
                ),
            ];
            for (system, material, dn, year, dx, to_y, z, new) in services {
                let label = system_label(system);
                for unit in 0..b.units {
                    let x = b.origin[0] + b.stair_center(unit) + dx;
                    writer.run(
                        e,
                        Run {
                            system,
                            material,
                            dn,
                            year,
                            new,
                            start: [x, face, z],
                            axis: Axis::North,
                            length: to_y - face,
                            name: format!(
                                "{n}号楼{}单元{}入户管 building {n} unit {} {} service DN{:.0}",
                                unit + 1,
                                label.0,
                                unit + 1,
                                label.1,
                                dn * 1000.0
                            ),
                            code: format!(
                                "P-B{n:03}-U{}-{}{}",
                                unit + 1,
                                system.code(),
                                if new { "-NEW" } else { "" }
                            ),
                        },
                    )?;
                }
            }
        }
    }
    Ok(writer.elements)
}

fn system_label(system: System) -> (&'static str, &'static str) {
    match system {
        System::WaterSupply => ("给水", "water supply"),
        System::Drainage => ("排水", "drainage"),
        System::Gas => ("燃气", "gas"),
    }
}

#[derive(Debug)]
struct PipeWriter {
    site_placement: Id,
    profiles: BTreeMap<(i64, i64), Id>,
    shapes: BTreeMap<(i64, i64, i64), Id>,
    elements: Vec<Id>,
    rng: SplitMix64,
}

impl PipeWriter {
    fn run<W: Write>(&mut self, e: &mut Emitter<W>, run: Run) -> io::Result<()> {
        if run.length <= 0.05 {
            return Ok(());
        }
        let wall = run.material.wall(run.dn);
        let outer = run.dn + 2.0 * wall;
        let profile_key = (key(outer), key(wall));
        let profile = match self.profiles.get(&profile_key) {
            Some(&id) => id,
            None => {
                let name = format!("DN{:.0}", run.dn * 1000.0);
                let id = e.w.entity("IFCCIRCLEHOLLOWPROFILEDEF", |a| {
                    a.enumeration("AREA")
                        .str(&name)
                        .null()
                        .real(outer / 2.0)
                        .real(wall);
                })?;
                self.profiles.insert(profile_key, id);
                id
            }
        };
        let segments = (run.length / MAX_SEGMENT).ceil().max(1.0) as u32;
        let seg_length = run.length / f64::from(segments);
        let shape_key = (profile_key.0, profile_key.1, key(seg_length));
        let shape = match self.shapes.get(&shape_key) {
            Some(&id) => id,
            None => {
                let identity = e.identity;
                let solid = e.extrude(profile, identity, seg_length)?;
                let id = e.body_shape("SweptSolid", &[solid])?;
                self.shapes.insert(shape_key, id);
                id
            }
        };
        let (axis, ref_dir, step) = match run.axis {
            Axis::East => (Dir::X, Dir::Y, [seg_length, 0.0]),
            Axis::North => (Dir::Y, Dir::X, [0.0, seg_length]),
        };
        let status = if run.new { "NEW" } else { "EXISTING" };
        let mut ids = Vec::with_capacity(segments as usize);
        for s in 0..segments {
            let f = f64::from(s);
            let origin = [
                run.start[0] + f * step[0],
                run.start[1] + f * step[1],
                run.start[2],
            ];
            let a2p = e.a2p_oriented(origin, axis, ref_dir)?;
            let placement = e.placement(Some(self.site_placement), a2p)?;
            let pds = e.product_shape(shape)?;
            let tag = if segments > 1 {
                format!("{}-{:03}", run.code, s + 1)
            } else {
                run.code.clone()
            };
            let id = e.element(
                "IFCPIPESEGMENT",
                &ElementHead {
                    name: &run.name,
                    description: Some(run.material.name()),
                    object_type: Some(run.system.object_type()),
                    placement,
                    representation: Some(pds),
                    tag: Some(&tag),
                },
                |a| {
                    a.enumeration("RIGIDSEGMENT");
                },
            )?;
            e.counts.pipes += 1;
            if run.new {
                e.counts.new_pipes += 1;
            }
            ids.push(id);
        }
        let age = RENEWAL_YEAR - run.year;
        let condition = if run.new {
            "PLANNED"
        } else if age > 35 {
            *self.rng.pick(&["FAIR", "POOR", "POOR", "CRITICAL"])
        } else {
            *self.rng.pick(&["GOOD", "FAIR", "FAIR", "POOR"])
        };
        e.pset(
            &ids,
            "Pset_PipeSegmentTypeCommon",
            &[
                (
                    "Reference",
                    Value::label(format!("DN{:.0}", run.dn * 1000.0)),
                ),
                ("Status", Value::label(status)),
                ("NominalDiameter", Value::PositiveLength(run.dn)),
                ("InnerDiameter", Value::PositiveLength(run.dn)),
                ("OuterDiameter", Value::PositiveLength(outer)),
            ],
        )?;
        e.pset(
            &ids,
            "RenewTwin_Survey",
            &[
                ("System", Value::label(run.system.object_type())),
                ("Material", Value::label(run.material.name())),
                ("InstallYear", Value::Integer(run.year)),
                ("NominalDiameter", Value::PositiveLength(run.dn)),
                ("CoverDepth", Value::Length(-run.start[2] - outer / 2.0)),
                ("Condition", Value::label(condition)),
                ("Status", Value::label(status)),
            ],
        )?;
        self.elements.extend(ids);
        Ok(())
    }
}
