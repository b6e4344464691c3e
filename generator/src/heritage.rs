//! The district's one protected heritage structure: a late-Qing stone memorial archway
//! (石牌坊) of three bays and four pillars (三间四柱) standing over the entrance of the estate
//! road, listed as a district-level cultural relic (区级文物保护单位).
//!
//! It is an `IfcElementAssembly` (ObjectType `MEMORIAL_ARCHWAY`, Tag `HERITAGE-01`) contained
//! in the site, aggregating its parts: four `IfcColumn` pillars, three `IfcBeam` lintels with
//! their frieze panels, three `IfcBuildingElementProxy` roof caps and one proxy plaque. The
//! assembly and every part carry `RenewTwin_Heritage` (`Protected = TRUE`), so a selector on
//! that property finds the physical elements, not only the assembly. None of the parts is an
//! IfcWall, IfcRoof or NEW, so the renewal plan's facade, roof and lift tasks leave them alone.
//!
//! Archway frame: origin on the ground at the centre of the middle bay, x along the street,
//! y north.

use crate::kit::{Aabb, ElementHead, Emitter, Value};
use crate::layout::{ARCHWAY_HALF_WIDTH, DistrictPlan};
use crate::step::Id;
use std::io::{self, Write};

/// Pillar axes from the centre (m): the middle bay spans the 7 m estate road.
const INNER_PILLAR: f64 = 4.2;
const OUTER_PILLAR: f64 = 7.2;
const PILLAR: f64 = 0.6;
const INNER_HEIGHT: f64 = 6.4;
const OUTER_HEIGHT: f64 = 5.0;
/// Stone clamping blocks (夹杆石) at the pillar feet.
const PLINTH: f64 = 1.0;
const PLINTH_HEIGHT: f64 = 1.2;
const ROOF_DEPTH: f64 = 1.8;
// The side roofs overhang the outer pillars by 0.6 m; layout reserves room for that.
const _: () = assert!(OUTER_PILLAR + PILLAR / 2.0 + 0.6 <= ARCHWAY_HALF_WIDTH);

/// When it was built and listed.
pub(crate) const BUILT: i64 = 1896;
pub(crate) const LISTED: i64 = 1991;
pub(crate) const GRADE: &str = "district-level";

/// One part: class, name, object type, tag suffix, predefined type, boxes in the archway frame.
type PartSpec = (
    &'static str,
    &'static str,
    Option<&'static str>,
    String,
    &'static str,
    Vec<Aabb>,
);

fn part_specs() -> Vec<PartSpec> {
    let mut specs = Vec::new();
    let h = PILLAR / 2.0;
    for (i, (x, inner)) in [
        (-OUTER_PILLAR, false),
        (-INNER_PILLAR, true),
        (INNER_PILLAR, true),
        (OUTER_PILLAR, false),
    ]
    .into_iter()
    .enumerate()
    {
        let height = if inner { INNER_HEIGHT } else { OUTER_HEIGHT };
        specs.push((
            "IFCCOLUMN",
            if inner {
                "明间石柱 middle-bay stone pillar"
            } else {
                "次间石柱 side-bay stone pillar"
            },
            None,
            format!("COL-{}", i + 1),
            "COLUMN",
            vec![
                Aabb::new(
                    [x - PLINTH / 2.0, -PLINTH / 2.0, 0.0],
                    [x + PLINTH / 2.0, PLINTH / 2.0, PLINTH_HEIGHT],
                ),
                Aabb::new([x - h, -h, 0.0], [x + h, h, height]),
            ],
        ));
    }
    // Lintels (额枋) between pillar faces, with the carved frieze panel (花板) above.
    let middle = INNER_PILLAR - h;
    let (side0, side1) = (INNER_PILLAR + h, OUTER_PILLAR - h);
    for (code, x0, x1, z0, top) in [
        ("BEAM-W", -side1, -side0, 3.8, OUTER_HEIGHT),
        ("BEAM-C", -middle, middle, 5.0, INNER_HEIGHT),
        ("BEAM-E", side0, side1, 3.8, OUTER_HEIGHT),
    ] {
        specs.push((
            "IFCBEAM",
            "额枋 stone lintel with frieze panel",
            None,
            code.into(),
            "LINTEL",
            vec![
                Aabb::new([x0, -0.2, z0], [x1, 0.2, z0 + 0.5]),
                Aabb::new([x0, -0.1, z0 + 0.5], [x1, 0.1, top]),
            ],
        ));
    }
    // Hip-roof caps (楼) over each bay: a slab and a ridge.
    let d = ROOF_DEPTH / 2.0;
    let outer = OUTER_PILLAR + h + 0.6;
    for (code, x0, x1, z0) in [
        ("ROOF-W", -outer, -(INNER_PILLAR + h), OUTER_HEIGHT),
        (
            "ROOF-C",
            -(INNER_PILLAR + h + 0.4),
            INNER_PILLAR + h + 0.4,
            INNER_HEIGHT,
        ),
        ("ROOF-E", INNER_PILLAR + h, outer, OUTER_HEIGHT),
    ] {
        specs.push((
            "IFCBUILDINGELEMENTPROXY",
            "石雕屋顶 carved stone roof cap",
            Some("ARCHWAY_ROOF"),
            code.into(),
            "USERDEFINED",
            vec![
                Aabb::new([x0, -d, z0], [x1, d, z0 + 0.6]),
                Aabb::new([x0 + 0.4, -0.2, z0 + 0.6], [x1 - 0.4, 0.2, z0 + 1.0]),
            ],
        ));
    }
    specs.push((
        "IFCBUILDINGELEMENTPROXY",
        "匾额 inscribed stone plaque",
        Some("PLAQUE"),
        "PLAQUE".into(),
        "USERDEFINED",
        // On the south face of the middle frieze panel.
        vec![Aabb::new([-1.2, -0.2, 5.6], [1.2, -0.1, 6.3])],
    ));
    specs
}

