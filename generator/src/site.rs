//! The project, units and site, and what lies on the ground outside the buildings: the
//! main street and its sidewalks, the cross road and the lanes (IfcCivilElement, which
//! IFC4 has for civil works and ifc-lite meshes like any product), and the NEW pocket park
//! (IfcGeographicElement).

use crate::kit::{Aabb, ElementHead, Emitter, Value};
use crate::layout::{DistrictPlan, Rect};
use crate::step::Id;
use std::io::{self, Write};

/// An estate name in Chinese and English.
const ESTATES: [(&str, &str); 5] = [
    ("和平里小区", "Hepingli Estate"),
    ("幸福里小区", "Xingfuli Estate"),
    ("建设新村", "Jianshe New Village"),
    ("红旗小区", "Hongqi Estate"),
    ("光明里小区", "Guangmingli Estate"),
];

/// Ids of the spatial root.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SiteIds {
    pub(crate) site: Id,
    pub(crate) placement: Id,
}

/// Writes the SI units, the project and the site.
pub(crate) fn write_project_and_site<W: Write>(
    e: &mut Emitter<W>,
    model_context: Id,
    plan: &DistrictPlan,
    estate_pick: u64,
) -> io::Result<SiteIds> {
    let mut units = Vec::new();
    for (kind, prefix, name) in [
        ("LENGTHUNIT", None, "METRE"),
        ("AREAUNIT", None, "SQUARE_METRE"),
        ("VOLUMEUNIT", None, "CUBIC_METRE"),
        ("PLANEANGLEUNIT", None, "RADIAN"),
        ("MASSUNIT", Some("KILO"), "GRAM"),
    ] {
        units.push(e.w.entity("IFCSIUNIT", |a| {
            a.derived().enumeration(kind);
            match prefix {
                Some(p) => a.enumeration(p),
                None => a.null(),
            };
            a.enumeration(name);
        })?);
    }
    let unit_assignment = e.w.entity("IFCUNITASSIGNMENT", |a| {
        a.ids(&units);
    })?;
    let (estate_zh, estate_en) = ESTATES[(estate_pick % ESTATES.len() as u64) as usize];
    let city = plan.city;
    let project_name = format!(
        "{}{} 老旧小区改造 {} renewal, {}",
        city.name_zh, estate_zh, estate_en, city.name_en
    );
    let project = e.w.entity("IFCPROJECT", |a| {
        a.guid()
            .null()
            .str(&project_name)
            .str("RenewTwin generated district (synthetic)")
            .null();
        a.str("RenewTwin demo district")
            .str("改造规划 renewal planning")
            .ids(&[model_context])
            .id(unit_assignment);
    })?;
    let identity = e.identity;
    let placement = e.placement(None, identity)?;
    let site_name = format!("{}{}", city.name_zh, estate_zh);
    let site_long = format!("{estate_en}, {}", city.name_en);
    let site = e.w.entity("IFCSITE", |a| {
        a.guid()
            .null()
            .str(&site_name)
            .str("1980–90年代多层砖混住宅小区 walk-up estate of the 1980s–90s")
            .null();
        a.id(placement)
            .null()
            .str(&site_long)
            .enumeration("ELEMENT");
        a.ints(&city.latitude)
            .ints(&city.longitude)
            .real(city.elevation)
            .null()
            .null();
    })?;
    e.aggregate(project, &[site])?;
    Ok(SiteIds { site, placement })
}

