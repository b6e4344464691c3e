//! The district plan: where every building, row, lane and street lies, and each building's
//! parameters — pure data decided from the seed before any IFC is written.
//!
//! Frame: site coordinates in metres, x east along the main street, y north, z up, ground at
//! z = 0. Slab blocks face south; their stairwell entrances, the added lift shafts and the
//! lanes (with the pipes) are on the north side, as in typical 1980s–90s walk-up estates.

use crate::rng::SplitMix64;

/// A plausible northern-Chinese city for the site's reference location.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct City {
    pub(crate) name_zh: &'static str,
    pub(crate) name_en: &'static str,
    /// Degrees, minutes, seconds, millionths of a second (IfcCompoundPlaneAngleMeasure).
    pub(crate) latitude: [i64; 4],
    pub(crate) longitude: [i64; 4],
    pub(crate) elevation: f64,
    /// External wall thickness of the era's brick walls there (m).
    pub(crate) wall_thickness: f64,
}

pub(crate) const CITIES: [City; 4] = [
    City {
        name_zh: "北京",
        name_en: "Beijing",
        latitude: [39, 54, 27, 0],
        longitude: [116, 23, 17, 0],
        elevation: 44.0,
        wall_thickness: 0.37,
    },
    City {
        name_zh: "天津",
        name_en: "Tianjin",
        latitude: [39, 7, 30, 0],
        longitude: [117, 12, 0, 0],
        elevation: 5.0,
        wall_thickness: 0.37,
    },
    City {
        name_zh: "济南",
        name_en: "Jinan",
        latitude: [36, 39, 3, 0],
        longitude: [117, 0, 0, 0],
        elevation: 51.0,
        wall_thickness: 0.37,
    },
    City {
        name_zh: "西安",
        name_en: "Xi'an",
        latitude: [34, 15, 58, 0],
        longitude: [108, 56, 24, 0],
        elevation: 405.0,
        wall_thickness: 0.37,
    },
];

/// An axis-aligned rectangle on the ground.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rect {
    pub(crate) x0: f64,
    pub(crate) y0: f64,
    pub(crate) x1: f64,
    pub(crate) y1: f64,
}

/// One residential slab block.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BuildingPlan {
    /// 1-based building number ("1号楼").
    pub(crate) number: u32,
    pub(crate) row: u32,
    /// South-west corner of the footprint.
    pub(crate) origin: [f64; 2],
    /// Stair units (单元), each with two flats per landing.
    pub(crate) units: u32,
    pub(crate) unit_width: f64,
    pub(crate) depth: f64,
    pub(crate) storeys: u32,
    pub(crate) storey_height: f64,
    pub(crate) year: u32,
    pub(crate) wall_thickness: f64,
    /// Seed of this building's own random stream (details not decided here).
    pub(crate) stream_seed: u64,
}

impl BuildingPlan {
    pub(crate) fn length(&self) -> f64 {
        f64::from(self.units) * self.unit_width
    }

    pub(crate) fn height(&self) -> f64 {
        f64::from(self.storeys) * self.storey_height
    }

    /// x of the stairwell centre of unit `unit` (0-based), building-local.
    pub(crate) fn stair_center(&self, unit: u32) -> f64 {
        (f64::from(unit) + 0.5) * self.unit_width
    }
}

/// One row of blocks with the lane on its north side.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RowPlan {
    pub(crate) index: u32,
    /// y of the north faces of the row's blocks.
    pub(crate) north_face: f64,
    /// The lane (小区路) north of the row, carrying the branch pipes.
    pub(crate) lane: Rect,
    /// y of the lane's centre line.
    pub(crate) lane_center: f64,
}

/// The whole district.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DistrictPlan {
    pub(crate) city: City,
    pub(crate) buildings: Vec<BuildingPlan>,
    pub(crate) rows: Vec<RowPlan>,
    /// The main street south of the first row, its sidewalks, and the cross road on the west.
    pub(crate) street: Rect,
    pub(crate) north_sidewalk: Rect,
    pub(crate) south_sidewalk: Rect,
    pub(crate) cross_road: Rect,
    /// The planned pocket park (口袋公园), east of the first row.
    pub(crate) park: Rect,
    /// Centre of the protected memorial archway (牌坊) over the estate road's entrance.
    pub(crate) archway: [f64; 2],
    /// The estate parcel (用地红线): everything north of the street's north sidewalk that
    /// belongs to the estate — blocks, lift shafts, lanes, estate road, park and archway.
    pub(crate) parcel: Rect,
}

impl Rect {
    /// Planar area (m²).
    pub(crate) fn area(&self) -> f64 {
        (self.x1 - self.x0) * (self.y1 - self.y0)
    }
}

