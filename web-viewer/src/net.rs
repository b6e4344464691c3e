//! The WebSocket link to the server: connects to `ws(s)://<same host>/ws`, says hello (with
//! the cached scene's hash and last sequence number, so a reconnect resumes without reloading
//! geometry; with `?replicas=…`, on the next replica of a cluster), decodes binary frames into [`ServerMsg`]s for the app, shows the scene's
//! streaming progress, and reconnects after a drop.
//!
//! For tests and demonstrations, `?holdAfterBatches=N` in the page URL holds every message
//! after the N-th mesh batch of the first scene until `window.renewtwin.releaseStream()`: the
//! page then shows the partly streamed scene, with its progress bar, for as long as needed.

use std::cell::RefCell;
use std::rc::Rc;

use renewtwin_protocol::{ClientHello, ClientMsg, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, Resume, SceneHash, ServerMsg};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{BinaryType, CloseEvent, Event, MessageEvent, WebSocket};

use crate::dom::query_value;
use crate::error::ViewerError;
use crate::viewer::{LinkStatus, SharedViewer};

/// Delay before reconnecting after the socket closed, milliseconds.
const RECONNECT_DELAY_MS: i32 = 2000;

/// What the link remembers across reconnects: the scene it holds and how far it got.
#[derive(Debug, Default, Clone, Copy)]
struct StreamState {
    /// Hash of the scene the app holds.
    scene_hash: Option<SceneHash>,
    /// Every mesh batch of that scene arrived.
    complete: bool,
    /// `seq` of the last state applied.
    seq: u64,
    /// The next delta follows a resync and applies whatever its `seq`.
    resynced: bool,
    /// Mesh batches announced and received, for the progress bar.
    batches: (u32, u32),
}

thread_local! {
    static STREAM: std::cell::Cell<StreamState> = std::cell::Cell::new(StreamState::default());
    static HOLD: RefCell<Hold> = RefCell::new(Hold::default());
    /// The open socket, if any; a reconnect replaces (and so closes) the previous one.
    static CONNECTION: RefCell<Option<Connection>> = const { RefCell::new(None) };
}

/// Messages held back by `?holdAfterBatches=N`.
#[derive(Debug, Default)]
struct Hold {
    /// Hold everything after this many mesh batches; `None`: deliver everything.
    after: Option<u32>,
    /// Mesh batches delivered.
    delivered: u32,
    /// Messages held, in arrival order.
    queue: Vec<ServerMsg>,
}

impl Hold {
    /// Whether `message` must wait (it is then queued); otherwise it is counted.
    fn hold(&mut self, message: ServerMsg) -> Option<ServerMsg> {
        let Some(after) = self.after else { return Some(message) };
        let is_batch = matches!(message, ServerMsg::Meshes { .. });
        if !self.queue.is_empty() || (self.delivered >= after && (is_batch || matches!(message, ServerMsg::SceneComplete))) {
            self.queue.push(message);
            return None;
        }
        self.delivered += u32::from(is_batch);
        Some(message)
    }
}

/// Reads `holdAfterBatches=N` from the page URL's query.
pub(crate) fn hold_from_url() {
    let after = query_value("holdAfterBatches").and_then(|n| n.parse::<u32>().ok());
    HOLD.with(|h| h.borrow_mut().after = after);
}

/// Number of messages `?holdAfterBatches` holds now.
pub(crate) fn held() -> usize {
    HOLD.with(|h| h.borrow().queue.len())
}

/// Stops holding and delivers what was held, in order.
pub(crate) fn release(app: &SharedViewer) {
    let queue = HOLD.with(|h| {
        let mut hold = h.borrow_mut();
        hold.after = None;
        std::mem::take(&mut hold.queue)
    });
    for message in queue {
        deliver(app, message);
    }
}

/// Passes one decoded message to the progress tracking and to the app.
fn deliver(app: &SharedViewer, message: ServerMsg) {
    STREAM.with(|s| {
        let mut state = s.get();
        state.observe(&message);
        s.set(state);
    });
    if let Ok(mut app) = app.try_borrow_mut() {
        app.handle(message);
    }
}

impl StreamState {
    /// Follows one message on its way to the app.
    fn observe(&mut self, message: &ServerMsg) {
        match message {
            ServerMsg::Scene(header) => {
                *self = Self { scene_hash: Some(header.scene_hash), seq: header.seq, batches: (0, header.batches), ..Self::default() };
                crate::ui::show_progress(0, header.batches);
            }
            ServerMsg::Meshes { .. } => {
                self.batches.0 += 1;
                crate::ui::show_progress(self.batches.0, self.batches.1);
            }
            ServerMsg::SceneComplete => {
                self.complete = true;
                crate::ui::show_progress(1, 1);
            }
            ServerMsg::State(delta) if self.resynced || delta.seq > self.seq => {
                self.seq = delta.seq;
                self.resynced = false;
            }
            ServerMsg::Resync { .. } => self.resynced = true,
            _ => {}
        }
    }

