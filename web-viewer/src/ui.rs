//! The HTML overlay: date, phases, legend, link status, backend and the element panel.
//!
//! The markup lives in `static/index.html`; this module only fills it in. Text from the
//! server (names, storeys) is set as text, never as HTML. Chinese comes first, English second.

use renewtwin_protocol::{CivilDate, ElementInfo, LifecycleState, PhaseStatus, SimDay};
use renewtwin_render::render::Backend;
use renewtwin_render::scene::{Scene, Visibility};
use web_sys::{Document, Element};

use crate::error::ViewerError;
use crate::viewer::LinkStatus;

/// Handles on the overlay's elements.
#[derive(Debug)]
pub(crate) struct Ui {
    document: Document,
    date: Element,
    day: Element,
    phases: Element,
    status: Element,
    backend: Element,
    scene_name: Element,
    error: Element,
    info: Element,
    info_fields: [Element; 6],
}

fn by_id(document: &Document, id: &'static str) -> Result<Element, ViewerError> {
    document.get_element_by_id(id).ok_or(ViewerError::MissingElement(id))
}

impl Ui {
    /// Finds the overlay's elements and fills in the legend.
    pub fn new(document: Document) -> Result<Self, ViewerError> {
        let ui = Self {
            date: by_id(&document, "date")?,
            day: by_id(&document, "day")?,
            phases: by_id(&document, "phases")?,
            status: by_id(&document, "status")?,
            backend: by_id(&document, "backend")?,
            scene_name: by_id(&document, "scene-name")?,
            error: by_id(&document, "error")?,
            info: by_id(&document, "info")?,
            info_fields: [
                by_id(&document, "info-class")?,
                by_id(&document, "info-name")?,
                by_id(&document, "info-global-id")?,
                by_id(&document, "info-storey")?,
                by_id(&document, "info-state")?,
                by_id(&document, "info-id")?,
            ],
            document,
        };
        ui.build_legend()?;
        Ok(ui)
    }

    fn build_legend(&self) -> Result<(), ViewerError> {
        let legend = by_id(&self.document, "legend")?;
        legend.set_text_content(None);
        // An absent element is never drawn: nothing of it to tell apart in the legend.
        for state in LifecycleState::ALL.into_iter().filter(|s| *s != LifecycleState::Absent) {
            let item = self.create("li")?;
            let swatch = self.create("span")?;
            let [r, g, b] = state.rgb();
            let class = match Visibility::of(state) {
                Visibility::Solid => "swatch",
                Visibility::Ghost => "swatch ghost",
                Visibility::Hidden => "swatch hidden",
            };
            swatch.set_class_name(class);
            swatch
                .set_attribute("style", &format!("background: rgb({r} {g} {b})"))
                .map_err(|e| ViewerError::js("setAttribute", e))?;
            swatch.set_attribute("aria-hidden", "true").map_err(|e| ViewerError::js("setAttribute", e))?;
            let zh = self.create("span")?;
            zh.set_text_content(Some(state.label_zh()));
            zh.set_class_name("zh");
            let en = self.create("span")?;
            en.set_text_content(Some(state.label_en()));
            en.set_class_name("en");
            en.set_attribute("lang", "en").map_err(|e| ViewerError::js("setAttribute", e))?;
            item.set_attribute("data-state", state.key()).map_err(|e| ViewerError::js("setAttribute", e))?;
            for child in [&swatch, &zh, &en] {
                item.append_child(child).map_err(|e| ViewerError::js("appendChild", e))?;
            }
            legend.append_child(&item).map_err(|e| ViewerError::js("appendChild", e))?;
        }
        Ok(())
    }

    fn create(&self, tag: &str) -> Result<Element, ViewerError> {
        self.document.create_element(tag).map_err(|e| ViewerError::js("createElement", e))
    }

    /// Shows the link status.
    pub fn set_link(&self, status: LinkStatus) {
        let (zh, en) = status.label();
        self.status.set_text_content(Some(&format!("{zh} · {en}")));
        // A failed attribute write only loses the status colour.
        let _styled = self.status.set_attribute("data-status", &format!("{status:?}").to_lowercase());
    }

    /// Shows the graphics backend in use.
    pub fn set_backend(&self, backend: Backend) {
        self.backend.set_text_content(Some(backend.label()));
    }

    /// Shows the scene's name.
    pub fn set_scene_name(&self, name: &str) {
        self.scene_name.set_text_content(Some(name));
    }

    /// Shows the simulated date and day.
    pub fn set_date(&self, date: CivilDate, day: SimDay) {
        self.date.set_text_content(Some(&date.to_string()));
        self.day.set_text_content(Some(&format!("第 {} 天 · day {}", day.0, day.0)));
    }

    /// Lists the phases running today and those held up by a gate (with the reason).
    pub fn set_phases(&self, scene: &Scene) {
        let text: Vec<String> = scene
            .current_phases()
            .map(|p| {
                let line = format!("{} {} — {}", p.kind.label_zh(), p.kind.label_en(), p.project);
                match (p.status, &p.note) {
                    (PhaseStatus::Blocked, Some(note)) => format!("■ 受阻 Blocked: {line} ({note})"),
                    (PhaseStatus::Blocked, None) => format!("■ 受阻 Blocked: {line}"),
                    _ => line,
                }
            })
            .collect();
        let text = if text.is_empty() { "无进行中阶段 · no active phase".to_owned() } else { text.join("\n") };
        self.phases.set_text_content(Some(&text));
    }

    /// Shows the element panel for `info` in `state`.
    pub fn show_element(&self, info: &ElementInfo, state: LifecycleState) {
        let values = [
            info.class.clone(),
            info.name.clone().unwrap_or_else(|| "—".into()),
            info.global_id.clone(),
            info.storey.clone().unwrap_or_else(|| "—".into()),
            format!("{} · {}", state.label_zh(), state.label_en()),
            info.id.to_string(),
        ];
        for (field, value) in self.info_fields.iter().zip(values) {
            field.set_text_content(Some(&value));
        }
        // Failing to unhide the panel leaves it hidden; nothing else depends on it.
        let _shown = self.info.remove_attribute("hidden");
    }

    /// Hides the element panel.
    pub fn hide_element(&self) {
        let _hidden = self.info.set_attribute("hidden", "");
    }

    /// Shows an error banner.
    pub fn show_error(&self, message: &str) {
        self.error.set_text_content(Some(&format!("出错了 · Error: {message}")));
        let _shown = self.error.remove_attribute("hidden");
    }
}

/// Shows scene streaming progress: `done` of `total` mesh batches; hidden when `done >= total`.
/// Looked up by id each time so the overlay needs no handle for it.
pub(crate) fn show_progress(done: u32, total: u32) {
    let Some(bar) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("load-progress")) else {
        return;
    };
    // A failed attribute write only leaves the bar as it was.
    if total == 0 || done >= total {
        let _hidden = bar.set_attribute("hidden", "");
    } else {
        let _value = bar.set_attribute("value", &format!("{:.3}", f64::from(done) / f64::from(total)));
        let _shown = bar.remove_attribute("hidden");
    }
}