/// Street geometry constants (m).
pub(crate) const STREET_SOUTH: f64 = -22.0;
pub(crate) const STREET_NORTH: f64 = -10.0;
pub(crate) const SIDEWALK_WIDTH: f64 = 4.0;
pub(crate) const CROSS_ROAD_WEST: f64 = -14.0;
pub(crate) const CROSS_ROAD_EAST: f64 = -7.0;
/// Lift shafts stand this far north of the facade; the lane starts beyond them.
pub(crate) const LIFT_DEPTH: f64 = 2.4;
const LANE_OFFSET: f64 = 4.5;
const LANE_WIDTH: f64 = 6.0;
/// The archway stands this far north of the street, between the sidewalk and the first row.
pub(crate) const ARCHWAY_Y: f64 = -4.5;
/// Half the archway's overall width along the street, roofs included (see `heritage`).
pub(crate) const ARCHWAY_HALF_WIDTH: f64 = 8.1;
/// Margin of the parcel's red line around what it holds (m).
const PARCEL_MARGIN: f64 = 4.0;

/// Buildings per row when the config does not say: a roughly square district.
pub(crate) fn auto_per_row(buildings: u32) -> u32 {
    let mut per_row = 3;
    while per_row * per_row < buildings {
        per_row += 1;
    }
    per_row
}