    /// The hello for a new connection: resume when the whole scene is cached.
    fn hello(&self) -> ClientMsg {
        let resume = match (self.scene_hash, self.complete) {
            (Some(scene_hash), true) => Some(Resume { scene_hash, seq: self.seq }),
            _ => None,
        };
        ClientMsg::Hello(ClientHello { min_version: MIN_PROTOCOL_VERSION, max_version: PROTOCOL_VERSION, resume, geometry: true })
    }
}

/// An open socket and the handlers that must live as long as it does.
#[derive(Debug)]
struct Connection {
    socket: WebSocket,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_open: Closure<dyn FnMut(Event)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.socket.set_onmessage(None);
        self.socket.set_onopen(None);
        self.socket.set_onclose(None);
        // Closing an already closed socket is harmless; a failure here changes nothing.
        let _closed = self.socket.close();
    }
}

thread_local! {
    /// Connections opened so far: with several replicas, each reconnect tries the next.
    static ATTEMPTS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The `/ws` URL to connect to: the page's own host, or, when the page was given the replicas
/// of a cluster (`?replicas=HOST:PORT,HOST:PORT`), the next of them on each reconnect (the
/// page's own host first). Any replica resumes the viewer by scene hash and sequence number.
fn socket_url() -> Result<String, ViewerError> {
    let window = web_sys::window().ok_or(ViewerError::MissingElement("window"))?;
    let location = window.location();
    let protocol = location.protocol().map_err(|e| ViewerError::js("location.protocol", e))?;
    let own = location.host().map_err(|e| ViewerError::js("location.host", e))?;
    let scheme = if protocol == "https:" { "wss" } else { "ws" };
    let mut hosts = vec![own];
    if let Some(list) = query_value("replicas") {
        hosts.extend(list.split(',').map(str::trim).filter(|h| !h.is_empty() && !hosts_contains(&hosts, h)).map(str::to_owned).collect::<Vec<_>>());
    }
    let attempt = ATTEMPTS.with(|a| {
        let n = a.get();
        a.set(n.wrapping_add(1));
        n
    });
    let host = &hosts[attempt % hosts.len()];
    Ok(format!("{scheme}://{host}/ws"))
}

fn hosts_contains(hosts: &[String], host: &str) -> bool {
    hosts.iter().any(|h| h == host)
}

/// Opens the socket and routes its messages into `app`; the connection is kept here, in
/// `CONNECTION`.
pub(crate) fn connect(app: &SharedViewer) -> Result<(), ViewerError> {
    let socket = WebSocket::new(&socket_url()?).map_err(|e| ViewerError::js("new WebSocket", e))?;
    socket.set_binary_type(BinaryType::Arraybuffer);

    let on_message = {
        let app = Rc::clone(app);
        Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let Ok(buffer) = event.data().dyn_into::<js_sys::ArrayBuffer>() else { return };
            let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
            match renewtwin_protocol::decode::<ServerMsg>(&bytes) {
                Ok(message) => {
                    if let Some(message) = HOLD.with(|h| h.borrow_mut().hold(message)) {
                        deliver(&app, message);
                    }
                }
                Err(e) => {
                    if let Ok(mut app) = app.try_borrow_mut() {
                        app.fail(&ViewerError::Protocol(e.to_string()));
                    }
                }
            }
        })
    };
    let on_open = {
        let app = Rc::clone(app);
        let socket = socket.clone();
        Closure::<dyn FnMut(Event)>::new(move |_event: Event| {
            let hello = STREAM.with(|s| s.get().hello());
            if let Ok(bytes) = renewtwin_protocol::encode(&hello) {
                // A failed send closes the socket, and the close handler reconnects.
                let _sent = socket.send_with_u8_array(&bytes);
            }
            if let Ok(mut app) = app.try_borrow_mut() {
                app.set_link(LinkStatus::LoadingScene);
            }
        })
    };
    let on_close = {
        let app = Rc::clone(app);
        Closure::<dyn FnMut(CloseEvent)>::new(move |_event: CloseEvent| {
            if let Ok(mut app) = app.try_borrow_mut() {
                app.set_link(LinkStatus::Disconnected);
            }
            schedule_reconnect(&app);
        })
    };
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    let connection = Connection { socket, _on_message: on_message, _on_open: on_open, _on_close: on_close };
    let mut app_ref = app.try_borrow_mut().map_err(|_| ViewerError::Protocol("viewer state busy while connecting".into()))?;
    app_ref.set_link(LinkStatus::Connecting);
    drop(app_ref);
    // The previous connection, if any, is dropped here: its handlers are removed, its socket closed.
    let previous = CONNECTION.with(|c| c.borrow_mut().replace(connection));
    drop(previous);
    Ok(())
}

/// Reconnects after [`RECONNECT_DELAY_MS`].
fn schedule_reconnect(app: &SharedViewer) {
    let Some(window) = web_sys::window() else { return };
    let app = Rc::clone(app);
    let retry = Closure::once_into_js(move || {
        if let Err(e) = connect(&app)
            && let Ok(mut app) = app.try_borrow_mut() {
                app.fail(&e);
            }
    });
    // If the timer cannot be set there is nothing better to do than stay disconnected.
    let _timer = window.set_timeout_with_callback_and_timeout_and_arguments_0(retry.unchecked_ref(), RECONNECT_DELAY_MS);
}
