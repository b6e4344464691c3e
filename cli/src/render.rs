//! `renewtwin render`: the browser viewer's picture of a scene on a date, drawn natively and
//! off-screen into a PNG (exhibition posters, golden-image tests without a browser).
//!
//! The engine prepares exactly what a browser would receive — the `Scene` header, the encoded
//! `Meshes` batches of [`SceneStatic`] decoded again, `SceneComplete` — plus the element states
//! of the day (what `/api/states` answers), an optional colour layer (what
//! `/api/viewer/layer` answers) and a `[[viewpoints]]` camera, and hands them to the web
//! viewer's [`OffscreenViewer`], which draws them with the viewer's own renderer. Nothing
//! here is linked into `serve`'s request path; a build with `--no-default-features` leaves it
//! out entirely.

use renewtwin_protocol::{CivilDate, LifecycleState, SceneHeader, ServerMsg, SimDay};
pub use renewtwin_render::offscreen::{
    AdapterSummary, CameraSpec, ColourLayer, Image, OffscreenError, OffscreenViewer,
};

use renewtwin_twin::layers;
use renewtwin_twin::renewal::LoadedScene;
use renewtwin_twin::wire::SceneStatic;

/// What elements are coloured by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColourBy {
    /// Lifecycle state (existing, under construction, renewed, …), as the viewer starts.
    #[default]
    Lifecycle,
    /// The project phase running on the day (survey … operation).
    Phase,
    /// Structural risk grade and heritage protection.
    Risk,
}

impl ColourBy {
    /// The names `--colour` accepts.
    pub const NAMES: [&'static str; 3] = ["lifecycle", "phase", "risk"];

    /// Parses one of [`ColourBy::NAMES`].
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "lifecycle" => Some(Self::Lifecycle),
            "phase" => Some(Self::Phase),
            "risk" => Some(Self::Risk),
            _ => None,
        }
    }
}

/// One picture to take.
#[derive(Debug, Clone, PartialEq)]
pub struct Shot {
    /// A `[[viewpoints]]` name of the scene; `None` frames the whole scene.
    pub viewpoint: Option<String>,
    /// The day shown; `None`: the plan's first day.
    pub date: Option<CivilDate>,
    /// Colouring.
    pub colour: ColourBy,
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
    /// Draw feature edges (the viewer's default).
    pub edges: bool,
}

impl Default for Shot {
    fn default() -> Self {
        Self {
            viewpoint: None,
            date: None,
            colour: ColourBy::Lifecycle,
            width: 1920,
            height: 1080,
            edges: true,
        }
    }
}

/// Why a picture could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The viewpoint is not in the scene.
    #[error("the scene has no viewpoint {name:?}; its viewpoints are: {}", if available.is_empty() { "(none: add [[viewpoints]] to scene.toml)".to_owned() } else { available.join(", ") })]
    UnknownViewpoint {
        /// The name asked for.
        name: String,
        /// The scene's viewpoint names, in file order.
        available: Vec<String>,
    },
    /// The scene could not be encoded as the browser would receive it.
    #[error("cannot encode the scene: {0}")]
    Wire(#[from] renewtwin_protocol::WireError),
    /// The off-screen renderer failed (no adapter, size, GPU error).
    #[error(transparent)]
    Offscreen(#[from] OffscreenError),
}

/// The result of [`SceneRenderer::render`].
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The picture.
    pub image: Image,
    /// The day shown.
    pub day: i32,
    /// Its date.
    pub date: CivilDate,
}

/// A loaded scene uploaded once to an off-screen viewer; each [`SceneRenderer::render`] takes
/// a picture of it.
#[derive(Debug)]
pub struct SceneRenderer {
    loaded: LoadedScene,
    viewer: OffscreenViewer,
}

/// The camera of viewpoint `name` in `loaded` (`None`: the whole scene).
pub fn camera_of(loaded: &LoadedScene, name: Option<&str>) -> Result<CameraSpec, RenderError> {
    let Some(name) = name else {
        return Ok(CameraSpec::Fit);
    };
    let viewpoints = &loaded.manifest.viewpoints;
    viewpoints
        .iter()
        .find(|v| v.name == name)
        .map(|v| CameraSpec::Look {
            eye: v.eye,
            target: v.target,
        })
        .ok_or_else(|| RenderError::UnknownViewpoint {
            name: name.to_owned(),
            available: viewpoints.iter().map(|v| v.name.clone()).collect(),
        })
}

impl SceneRenderer {
    /// Finds an adapter and sends it the scene as the server streams it.
    pub fn new(loaded: LoadedScene) -> Result<Self, RenderError> {
        let mut viewer = OffscreenViewer::new()?;
        let wire = SceneStatic::build(&loaded)?;
        let start = loaded.manifest.start;
        let header = SceneHeader {
            name: wire.name.clone(),
            bbox: wire.bbox,
            plan_start: start,
            day: SimDay(0),
            date: start,
            plan_end: SimDay(wire.plan_end),
            elements: wire.elements.as_ref().clone(),
            phases: Vec::new(),
            mesh_count: wire.mesh_count,
            triangle_count: wire.triangle_count,
            seq: 0,
            scene_hash: wire.scene_hash,
            batches: wire.mesh_frames.len() as u32,
            scene_bytes: wire.scene_bytes,
        };
        viewer.receive(ServerMsg::Scene(header))?;
        for frame in &wire.mesh_frames {
            viewer.receive(renewtwin_protocol::decode::<ServerMsg>(frame)?)?;
        }
        viewer.receive(ServerMsg::SceneComplete)?;
        tracing::info!(adapter = %viewer.adapter(), triangles = viewer.triangles(), "scene uploaded off-screen");
        Ok(Self { loaded, viewer })
    }

    /// The adapter drawing.
    pub fn adapter(&self) -> &AdapterSummary {
        self.viewer.adapter()
    }

    /// The scene.
    pub fn scene(&self) -> &LoadedScene {
        &self.loaded
    }

    /// Takes one picture.
    pub fn render(&mut self, shot: &Shot) -> Result<Rendered, RenderError> {
        let camera = camera_of(&self.loaded, shot.viewpoint.as_deref())?;
        let start = self.loaded.manifest.start;
        let date = shot.date.unwrap_or(start);
        let day = (date.days_since_epoch() - start.days_since_epoch())
            .clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        let plan = &self.loaded.plan;
        let states: Vec<LifecycleState> = plan.schedules.iter().map(|s| s.state_on(day)).collect();
        self.viewer.set_states(Some(states))?;
        let layer = match shot.colour {
            ColourBy::Lifecycle => None,
            ColourBy::Phase => Some(layers::phase_layer(
                &self.loaded.manifest,
                &self.loaded.model,
                plan,
                day,
            )),
            ColourBy::Risk => Some(layers::risk_layer(&self.loaded.model, plan, day)),
        };
        self.viewer.set_layer(layer.map(|l| ColourLayer {
            palette: l.legend.iter().map(|e| e.rgb).collect(),
            values: l.values,
        }));
        self.viewer.set_edges(shot.edges);
        self.viewer.set_camera(camera);
        let image = self.viewer.render(shot.width, shot.height)?;
        Ok(Rendered { image, day, date })
    }
}