impl DistrictPlan {
    /// Plans `buildings` blocks in rows of `per_row` for `seed`.
    pub(crate) fn new(buildings: u32, per_row: u32, seed: u64) -> Self {
        let per_row = per_row.max(1);
        let mut district_rng = SplitMix64::new(seed, u64::MAX);
        let city = *district_rng.pick(&CITIES);

        // First decide every building's own parameters, independent of placement.
        let mut plans: Vec<BuildingPlan> = (0..buildings)
            .map(|i| {
                let stream_seed = seed ^ (u64::from(i) + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93);
                let mut rng = SplitMix64::new(stream_seed, 1);
                BuildingPlan {
                    number: i + 1,
                    row: i / per_row,
                    origin: [0.0, 0.0],
                    units: *rng.pick(&[2, 3, 3, 3, 4, 4]),
                    unit_width: rng.stepped(12.6, 14.4, 0.3),
                    depth: rng.stepped(9.6, 11.4, 0.3),
                    storeys: *rng.pick(&[5, 6, 6, 6, 7]),
                    storey_height: *rng.pick(&[2.8, 2.9, 2.9, 2.9, 3.0]),
                    year: rng.range_u32(1980, 1998),
                    wall_thickness: city.wall_thickness,
                    stream_seed,
                }
            })
            .collect();

        // Then place rows northwards: the next row's south faces keep a daylight spacing of
        // 1.2 × the tallest block of the row in front (and at least room for lift and lane).
        let mut rows = Vec::new();
        let mut south_limit = 0.0_f64;
        let mut row_start = 0usize;
        while row_start < plans.len() {
            let row_end = (row_start + per_row as usize).min(plans.len());
            let row_plans = &mut plans[row_start..row_end];
            let max_depth = row_plans.iter().map(|b| b.depth).fold(0.0, f64::max);
            let max_height = row_plans
                .iter()
                .map(BuildingPlan::height)
                .fold(0.0, f64::max);
            let north_face = south_limit + max_depth;
            let mut x = 0.0;
            for plan in row_plans.iter_mut() {
                let mut rng = SplitMix64::new(plan.stream_seed, 2);
                plan.origin = [x, north_face - plan.depth];
                x += plan.length() + rng.stepped(8.0, 14.0, 1.0);
            }
            let index = rows.len() as u32;
            let lane = Rect {
                x0: CROSS_ROAD_EAST,
                y0: north_face + LANE_OFFSET,
                x1: x,
                y1: north_face + LANE_OFFSET + LANE_WIDTH,
            };
            rows.push(RowPlan {
                index,
                north_face,
                lane,
                lane_center: (lane.y0 + lane.y1) / 2.0,
            });
            let spacing = (1.2 * max_height).max(LIFT_DEPTH + LANE_OFFSET + LANE_WIDTH + 6.0);
            south_limit = (north_face + spacing).ceil();
            row_start = row_end;
        }

        let first_row_end = rows.first().map_or(0.0, |r| r.lane.x1);
        let park = Rect {
            x0: first_row_end + 2.0,
            y0: 0.0,
            x1: first_row_end + 26.0,
            y1: 18.0,
        };
        let east_end = rows.iter().map(|r| r.lane.x1).fold(park.x1, f64::max) + 12.0;
        let west_end = CROSS_ROAD_WEST - 16.0;
        let street = Rect {
            x0: west_end,
            y0: STREET_SOUTH,
            x1: east_end,
            y1: STREET_NORTH,
        };
        let north_sidewalk = Rect {
            x0: west_end,
            y0: STREET_NORTH,
            x1: east_end,
            y1: STREET_NORTH + SIDEWALK_WIDTH,
        };
        let south_sidewalk = Rect {
            x0: west_end,
            y0: STREET_SOUTH - SIDEWALK_WIDTH,
            x1: east_end,
            y1: STREET_SOUTH,
        };
        let north_end = rows.last().map_or(0.0, |r| r.lane.y1);
        let archway = [(CROSS_ROAD_WEST + CROSS_ROAD_EAST) / 2.0, ARCHWAY_Y];
        let parcel = Rect {
            x0: (archway[0] - ARCHWAY_HALF_WIDTH).min(CROSS_ROAD_WEST) - PARCEL_MARGIN,
            y0: STREET_NORTH + SIDEWALK_WIDTH,
            x1: rows.iter().map(|r| r.lane.x1).fold(park.x1, f64::max) + PARCEL_MARGIN,
            y1: north_end.max(park.y1) + PARCEL_MARGIN,
        };
        let cross_road = Rect {
            x0: CROSS_ROAD_WEST,
            y0: STREET_NORTH + SIDEWALK_WIDTH,
            x1: CROSS_ROAD_EAST,
            y1: north_end,
        };
        Self {
            city,
            buildings: plans,
            rows,
            street,
            north_sidewalk,
            south_sidewalk,
            cross_road,
            park,
            archway,
            parcel,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlaps(a: &BuildingPlan, b: &BuildingPlan) -> bool {
        let (ax1, ay1) = (a.origin[0] + a.length(), a.origin[1] + a.depth + LIFT_DEPTH);
        let (bx1, by1) = (b.origin[0] + b.length(), b.origin[1] + b.depth + LIFT_DEPTH);
        a.origin[0] < bx1 && b.origin[0] < ax1 && a.origin[1] < by1 && b.origin[1] < ay1
    }

    #[test]
    fn buildings_have_five_to_seven_storeys_and_plausible_years() {
        let plan = DistrictPlan::new(300, 12, 9);
        assert_eq!(plan.buildings.len(), 300);
        for b in &plan.buildings {
            assert!((5..=7).contains(&b.storeys), "{b:?}");
            assert!((1980..=1998).contains(&b.year));
            assert!((2..=4).contains(&b.units));
        }
        let storeys: std::collections::BTreeSet<u32> =
            plan.buildings.iter().map(|b| b.storeys).collect();
        assert_eq!(
            storeys.len(),
            3,
            "all of 5, 6 and 7 storeys occur in a large district"
        );
    }

    #[test]
    fn footprints_and_lift_shafts_never_overlap_and_clear_the_street_and_lanes() {
        let plan = DistrictPlan::new(60, 7, 3);
        for (i, a) in plan.buildings.iter().enumerate() {
            assert!(
                a.origin[1] >= 0.0 && a.origin[0] >= 0.0,
                "north of the street, east of the cross road"
            );
            for b in &plan.buildings[i + 1..] {
                assert!(!overlaps(a, b), "{} and {} overlap", a.number, b.number);
            }
            let row = &plan.rows[a.row as usize];
            assert!(a.origin[1] + a.depth + LIFT_DEPTH < row.lane.y0);
            assert!(a.origin[0] + a.length() < row.lane.x1);
        }
        for pair in plan.rows.windows(2) {
            assert!(
                pair[0].lane.y1 < pair[1].north_face - 11.4,
                "lane clears the next row"
            );
        }
    }

    fn inside(r: &Rect, x0: f64, y0: f64, x1: f64, y1: f64) -> bool {
        r.x0 <= x0 && r.y0 <= y0 && x1 <= r.x1 && y1 <= r.y1
    }

    #[test]
    fn the_parcel_holds_every_block_lane_park_and_the_archway() {
        for (buildings, per_row) in [(0, 3), (1, 3), (6, 3), (60, 7), (9, 1)] {
            let plan = DistrictPlan::new(buildings, per_row, 5);
            let p = plan.parcel;
            for b in &plan.buildings {
                let (x0, y0) = (b.origin[0], b.origin[1]);
                assert!(inside(
                    &p,
                    x0,
                    y0,
                    x0 + b.length(),
                    y0 + b.depth + LIFT_DEPTH
                ));
            }
            for row in &plan.rows {
                let l = row.lane;
                assert!(inside(&p, l.x0, l.y0, l.x1, l.y1));
            }
            let k = plan.park;
            assert!(inside(&p, k.x0, k.y0, k.x1, k.y1));
            let [ax, ay] = plan.archway;
            assert!(inside(
                &p,
                ax - ARCHWAY_HALF_WIDTH,
                ay - 1.0,
                ax + ARCHWAY_HALF_WIDTH,
                ay + 1.0
            ));
            assert!(
                p.y0 >= plan.north_sidewalk.y1,
                "the street is not estate land"
            );
            let footprints: f64 = plan.buildings.iter().map(|b| b.length() * b.depth).sum();
            assert!(p.area() > footprints + k.area());
        }
    }

    #[test]
    fn the_archway_clears_the_first_row_and_spans_the_estate_road() {
        for seed in [0, 1, 2, 3] {
            let plan = DistrictPlan::new(6, 3, seed);
            let [ax, ay] = plan.archway;
            assert!(ax - 4.0 < plan.cross_road.x0 && plan.cross_road.x1 < ax + 4.0);
            assert!(ay - 1.0 > plan.north_sidewalk.y1);
            for b in &plan.buildings {
                assert!(ay + 1.0 < b.origin[1] || ax + ARCHWAY_HALF_WIDTH < b.origin[0]);
            }
        }
    }

    #[test]
    fn auto_rows_make_a_roughly_square_district() {
        assert_eq!(auto_per_row(6), 3);
        assert_eq!(auto_per_row(200), 15);
    }
}
