//! `window.renewtwin`: the test and automation hooks documented in the crate root.
//!
//! Plain properties are refreshed by the app after every message and frame; functions read the
//! app's current state when called.
//!
//! Besides those listed in the crate root, for progressive loading (times are
//! `performance.now()` milliseconds; `null` until they happen):
//!
//! | name | meaning |
//! |---|---|
//! | `sceneStartMs` | when the scene header arrived |
//! | `firstTrianglesMs` | when the first frame with triangles was presented |
//! | `firstTrianglesPartial`, `firstTrianglesBatches` | whether the scene was still incomplete then, and how many batches had arrived |
//! | `completeMs` | when the first frame of the complete scene was presented (`ready` turns true) |
//! | `batches`, `batchesTotal` | mesh batches received and announced |
//! | `partialUploads`, `uploadMs`, `lastUploadMs` | uploads of the incomplete scene, milliseconds in all uploads, in the last |
//! | `heldMessages()`, `releaseStream()` | messages held by `?holdAfterBatches=N` (see `net.rs`), and letting them through |

use std::rc::Rc;

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsValue;

use crate::error::ViewerError;
use crate::viewer::SharedViewer;

/// The `window.renewtwin` object.
#[derive(Debug, Clone)]
pub(crate) struct Hooks {
    object: Object,
}

impl Hooks {
    /// Creates `window.renewtwin` with every property at its starting value.
    pub fn install() -> Result<Self, ViewerError> {
        let window = web_sys::window().ok_or(ViewerError::MissingElement("window"))?;
        let object = Object::new();
        Reflect::set(&window, &"renewtwin".into(), &object).map_err(|e| ViewerError::js("set window.renewtwin", e))?;
        let hooks = Self { object };
        hooks.set("ready", false.into());
        hooks.set("frames", 0.into());
        hooks.set("elementCount", 0.into());
        hooks.set("stateChanges", 0.into());
        Ok(hooks)
    }

    /// Sets one property. Setting a property of a plain object cannot fail.
    pub fn set(&self, name: &str, value: JsValue) {
        let _set = Reflect::set(&self.object, &name.into(), &value);
    }

    /// Adds the hook functions, which read `app` when called (the control functions are
    /// `controls.rs`'s).
    pub fn add_functions(&self, app: &SharedViewer) {
        let pick = {
            let app = Rc::clone(app);
            Closure::<dyn Fn(f64, f64) -> f64>::new(move |x: f64, y: f64| {
                app.try_borrow()
                    .ok()
                    .and_then(|app| app.pick_element(x as f32, y as f32))
                    .map_or(-1.0, f64::from)
            })
        };
        self.set("pick", pick.into_js_value());

        let element_state = {
            let app = Rc::clone(app);
            // `elementState(id[, side])`: side 1 is the comparison's second side.
            Closure::<dyn Fn(f64, JsValue) -> JsValue>::new(move |id: f64, side: JsValue| {
                let side = side.as_f64().map_or(0, |s| s as usize);
                app.try_borrow()
                    .ok()
                    .and_then(|app| app.element_state(id as u32, side))
                    .map_or(JsValue::NULL, |s| s.key().into())
            })
        };
        self.set("elementState", element_state.into_js_value());

        let element_rgb = {
            let app = Rc::clone(app);
            Closure::<dyn Fn(f64, JsValue) -> JsValue>::new(move |id: f64, side: JsValue| {
                let side = side.as_f64().map_or(0, |s| s as usize);
                app.try_borrow()
                    .ok()
                    .and_then(|app| app.element_rgb(id as u32, side))
                    .map_or(JsValue::NULL, |rgb| rgb_array(rgb).into())
            })
        };
        self.set("elementRgb", element_rgb.into_js_value());

        let element_info = {
            let app = Rc::clone(app);
            Closure::<dyn Fn(f64) -> JsValue>::new(move |id: f64| {
                app.try_borrow().ok().and_then(|app| app.element_info(id as u32)).unwrap_or(JsValue::NULL)
            })
        };
        self.set("elementInfo", element_info.into_js_value());

        let element_id_of = {
            let app = Rc::clone(app);
            Closure::<dyn Fn(String) -> f64>::new(move |global_id: String| {
                app.try_borrow().ok().and_then(|app| app.element_id_of(&global_id)).map_or(-1.0, f64::from)
            })
        };
        self.set("elementIdOf", element_id_of.into_js_value());

        let screen_point_of = {
            let app = Rc::clone(app);
            Closure::<dyn Fn(String) -> JsValue>::new(move |global_id: String| {
                app.try_borrow()
                    .ok()
                    .and_then(|app| app.screen_point_of(&global_id))
                    .map_or(JsValue::NULL, |(x, y)| {
                        Array::of2(&f64::from(x).into(), &f64::from(y).into()).into()
                    })
            })
        };
        self.set("screenPointOf", screen_point_of.into_js_value());

        // Measuring (static/measure.js): the snapped point under a pixel, and where a point is.
        let pick_point = {
            let app = Rc::clone(app);
            Closure::<dyn Fn(f64, f64, JsValue) -> JsValue>::new(move |x: f64, y: f64, snap: JsValue| {
                let snap_px = snap.as_f64().unwrap_or(10.0) as f32;
                app.try_borrow().ok().and_then(|app| app.pick_point(x as f32, y as f32, snap_px)).map_or(JsValue::NULL, |(id, p, kind)| {
                    let object = Object::new();
                    let point = Array::of3(&p[0].into(), &p[1].into(), &p[2].into());
                    let fields: [(&str, JsValue); 3] = [("element", f64::from(id).into()), ("point", point.into()), ("snap", kind.into())];
                    for (key, value) in fields {
                        let _set = Reflect::set(&object, &key.into(), &value);
                    }
                    object.into()
                })
            })
        };
        self.set("pickPoint", pick_point.into_js_value());
        let project = {
            let app = Rc::clone(app);
            Closure::<dyn Fn(f64, f64, f64) -> JsValue>::new(move |x: f64, y: f64, z: f64| {
                app.try_borrow().ok().and_then(|app| app.project([x, y, z])).map_or(JsValue::NULL, |(sx, sy)| {
                    Array::of2(&f64::from(sx).into(), &f64::from(sy).into()).into()
                })
            })
        };
        self.set("project", project.into_js_value());

        let release = {
            let app = Rc::clone(app);
            Closure::<dyn Fn()>::new(move || crate::net::release(&app))
        };
        self.set("releaseStream", release.into_js_value());
        let held = Closure::<dyn Fn() -> f64>::new(|| crate::net::held() as f64);
        self.set("heldMessages", held.into_js_value());
    }
}

/// `[r, g, b]` as a JS array.
pub(crate) fn rgb_array(rgb: [u8; 3]) -> Array {
    let array = Array::new();
    for c in rgb {
        array.push(&f64::from(c).into());
    }
    array
}