/// Writes the archway, its parts and their property sets; returns the assembly, which the
/// caller contains in the site (the parts are in it through the assembly).
pub(crate) fn write_archway<W: Write>(
    e: &mut Emitter<W>,
    site_placement: Id,
    plan: &DistrictPlan,
) -> io::Result<Id> {
    let [x, y] = plan.archway;
    let a2p = e.a2p([x, y, 0.0])?;
    let placement = e.placement(Some(site_placement), a2p)?;
    let assembly = e.element(
        "IFCELEMENTASSEMBLY",
        &ElementHead {
            name: "清代石牌坊 Qing-dynasty stone memorial archway",
            description: Some("区级文物保护单位 district-level protected cultural relic"),
            object_type: Some("MEMORIAL_ARCHWAY"),
            placement,
            representation: None,
            tag: Some("HERITAGE-01"),
        },
        |a| {
            a.enumeration("SITE").enumeration("USERDEFINED");
        },
    )?;
    e.counts.heritage_structures += 1;

    let (mut columns, mut beams, mut proxies) = (Vec::new(), Vec::new(), Vec::new());
    for (keyword, name, object_type, code, predefined, boxes) in part_specs() {
        let part_placement = e.placement(Some(placement), e.identity)?;
        let mut items = Vec::with_capacity(boxes.len());
        for b in boxes {
            items.push(e.box_solid(b)?);
        }
        let shape = e.body_shape("SweptSolid", &items)?;
        let pds = e.product_shape(shape)?;
        let tag = format!("HERITAGE-01-{code}");
        let id = e.element(
            keyword,
            &ElementHead {
                name,
                description: None,
                object_type,
                placement: part_placement,
                representation: Some(pds),
                tag: Some(&tag),
            },
            |a| {
                a.enumeration(predefined);
            },
        )?;
        e.counts.heritage_elements += 1;
        match keyword {
            "IFCCOLUMN" => columns.push(id),
            "IFCBEAM" => beams.push(id),
            _ => proxies.push(id),
        }
    }
    let parts: Vec<Id> = columns
        .iter()
        .chain(&beams)
        .chain(&proxies)
        .copied()
        .collect();
    e.aggregate(assembly, &parts)?;

    let mut protected = Vec::with_capacity(parts.len() + 1);
    protected.push(assembly);
    protected.extend(&parts);
    e.pset(
        &protected,
        "RenewTwin_Heritage",
        &[
            ("Protected", Value::Boolean(true)),
            ("Grade", Value::label(GRADE)),
            ("Listed", Value::Integer(LISTED)),
            ("Built", Value::Integer(BUILT)),
            ("Material", Value::label("青石 bluestone")),
            // Construction within this distance needs the heritage authority's consent.
            ("ControlZone", Value::PositiveLength(10.0)),
        ],
    )?;
    for (objects, pset) in [(&columns, "Pset_ColumnCommon"), (&beams, "Pset_BeamCommon")] {
        e.pset(
            objects,
            pset,
            &[
                ("Status", Value::label("EXISTING")),
                ("IsExternal", Value::Boolean(true)),
                ("LoadBearing", Value::Boolean(true)),
            ],
        )?;
    }
    e.pset(
        &proxies,
        "Pset_BuildingElementProxyCommon",
        &[
            ("Status", Value::label("EXISTING")),
            ("IsExternal", Value::Boolean(true)),
        ],
    )?;
    Ok(assembly)
}
