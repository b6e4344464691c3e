//! Pointer input on the canvas: mouse orbit/pan/zoom/click and touch orbit/pinch.
//!
//! Mouse: left drag orbits, right drag or shift + left drag pans, the wheel zooms, a click
//! (press and release without moving) picks. Touch (pointer events, `touch-action: none`):
//! one finger orbits, two fingers pinch to zoom and move together to pan, a tap picks.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{HtmlCanvasElement, PointerEvent, WheelEvent};

use crate::error::ViewerError;
use crate::viewer::{Gesture, SharedViewer};

/// A press that moved less than this many CSS pixels is a click.
const CLICK_SLOP: f32 = 4.0;

/// One pointer that is down.
#[derive(Debug, Clone, Copy)]
struct ActivePointer {
    id: i32,
    x: f32,
    y: f32,
}

/// What the pointers are doing.
#[derive(Debug, Default)]
struct InputState {
    pointers: Vec<ActivePointer>,
    pan_mode: bool,
    travelled: f32,
}

impl InputState {
    fn centroid_and_spread(&self) -> (f32, f32, f32) {
        let n = self.pointers.len().max(1) as f32;
        let cx = self.pointers.iter().map(|p| p.x).sum::<f32>() / n;
        let cy = self.pointers.iter().map(|p| p.y).sum::<f32>() / n;
        let spread = match self.pointers.as_slice() {
            [a, b, ..] => ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt(),
            _ => 0.0,
        };
        (cx, cy, spread)
    }

    /// A pointer went down at (x, y).
    pub fn down(&mut self, id: i32, x: f32, y: f32, button: i16, shift: bool) {
        self.pointers.retain(|p| p.id != id);
        self.pointers.push(ActivePointer { id, x, y });
        if self.pointers.len() == 1 {
            self.pan_mode = button == 2 || shift;
            self.travelled = 0.0;
        } else {
            // A second finger turns a would-be tap into a gesture.
            self.travelled = f32::INFINITY;
        }
    }

    /// A pointer moved to (x, y); returns the camera change it makes.
    pub fn moved(&mut self, id: i32, x: f32, y: f32) -> Vec<Gesture> {
        let Some(index) = self.pointers.iter().position(|p| p.id == id) else { return Vec::new() };
        let (cx0, cy0, spread0) = self.centroid_and_spread();
        let previous = self.pointers[index];
        self.pointers[index] = ActivePointer { id, x, y };
        let (dx, dy) = (x - previous.x, y - previous.y);
        self.travelled += (dx * dx + dy * dy).sqrt();
        match self.pointers.len() {
            1 if self.pan_mode => vec![Gesture::Pan(dx, dy)],
            1 => vec![Gesture::Orbit(dx, dy)],
            _ => {
                let (cx1, cy1, spread1) = self.centroid_and_spread();
                let mut gestures = vec![Gesture::Pan(cx1 - cx0, cy1 - cy0)];
                if spread0 > 1.0 && spread1 > 1.0 {
                    gestures.push(Gesture::Zoom(spread0 / spread1));
                }
                gestures
            }
        }
    }

    /// A pointer went up; returns a click if it was a tap.
    pub fn up(&mut self, id: i32, x: f32, y: f32) -> Option<Gesture> {
        let was_only = self.pointers.len() == 1 && self.pointers[0].id == id;
        self.pointers.retain(|p| p.id != id);
        (was_only && self.travelled < CLICK_SLOP).then_some(Gesture::Click(x, y))
    }
}

/// CSS pixel position of an event relative to the canvas.
fn canvas_position(canvas: &HtmlCanvasElement, x: i32, y: i32) -> (f32, f32) {
    let rect = canvas.get_bounding_client_rect();
    (x as f32 - rect.left() as f32, y as f32 - rect.top() as f32)
}

/// Wires the canvas's pointer and wheel events to `app`. The handlers live as long as the page,
/// and share the pointer state.
pub(crate) fn attach(app: &SharedViewer, canvas: &HtmlCanvasElement) -> Result<(), ViewerError> {
    let input = Rc::new(RefCell::new(InputState::default()));
    let listen = |name: &str, handler: &js_sys::Function| {
        canvas
            .add_event_listener_with_callback(name, handler)
            .map_err(|e| ViewerError::js("addEventListener", e))
    };

    let down = {
        let (input, canvas) = (Rc::clone(&input), canvas.clone());
        Closure::<dyn FnMut(PointerEvent)>::new(move |e: PointerEvent| {
            // Capture keeps the drag going outside the canvas; without it the drag just ends there.
            let _captured = canvas.set_pointer_capture(e.pointer_id());
            let (x, y) = canvas_position(&canvas, e.client_x(), e.client_y());
            input.borrow_mut().down(e.pointer_id(), x, y, e.button(), e.shift_key());
            e.prevent_default();
        })
    };
    listen("pointerdown", down.as_ref().unchecked_ref())?;
    down.forget();

    let moved = {
        let (app, input, canvas) = (Rc::clone(app), Rc::clone(&input), canvas.clone());
        Closure::<dyn FnMut(PointerEvent)>::new(move |e: PointerEvent| {
            let (x, y) = canvas_position(&canvas, e.client_x(), e.client_y());
            if let Ok(mut app) = app.try_borrow_mut() {
                let gestures = input.borrow_mut().moved(e.pointer_id(), x, y);
                for gesture in gestures {
                    app.gesture(gesture);
                }
            }
        })
    };
    listen("pointermove", moved.as_ref().unchecked_ref())?;
    moved.forget();

    let up = {
        let (app, input, canvas) = (Rc::clone(app), Rc::clone(&input), canvas.clone());
        Closure::<dyn FnMut(PointerEvent)>::new(move |e: PointerEvent| {
            let (x, y) = canvas_position(&canvas, e.client_x(), e.client_y());
            if let Ok(mut app) = app.try_borrow_mut()
                && let Some(gesture) = input.borrow_mut().up(e.pointer_id(), x, y) {
                    app.gesture(gesture);
                }
        })
    };
    listen("pointerup", up.as_ref().unchecked_ref())?;
    listen("pointercancel", up.as_ref().unchecked_ref())?;
    up.forget();

    let wheel = {
        let app = Rc::clone(app);
        Closure::<dyn FnMut(WheelEvent)>::new(move |e: WheelEvent| {
            e.prevent_default();
            // Lines and pages count as ~40 px each.
            let scale = if e.delta_mode() == 0 { 1.0 } else { 40.0 };
            let factor = (e.delta_y() as f32 * scale * 0.0015).exp();
            if let Ok(mut app) = app.try_borrow_mut() {
                app.gesture(Gesture::Zoom(factor));
            }
        })
    };
    let options = web_sys::AddEventListenerOptions::new();
    options.set_passive(false);
    canvas
        .add_event_listener_with_callback_and_add_event_listener_options(
            "wheel",
            wheel.as_ref().unchecked_ref(),
            &options,
        )
        .map_err(|e| ViewerError::js("addEventListener", e))?;
    wheel.forget();

    let no_menu = Closure::<dyn FnMut(web_sys::Event)>::new(|e: web_sys::Event| e.prevent_default());
    listen("contextmenu", no_menu.as_ref().unchecked_ref())?;
    no_menu.forget();
    Ok(())
}
