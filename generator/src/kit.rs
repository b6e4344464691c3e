//! The emitter shared by all product writers: the STEP writer, the file-wide geometric
//! resources (contexts, directions, identity placements, cached profiles) and the running
//! counts, with helpers for the few geometry patterns the district uses.

use crate::DistrictSummary;
use crate::step::{Args, Id, StepWriter};
use std::collections::BTreeMap;
use std::io::{self, Write};

/// An axis direction shared file-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    X,
    Y,
    Z,
    NegX,
    NegY,
}

/// An axis-aligned box in some local frame, `min` and `max` corners in metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Aabb {
    pub(crate) min: [f64; 3],
    pub(crate) max: [f64; 3],
}

impl Aabb {
    pub(crate) fn new(min: [f64; 3], max: [f64; 3]) -> Self {
        Self { min, max }
    }

    pub(crate) fn size(&self) -> [f64; 3] {
        [
            self.max[0] - self.min[0],
            self.max[1] - self.min[1],
            self.max[2] - self.min[2],
        ]
    }
}

/// A property's value, written as the matching IFC defined type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Label(String),
    Integer(i64),
    Boolean(bool),
    Length(f64),
    PositiveLength(f64),
    Area(f64),
    ThermalTransmittance(f64),
    Mass(f64),
    Count(i64),
    PositiveRatio(f64),
}

impl Value {
    pub(crate) fn label(text: impl Into<String>) -> Self {
        Self::Label(text.into())
    }

    fn write(&self, a: &mut Args<'_>) {
        use crate::step::{push_quoted, push_real};
        use std::fmt::Write as _;
        match self {
            Self::Label(s) => a.typed("IFCLABEL", |b| push_quoted(b, s)),
            Self::Integer(v) => a.typed("IFCINTEGER", |b| {
                let _ = write!(b, "{v}");
            }),
            Self::Count(v) => a.typed("IFCCOUNTMEASURE", |b| {
                let _ = write!(b, "{v}");
            }),
            Self::Boolean(v) => {
                a.typed("IFCBOOLEAN", |b| b.push_str(if *v { ".T." } else { ".F." }))
            }
            Self::Length(v) => a.typed("IFCLENGTHMEASURE", |b| push_real(b, *v)),
            Self::PositiveLength(v) => a.typed("IFCPOSITIVELENGTHMEASURE", |b| push_real(b, *v)),
            Self::Area(v) => a.typed("IFCAREAMEASURE", |b| push_real(b, *v)),
            Self::ThermalTransmittance(v) => {
                a.typed("IFCTHERMALTRANSMITTANCEMEASURE", |b| push_real(b, *v))
            }
            Self::Mass(v) => a.typed("IFCMASSMEASURE", |b| push_real(b, *v)),
            Self::PositiveRatio(v) => a.typed("IFCPOSITIVERATIOMEASURE", |b| push_real(b, *v)),
        };
    }
}

/// The first eight attributes every `IfcElement` subtype shares (OwnerHistory is `$`).
#[derive(Debug, Clone)]
pub(crate) struct ElementHead<'a> {
    pub(crate) name: &'a str,
    pub(crate) description: Option<&'a str>,
    pub(crate) object_type: Option<&'a str>,
    pub(crate) placement: Id,
    pub(crate) representation: Option<Id>,
    pub(crate) tag: Option<&'a str>,
}

/// Everything a product writer needs: output, shared resources, counts.
#[derive(Debug)]
pub(crate) struct Emitter<W: Write> {
    pub(crate) w: StepWriter<W>,
    pub(crate) counts: DistrictSummary,
    /// The 'Body' subcontext of the 'Model' context.
    pub(crate) body: Id,
    /// IfcAxis2Placement3D at the origin with default axes.
    pub(crate) identity: Id,
    /// Identity IfcCartesianTransformationOperator3D for mapped items.
    pub(crate) identity_op: Id,
    dirs: [Id; 5],
    rect_profiles: BTreeMap<(i64, i64), Id>,
}

/// Micrometre key of a length, for caching shared geometry by size.
pub(crate) fn key(v: f64) -> i64 {
    (v * 1e6).round() as i64
}

