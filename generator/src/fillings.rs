//! Window and door types: one IfcWindowType/IfcDoorType each, carrying the single shared
//! IfcRepresentationMap every occurrence instances through an IfcMappedItem, the shared
//! opening body, and the occurrence list that becomes the type's IfcRelDefinesByType.
//!
//! Frame of a filling and of its opening: x along the wall from the opening's left edge,
//! y through the wall (0 = the wall placement's face, wall thickness `t`), z up from the sill.

use crate::kit::{Aabb, Emitter};
use crate::step::Id;
use std::io::{self, Write};

/// The window/door types of the estate (codes as on Chinese drawings: C = 窗, M = 门,
/// then width and height in decimetres).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum FillingKind {
    /// 1.5 × 1.5 m south window of living rooms and bedrooms.
    C1515,
    /// 1.2 × 1.5 m north bedroom and stairwell window.
    C1215,
    /// 0.9 × 1.5 m kitchen window.
    C0915,
    /// 1.0 × 2.1 m stair-unit entrance door (单元门).
    M1021,
}

impl FillingKind {
    pub(crate) const ALL: [Self; 4] = [Self::C1515, Self::C1215, Self::C0915, Self::M1021];

    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::C1515 => "C1515",
            Self::C1215 => "C1215",
            Self::C0915 => "C0915",
            Self::M1021 => "M1021",
        }
    }

    /// (width, height) in metres.
    pub(crate) fn size(self) -> (f64, f64) {
        match self {
            Self::C1515 => (1.5, 1.5),
            Self::C1215 => (1.2, 1.5),
            Self::C0915 => (0.9, 1.5),
            Self::M1021 => (1.0, 2.1),
        }
    }

    pub(crate) fn is_door(self) -> bool {
        self == Self::M1021
    }

    /// Sill height above the storey's floor.
    pub(crate) fn sill(self) -> f64 {
        if self.is_door() { 0.0 } else { 0.9 }
    }

    fn partitioning(self) -> &'static str {
        match self {
            Self::C1515 | Self::C1215 => "DOUBLE_PANEL_VERTICAL",
            Self::C0915 | Self::M1021 => "SINGLE_PANEL",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One filling type as written.
#[derive(Debug)]
pub(crate) struct FillingType {
    type_object: Id,
    /// Body shape of one mapped item of the type's map, shared by every occurrence.
    pub(crate) mapped_shape: Id,
    /// Body shape of the opening that receives this filling, shared by every opening.
    pub(crate) opening_shape: Id,
    occurrences: Vec<Id>,
}

/// All filling types of the file.
#[derive(Debug)]
pub(crate) struct FillingTypes {
    types: Vec<FillingType>,
}

const FRAME: f64 = 0.06;
const FRAME_DEPTH: f64 = 0.08;

impl FillingTypes {
    /// Writes the types, their representation maps and opening bodies for walls `t` thick.
    pub(crate) fn write<W: Write>(e: &mut Emitter<W>, t: f64) -> io::Result<Self> {
        let mut types = Vec::new();
        for kind in FillingKind::ALL {
            let (w, h) = kind.size();
            let mid = t / 2.0;
            let frame_y = (mid - FRAME_DEPTH / 2.0, mid + FRAME_DEPTH / 2.0);
            let bar = |x0: f64, x1: f64, z0: f64, z1: f64| {
                Aabb::new([x0, frame_y.0, z0], [x1, frame_y.1, z1])
            };
            let mut boxes = vec![
                bar(0.0, FRAME, 0.0, h),
                bar(w - FRAME, w, 0.0, h),
                bar(FRAME, w - FRAME, h - FRAME, h),
            ];
            if kind.is_door() {
                // Steel door leaf.
                boxes.push(Aabb::new(
                    [FRAME, mid - 0.025, 0.0],
                    [w - FRAME, mid + 0.025, h - FRAME],
                ));
            } else {
                boxes.push(bar(FRAME, w - FRAME, 0.0, FRAME));
                if w >= 1.2 {
                    boxes.push(bar(
                        w / 2.0 - FRAME / 2.0,
                        w / 2.0 + FRAME / 2.0,
                        FRAME,
                        h - FRAME,
                    ));
                }
                // Glazing.
                boxes.push(Aabb::new(
                    [FRAME, mid - 0.005, FRAME],
                    [w - FRAME, mid + 0.005, h - FRAME],
                ));
            }
            let mut items = Vec::with_capacity(boxes.len());
            for b in boxes {
                items.push(e.box_solid(b)?);
            }
            let map = e.representation_map(&items)?;
            let name = if kind.is_door() {
                format!("{} 单元门 unit entrance door", kind.code())
            } else {
                format!("{} 钢窗 steel window", kind.code())
            };
            let type_object = if kind.is_door() {
                e.w.entity("IFCDOORTYPE", |a| {
                    a.guid()
                        .null()
                        .str(&name)
                        .null()
                        .null()
                        .null()
                        .ids(&[map])
                        .str(kind.code())
                        .str("Steel security door");
                    a.enumeration("DOOR")
                        .enumeration("SINGLE_SWING_LEFT")
                        .boolean(false)
                        .null();
                })?
            } else {
                e.w.entity("IFCWINDOWTYPE", |a| {
                    a.guid()
                        .null()
                        .str(&name)
                        .null()
                        .null()
                        .null()
                        .ids(&[map])
                        .str(kind.code())
                        .str("Steel-framed single-glazed window");
                    a.enumeration("WINDOW")
                        .enumeration(kind.partitioning())
                        .boolean(false)
                        .null();
                })?
            };
            let op = e.identity_op;
            let item = e.w.entity("IFCMAPPEDITEM", |a| {
                a.id(map).id(op);
            })?;
            let mapped_shape = e.body_shape("MappedRepresentation", &[item])?;
            // The opening reaches 5 cm past both wall faces so the cut is clean.
            let opening_solid = e.box_solid(Aabb::new([0.0, -0.05, 0.0], [w, t + 0.05, h]))?;
            let opening_shape = e.body_shape("SweptSolid", &[opening_solid])?;
            types.push(FillingType {
                type_object,
                mapped_shape,
                opening_shape,
                occurrences: Vec::new(),
            });
        }
        Ok(Self { types })
    }

    pub(crate) fn get(&self, kind: FillingKind) -> &FillingType {
        &self.types[kind.index()]
    }

    /// Writes one occurrence (IfcWindow or IfcDoor) with the given head attributes.
    pub(crate) fn occurrence<W: Write>(
        &mut self,
        e: &mut Emitter<W>,
        kind: FillingKind,
        head: &crate::kit::ElementHead<'_>,
    ) -> io::Result<Id> {
        let (w, h) = kind.size();
        let id = if kind.is_door() {
            e.counts.doors += 1;
            e.element("IFCDOOR", head, |a| {
                a.real(h)
                    .real(w)
                    .enumeration("DOOR")
                    .enumeration("SINGLE_SWING_LEFT")
                    .null();
            })?
        } else {
            e.counts.windows += 1;
            e.element("IFCWINDOW", head, |a| {
                a.real(h)
                    .real(w)
                    .enumeration("WINDOW")
                    .enumeration(kind.partitioning())
                    .null();
            })?
        };
        self.types[kind.index()].occurrences.push(id);
        Ok(id)
    }

    /// Relates every occurrence to its type (one IfcRelDefinesByType per type).
    pub(crate) fn finish<W: Write>(self, e: &mut Emitter<W>) -> io::Result<()> {
        for t in self.types {
            if t.occurrences.is_empty() {
                continue;
            }
            e.w.entity("IFCRELDEFINESBYTYPE", |a| {
                a.guid()
                    .null()
                    .null()
                    .null()
                    .ids(&t.occurrences)
                    .id(t.type_object);
            })?;
        }
        Ok(())
    }
}
