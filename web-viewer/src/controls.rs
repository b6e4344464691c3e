//! The viewer's control surface on `window.renewtwin`, used by the page's panels
//! (`static/panels.js`) and by the browser test alike: selection, camera, timeline states,
//! comparison, colour layers, visibility, X-ray, edges and the section plane.
//!
//! | function | effect |
//! |---|---|
//! | `select(id)` / `focus(id)` | highlight element `id` (-1: none) / and fly to it |
//! | `fit()` | frame the whole scene |
//! | `flyTo(eye, target, animate)` | camera to a viewpoint, scene-frame metres |
//! | `camera()` | `{ eye, target, distance, flying }` |
//! | `setStates(bytes, day)` | show these states (one byte per element, `/api/states`), `null`: live |
//! | `setCompare(bytes)` | states of the second side, `null`: no comparison |
//! | `setLayout(mode, at)` | `"single"`, `"swipe"` (divider at fraction `at`) or `"side"` |
//! | `setLayer(values, palette)` | colour by category (`palette` flat `[r, g, b, …]`), `null`: by state |
//! | `setHidden(mask)` | one byte per element, non-zero hides it; `null`: show all |
//! | `setXray(on)`, `setEdges(on)` | X-ray mode, feature edges |
//! | `setSection(axis, t)` | cut at fraction `t` along axis 0 x, 1 y, 2 z; `-1`: no section |
//! | `search(text)` | ids of elements whose name or GlobalId contains `text` (at most 50) |
//! | `setSun(direction)` | sunlight with shadows from `[x, y, z]`, the unit vector towards the sun (`/api/viewer/sun`'s `direction`); below the horizon: night; `null`: studio light, no shadows |
//! | `forceFrames(n)` | draw `n` frames even if nothing changes (frame-rate measurement) |

use std::rc::Rc;

use js_sys::{Array, Uint8Array};
use renewtwin_render::scene::Scene;
use renewtwin_render::style::{Layer, states_from_bytes};
use renewtwin_render::view::Layout;
use wasm_bindgen::JsValue;
use wasm_bindgen::closure::Closure;

use crate::hooks::Hooks;
use crate::viewer::{SharedViewer, Viewer};

/// Most results `search` returns.
const SEARCH_LIMIT: usize = 50;

fn bytes(value: &JsValue) -> Option<Vec<u8>> {
    (!value.is_null() && !value.is_undefined()).then(|| Uint8Array::new(value).to_vec())
}

/// A control function's body: the viewer and the two arguments from JS.
type Control = Box<dyn Fn(&mut dyn Viewer, JsValue, JsValue) -> JsValue>;