impl<W: Write> Emitter<W> {
    /// Writes the file-wide resources (model context and Body subcontext, directions,
    /// identity placement) and returns the emitter with the ids of the contexts.
    pub(crate) fn new(mut w: StepWriter<W>) -> io::Result<(Self, Id)> {
        let origin = w.entity("IFCCARTESIANPOINT", |a| {
            a.reals(&[0.0, 0.0, 0.0]);
        })?;
        let mut dir = |v: [f64; 3]| {
            w.entity("IFCDIRECTION", |a| {
                a.reals(&v);
            })
        };
        let dirs = [
            dir([1.0, 0.0, 0.0])?,
            dir([0.0, 1.0, 0.0])?,
            dir([0.0, 0.0, 1.0])?,
            dir([-1.0, 0.0, 0.0])?,
            dir([0.0, -1.0, 0.0])?,
        ];
        let identity = w.entity("IFCAXIS2PLACEMENT3D", |a| {
            a.id(origin).null().null();
        })?;
        let true_north = w.entity("IFCDIRECTION", |a| {
            a.reals(&[0.0, 1.0]);
        })?;
        let model = w.entity("IFCGEOMETRICREPRESENTATIONCONTEXT", |a| {
            a.null()
                .str("Model")
                .int(3)
                .real(1.0e-5)
                .id(identity)
                .id(true_north);
        })?;
        let body = w.entity("IFCGEOMETRICREPRESENTATIONSUBCONTEXT", |a| {
            a.str("Body")
                .str("Model")
                .derived()
                .derived()
                .derived()
                .derived()
                .id(model)
                .null()
                .enumeration("MODEL_VIEW")
                .null();
        })?;
        let identity_op = w.entity("IFCCARTESIANTRANSFORMATIONOPERATOR3D", |a| {
            a.id(dirs[0]).id(dirs[1]).id(origin).real(1.0).id(dirs[2]);
        })?;
        let emitter = Self {
            w,
            counts: DistrictSummary::default(),
            body,
            identity,
            identity_op,
            dirs,
            rect_profiles: BTreeMap::new(),
        };
        Ok((emitter, model))
    }

    pub(crate) fn dir(&self, dir: Dir) -> Id {
        match dir {
            Dir::X => self.dirs[0],
            Dir::Y => self.dirs[1],
            Dir::Z => self.dirs[2],
            Dir::NegX => self.dirs[3],
            Dir::NegY => self.dirs[4],
        }
    }

    pub(crate) fn point3(&mut self, p: [f64; 3]) -> io::Result<Id> {
        self.w.entity("IFCCARTESIANPOINT", |a| {
            a.reals(&p);
        })
    }

    /// An IfcAxis2Placement3D at `origin` with default axes.
    pub(crate) fn a2p(&mut self, origin: [f64; 3]) -> io::Result<Id> {
        if origin == [0.0; 3] {
            return Ok(self.identity);
        }
        let point = self.point3(origin)?;
        self.w.entity("IFCAXIS2PLACEMENT3D", |a| {
            a.id(point).null().null();
        })
    }

    /// An IfcAxis2Placement3D at `origin` whose Z axis is `axis` and X axis `ref_dir`.
    pub(crate) fn a2p_oriented(
        &mut self,
        origin: [f64; 3],
        axis: Dir,
        ref_dir: Dir,
    ) -> io::Result<Id> {
        let point = self.point3(origin)?;
        let (axis, ref_dir) = (self.dir(axis), self.dir(ref_dir));
        self.w.entity("IFCAXIS2PLACEMENT3D", |a| {
            a.id(point).id(axis).id(ref_dir);
        })
    }

    /// An IfcLocalPlacement relative to `relative_to` (absolute when `None`).
    pub(crate) fn placement(&mut self, relative_to: Option<Id>, a2p: Id) -> io::Result<Id> {
        self.w.entity("IFCLOCALPLACEMENT", |a| {
            a.opt_id(relative_to).id(a2p);
        })
    }

    /// A centred IfcRectangleProfileDef, shared file-wide by size.
    pub(crate) fn rect_profile(&mut self, x: f64, y: f64) -> io::Result<Id> {
        let k = (key(x), key(y));
        if let Some(&id) = self.rect_profiles.get(&k) {
            return Ok(id);
        }
        let id = self.w.entity("IFCRECTANGLEPROFILEDEF", |a| {
            a.enumeration("AREA").null().null().real(x).real(y);
        })?;
        self.rect_profiles.insert(k, id);
        Ok(id)
    }

    /// An IfcExtrudedAreaSolid filling `bounds` (rectangle extruded upwards).
    pub(crate) fn box_solid(&mut self, bounds: Aabb) -> io::Result<Id> {
        let [dx, dy, dz] = bounds.size();
        let profile = self.rect_profile(dx, dy)?;
        let position = self.a2p([
            (bounds.min[0] + bounds.max[0]) / 2.0,
            (bounds.min[1] + bounds.max[1]) / 2.0,
            bounds.min[2],
        ])?;
        self.extrude(profile, position, dz)
    }

    /// An IfcExtrudedAreaSolid of `profile` placed at `position`, extruded `depth` along local Z.
    pub(crate) fn extrude(&mut self, profile: Id, position: Id, depth: f64) -> io::Result<Id> {
        let z = self.dir(Dir::Z);
        self.w.entity("IFCEXTRUDEDAREASOLID", |a| {
            a.id(profile).id(position).id(z).real(depth);
        })
    }