/// Writes the street, sidewalks, cross road, lanes and park; returns their ids.
pub(crate) fn write_grounds<W: Write>(
    e: &mut Emitter<W>,
    site_placement: Id,
    plan: &DistrictPlan,
) -> io::Result<Vec<Id>> {
    let mut ids = Vec::new();
    let mut civil = Vec::new();
    let mut surfaces: Vec<(Rect, f64, f64, &str, &str, String)> = vec![
        (
            plan.street,
            -0.3,
            0.0,
            "和平路 Heping Road (street)",
            "ROAD",
            "ROAD-STREET".into(),
        ),
        (
            plan.north_sidewalk,
            -0.2,
            0.15,
            "人行道(北) north sidewalk",
            "SIDEWALK",
            "SIDEWALK-N".into(),
        ),
        (
            plan.south_sidewalk,
            -0.2,
            0.15,
            "人行道(南) south sidewalk",
            "SIDEWALK",
            "SIDEWALK-S".into(),
        ),
    ];
    if plan.cross_road.y1 > plan.cross_road.y0 {
        surfaces.push((
            plan.cross_road,
            -0.3,
            0.0,
            "小区主路 estate road",
            "ROAD",
            "ROAD-CROSS".into(),
        ));
    }
    for row in &plan.rows {
        surfaces.push((
            row.lane,
            -0.25,
            0.0,
            "宅间路 lane",
            "LANE",
            format!("LANE-{:02}", row.index + 1),
        ));
    }
    for (rect, z0, z1, name, object_type, tag) in &surfaces {
        let id = ground_box(
            e,
            site_placement,
            *rect,
            *z0,
            *z1,
            "IFCCIVILELEMENT",
            &ElementHead {
                name,
                description: Some("沥青路面 asphalt"),
                object_type: Some(object_type),
                placement: Id(0),
                representation: None,
                tag: Some(tag),
            },
        )?;
        e.counts.civil_elements += 1;
        civil.push(id);
    }
    e.pset(
        &civil,
        "RenewTwin_Civil",
        &[
            ("Status", Value::label("EXISTING")),
            ("Surface", Value::label("沥青 asphalt")),
        ],
    )?;
    ids.extend(civil);

    let park = ground_box(
        e,
        site_placement,
        plan.park,
        -0.1,
        0.05,
        "IFCGEOGRAPHICELEMENT",
        &ElementHead {
            name: "口袋公园 pocket park",
            description: Some("改造新增绿地 new green space of the renewal plan"),
            object_type: Some("POCKET_PARK"),
            placement: Id(0),
            representation: None,
            tag: Some("PARK-01"),
        },
    )?;
    e.counts.geographic_elements += 1;
    e.pset(
        &[park],
        "RenewTwin_Renewal",
        &[
            ("Status", Value::label("NEW")),
            ("Measure", Value::label("口袋公园 pocket park")),
            ("PlannedYear", Value::Integer(crate::building::RENEWAL_YEAR)),
            ("Area", Value::Area(plan.park.area())),
        ],
    )?;
    // The whole park is planted: its green area is its planar area.
    e.pset(
        &[park],
        "RenewTwin_Landscape",
        &[
            ("GreenArea", Value::Area(plan.park.area())),
            ("LandscapeType", Value::label("POCKET_PARK")),
        ],
    )?;
    ids.push(park);
    Ok(ids)
}

/// A flat box on the ground from `z0` to `z1`, placed at the rectangle's south-west corner.
fn ground_box<W: Write>(
    e: &mut Emitter<W>,
    site_placement: Id,
    rect: Rect,
    z0: f64,
    z1: f64,
    keyword: &str,
    head: &ElementHead<'_>,
) -> io::Result<Id> {
    let a2p = e.a2p([rect.x0, rect.y0, 0.0])?;
    let placement = e.placement(Some(site_placement), a2p)?;
    let solid = e.box_solid(Aabb::new(
        [0.0, 0.0, z0],
        [rect.x1 - rect.x0, rect.y1 - rect.y0, z1],
    ))?;
    let shape = e.body_shape("SweptSolid", &[solid])?;
    let pds = e.product_shape(shape)?;
    let head = ElementHead {
        placement,
        representation: Some(pds),
        ..head.clone()
    };
    e.element(keyword, &head, |a| {
        if keyword == "IFCGEOGRAPHICELEMENT" {
            a.enumeration("USERDEFINED");
        }
    })
}