/// Adds the control functions to `hooks`.
pub(crate) fn add(hooks: &Hooks, app: &SharedViewer) {
    let with_app = |f: Control| {
        let app = Rc::clone(app);
        Closure::<dyn Fn(JsValue, JsValue) -> JsValue>::new(move |a: JsValue, b: JsValue| match app.try_borrow_mut() {
            Ok(mut app) => f(&mut *app, a, b),
            Err(_) => JsValue::NULL,
        })
        .into_js_value()
    };

    hooks.set(
        "select",
        with_app(Box::new(|app, id, _| {
            app.select(id.as_f64().filter(|id| *id >= 0.0).map(|id| id as u32));
            JsValue::UNDEFINED
        })),
    );
    hooks.set(
        "focus",
        with_app(Box::new(|app, id, _| {
            if let Some(id) = id.as_f64().filter(|id| *id >= 0.0) {
                app.select(Some(id as u32));
                app.focus(id as u32);
            }
            JsValue::UNDEFINED
        })),
    );
    hooks.set(
        "fit",
        with_app(Box::new(|app, _, _| {
            app.fit();
            JsValue::UNDEFINED
        })),
    );
    {
        let app = Rc::clone(app);
        let fly = Closure::<dyn Fn(JsValue, JsValue, JsValue)>::new(move |eye: JsValue, target: JsValue, animate: JsValue| {
            let point = |v: &JsValue| -> Option<[f64; 3]> {
                let a = Array::from(v);
                (a.length() == 3).then(|| [0, 1, 2].map(|i| a.get(i).as_f64().unwrap_or(0.0)))
            };
            if let (Some(eye), Some(target), Ok(mut app)) = (point(&eye), point(&target), app.try_borrow_mut()) {
                app.fly_to(eye, target, animate.as_bool().unwrap_or(true));
            }
        });
        hooks.set("flyTo", fly.into_js_value());
    }
    hooks.set("camera", with_app(Box::new(|app, _, _| app.camera_info())));
    hooks.set(
        "setStates",
        with_app(Box::new(|app, states, day| {
            app.view_mut().seek = bytes(&states).map(|b| (day.as_f64().unwrap_or(0.0) as i32, states_from_bytes(&b)));
            app.view_changed();
            JsValue::UNDEFINED
        })),
    );
    hooks.set(
        "setCompare",
        with_app(Box::new(|app, states, _| {
            app.view_mut().compare = bytes(&states).map(|b| states_from_bytes(&b));
            app.view_changed();
            JsValue::UNDEFINED
        })),
    );
    hooks.set(
        "setLayout",
        with_app(Box::new(|app, mode, at| {
            app.view_mut().layout = match mode.as_string().as_deref() {
                Some("swipe") => Layout::Swipe(at.as_f64().unwrap_or(0.5) as f32),
                Some("side") => Layout::SideBySide,
                _ => Layout::Single,
            };
            app.view_changed();
            JsValue::UNDEFINED
        })),
    );
    hooks.set(
        "setLayer",
        with_app(Box::new(|app, values, palette| {
            app.view_mut().style.layer = bytes(&values).map(|values| {
                let flat: Vec<u8> = Array::from(&palette).iter().map(|v| v.as_f64().unwrap_or(0.0) as u8).collect();
                Layer { values, palette: flat.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect() }
            });
            app.view_changed();
            JsValue::UNDEFINED
        })),
    );
    hooks.set(
        "setHidden",
        with_app(Box::new(|app, mask, _| {
            app.view_mut().style.hidden = bytes(&mask).map(|m| m.iter().map(|&b| b != 0).collect()).unwrap_or_default();
            app.view_changed();
            JsValue::UNDEFINED
        })),
    );
    hooks.set(
        "setXray",
        with_app(Box::new(|app, on, _| {
            app.view_mut().xray = on.is_truthy();
            app.view_changed();
            JsValue::UNDEFINED
        })),
    );
    hooks.set(
        "setEdges",
        with_app(Box::new(|app, on, _| {
            app.view_mut().edges = on.is_truthy();
            app.view_changed();
            JsValue::UNDEFINED
        })),
    );
    hooks.set(
        "setSection",
        with_app(Box::new(|app, axis, t| {
            app.view_mut().section = axis
                .as_f64()
                .filter(|a| (0.0..=2.0).contains(a))
                .map(|a| (a as usize, t.as_f64().unwrap_or(0.5) as f32));
            app.view_changed();
            JsValue::UNDEFINED
        })),
    );
    hooks.set(
        "setSun",
        with_app(Box::new(|app, direction, _| {
            // Array.from(null) throws: only an array is read.
            app.view_mut().sun = Array::is_array(&direction)
                .then(|| Array::from(&direction))
                .filter(|a| a.length() == 3)
                .map(|a| [0, 1, 2].map(|i| a.get(i).as_f64().unwrap_or(f64::NAN) as f32))
                .filter(|d| d.iter().all(|c| c.is_finite()));
            app.view_changed();
            JsValue::UNDEFINED
        })),
    );
    hooks.set("search", with_app(Box::new(|app, text, _| search(app.scene(), &text.as_string().unwrap_or_default()))));
    hooks.set(
        "forceFrames",
        with_app(Box::new(|app, n, _| {
            app.force_frames(n.as_f64().unwrap_or(0.0).clamp(0.0, 100_000.0) as u32);
            JsValue::UNDEFINED
        })),
    );
}

/// Ids of elements of `scene` whose name or GlobalId contains `text` (case-insensitive), as a
/// JS array.
fn search(scene: Option<&Scene>, text: &str) -> JsValue {
    let out = Array::new();
    let needle = text.trim().to_lowercase();
    if needle.is_empty() {
        return out.into();
    }
    if let Some(scene) = scene {
        for e in scene
            .elements
            .iter()
            .filter(|e| {
                e.global_id.to_lowercase().contains(&needle)
                    || e.name.as_deref().is_some_and(|n| n.to_lowercase().contains(&needle))
            })
            .take(SEARCH_LIMIT)
        {
            out.push(&f64::from(e.id).into());
        }
    }
    out.into()
}