    /// An IfcArbitraryClosedProfileDef over a closed IfcPolyline through `points` (the first
    /// point is repeated at the end, as IFC requires for a closed polyline).
    pub(crate) fn polygon_profile(&mut self, name: &str, points: &[[f64; 2]]) -> io::Result<Id> {
        let mut ids = Vec::with_capacity(points.len() + 1);
        for p in points {
            ids.push(self.w.entity("IFCCARTESIANPOINT", |a| {
                a.reals(p);
            })?);
        }
        if let Some(&first) = ids.first() {
            ids.push(first);
        }
        let polyline = self.w.entity("IFCPOLYLINE", |a| {
            a.ids(&ids);
        })?;
        self.w.entity("IFCARBITRARYCLOSEDPROFILEDEF", |a| {
            a.enumeration("AREA").str(name).id(polyline);
        })
    }

    /// A 'Body' IfcShapeRepresentation of `items` of the given type ('SweptSolid', …).
    pub(crate) fn body_shape(&mut self, kind: &str, items: &[Id]) -> io::Result<Id> {
        let body = self.body;
        self.w.entity("IFCSHAPEREPRESENTATION", |a| {
            a.id(body).str("Body").str(kind).ids(items);
        })
    }

    /// An IfcProductDefinitionShape holding one shape representation.
    pub(crate) fn product_shape(&mut self, shape: Id) -> io::Result<Id> {
        self.w.entity("IFCPRODUCTDEFINITIONSHAPE", |a| {
            a.null().null().ids(&[shape]);
        })
    }

    /// An IfcRepresentationMap of swept solids, origin at the identity placement.
    pub(crate) fn representation_map(&mut self, items: &[Id]) -> io::Result<Id> {
        let shape = self.body_shape("SweptSolid", items)?;
        let origin = self.identity;
        self.w.entity("IFCREPRESENTATIONMAP", |a| {
            a.id(origin).id(shape);
        })
    }

    /// An `IfcElement` subtype: the eight shared attributes then `tail` for the subtype's own.
    pub(crate) fn element(
        &mut self,
        keyword: &str,
        head: &ElementHead<'_>,
        tail: impl FnOnce(&mut Args<'_>),
    ) -> io::Result<Id> {
        self.w.entity(keyword, |a| {
            a.guid()
                .null()
                .str(head.name)
                .opt_str(head.description)
                .opt_str(head.object_type)
                .id(head.placement)
                .opt_id(head.representation)
                .opt_str(head.tag);
            tail(a);
        })
    }

    /// An IfcPropertySet of single values, related to `objects` by one
    /// IfcRelDefinesByProperties. Writes nothing when `objects` is empty.
    pub(crate) fn pset(
        &mut self,
        objects: &[Id],
        name: &str,
        properties: &[(&str, Value)],
    ) -> io::Result<()> {
        if objects.is_empty() {
            return Ok(());
        }
        let mut ids = Vec::with_capacity(properties.len());
        for (prop, value) in properties {
            ids.push(self.w.entity("IFCPROPERTYSINGLEVALUE", |a| {
                a.str(prop).null();
                value.write(a);
                a.null();
            })?);
        }
        let set = self.w.entity("IFCPROPERTYSET", |a| {
            a.guid().null().str(name).null().ids(&ids);
        })?;
        self.w.entity("IFCRELDEFINESBYPROPERTIES", |a| {
            a.guid().null().null().null().ids(objects).id(set);
        })?;
        Ok(())
    }

    /// IfcRelContainedInSpatialStructure of `elements` in `structure` (nothing if empty).
    pub(crate) fn contain(&mut self, structure: Id, elements: &[Id]) -> io::Result<()> {
        if elements.is_empty() {
            return Ok(());
        }
        self.w.entity("IFCRELCONTAINEDINSPATIALSTRUCTURE", |a| {
            a.guid().null().null().null().ids(elements).id(structure);
        })?;
        Ok(())
    }

    /// IfcRelAggregates of `parts` into `whole` (nothing if empty).
    pub(crate) fn aggregate(&mut self, whole: Id, parts: &[Id]) -> io::Result<()> {
        if parts.is_empty() {
            return Ok(());
        }
        self.w.entity("IFCRELAGGREGATES", |a| {
            a.guid().null().null().null().id(whole).ids(parts);
        })?;
        Ok(())
    }

    /// An IfcOpeningElement voiding `host`, with RelVoids; returns the opening.
    pub(crate) fn opening(&mut self, host: Id, head: &ElementHead<'_>) -> io::Result<Id> {
        let opening = self.element("IFCOPENINGELEMENT", head, |a| {
            a.enumeration("OPENING");
        })?;
        self.w.entity("IFCRELVOIDSELEMENT", |a| {
            a.guid().null().null().null().id(host).id(opening);
        })?;
        self.counts.openings += 1;
        Ok(opening)
    }

    /// IfcRelFillsElement of `filling` into `opening`.
    pub(crate) fn fill(&mut self, opening: Id, filling: Id) -> io::Result<()> {
        self.w.entity("IFCRELFILLSELEMENT", |a| {
            a.guid().null().null().null().id(opening).id(filling);
        })?;
        Ok(())
    }
}
