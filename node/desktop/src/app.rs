//! The window: toolbar, canvas, pages, participants and the connection bar.
//!
//! Everything the person does becomes an [`Edit`] sent to the node's core, exactly
//! like a drawing script's; everything shown comes from the window's merged copy of
//! the document ([`Replica`]) and the core's status.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use canopy_canvas::{
    Color, NodeId, PageId, Point, Stroke, Tool, FIRST_PAGE, HIGHLIGHTER_ALPHA, PAGE_FRAME,
};
use canopy_protocol::Role;
use eframe::egui::{self, Color32, Key, Modifiers, Pos2, Rect, Sense, Vec2};
use tokio::sync::mpsc as async_mpsc;

use crate::bridge::{ToNode, UiEvent};
use crate::camera::Camera;
use crate::replica::Replica;
use crate::tiles::{sharp_zoom_at_most, TileCache};
use crate::Control;
use canopy_node::audio::AudioControl;
use canopy_node::session::{Edit, PageRef, Status};

/// Ops merged into the window's copy per frame, so a big sync never freezes it.
const OPS_PER_FRAME: usize = 50_000;
/// Cursor updates sent at most this often.
const CURSOR_INTERVAL: Duration = Duration::from_millis(50);
/// Thumbnail width in pixels.
const THUMBNAIL_WIDTH: f32 = 150.0;
/// The eraser's radius in screen pixels.
const ERASER_RADIUS_PX: f32 = 10.0;
/// The palette offered next to the custom colour picker.
const PALETTE: [Color32; 8] = [
    Color32::from_rgb(20, 20, 20),
    Color32::from_rgb(208, 48, 48),
    Color32::from_rgb(32, 96, 208),
    Color32::from_rgb(32, 160, 80),
    Color32::from_rgb(240, 200, 0),
    Color32::from_rgb(224, 120, 0),
    Color32::from_rgb(140, 60, 200),
    Color32::from_rgb(255, 255, 255),
];
/// Colour of error messages: a crimson no participant colour is near, so tests can
/// find an error on screen.
pub const ERROR_COLOR: Color32 = Color32::from_rgb(200, 0, 90);

/// A scripted driver of the window (the frame-time benchmark).
pub trait Driver {
    /// Called at the start of every frame; may move the camera. Returns true when the
    /// window should close.
    fn frame(&mut self, state: DriveState<'_>) -> bool;
}

/// What a driver sees and may change.
pub struct DriveState<'a> {
    /// The canvas camera.
    pub camera: &'a mut Camera,
    /// True once the document is loaded and the visible tiles are drawn.
    pub ready: bool,
    /// Canvas size in points.
    pub canvas_size: (f32, f32),
    /// The window's copy of the document.
    pub document: Option<&'a canopy_canvas::Document>,
    /// Visible tiles not painted yet.
    pub tiles_missing: usize,
}

/// What the person draws with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ToolChoice {
    Pen,
    Highlighter,
    Eraser,
}

/// The stroke under the pointer, shown at once and sent as it grows.
struct LocalStroke {
    points: Vec<Point>,
    sent: usize,
    tool: Tool,
    color: Color,
    width: f32,
}

/// Export dialog state.
struct ExportDialog {
    format: &'static str,
    path: String,
}

/// The file dialog: what it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FileAction {
    Open,
    SaveAs,
}

/// A dialog asking to confirm something that changes the page for everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Confirm {
    /// Clear this page (by id: someone may add or delete a page meanwhile).
    Clear(PageId),
    /// Delete this page.
    Delete(PageId),
    /// Revoke the invite of this role.
    Revoke(&'static str),
}

/// What a confirmation dialog was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    No,
    Yes,
    /// Yes, and the dialog's stronger option too (revoke: remove the edits).
    YesAndMore,
}

/// The desktop application.
pub struct CanopyApp {
    events: mpsc::Receiver<UiEvent>,
    control: async_mpsc::UnboundedSender<Control>,
    to_node: Option<async_mpsc::UnboundedSender<ToNode>>,
    replica: Option<Replica>,
    status: Option<Box<Status>>,
    tiles: TileCache,
    camera: Camera,
    fitted: bool,
    page: PageId,
    tool: ToolChoice,
    color: Color32,
    width: f32,
    drawing: Option<LocalStroke>,
    erasing: Option<Point>,
    follow_presenter: bool,
    presenter: Option<String>,
    pages_seen: HashMap<String, u32>,
    join_dialog: Option<String>,
    join_error: Option<String>,
    /// "Host on a relay…": the relay host URL and title being typed.
    relay_dialog: Option<(String, String)>,
    /// When the session lives on a relay: its invites, handed out instead of ours.
    relay_invites: Option<std::collections::BTreeMap<String, String>>,
    /// Open / Save as: the action and the path typed.
    file_dialog: Option<(FileAction, String)>,
    /// Recently opened or saved files, newest first.
    recent: Vec<PathBuf>,
    /// The data directory (where the recent list lives).
    data: PathBuf,
    /// The microphone is muted by the person (the mute button or M).
    muted: bool,
    /// Push-to-talk: the microphone is open only while Space is held.
    push_to_talk: bool,
    /// What the node was last told (mute state actually in effect).
    sent_mute: Option<bool>,
    /// Master playback volume.
    master: f32,
    export_dialog: Option<ExportDialog>,
    confirm: Option<Confirm>,
    message: Option<(String, bool)>,
    busy: Option<String>,
    /// A page to show once it exists (after "new page").
    pending_goto: Option<usize>,
    last_cursor: (Instant, Option<Point>),
    /// Glances in a row in which the core held more ops than the window.
    behind_glances: u32,
    canvas_size: (f32, f32),
    driver: Option<Box<dyn Driver>>,
}

impl CanopyApp {
    /// The window's state before any node has started.
    pub fn new(
        cc: &eframe::CreationContext<'_>,
        events: mpsc::Receiver<UiEvent>,
        control: async_mpsc::UnboundedSender<Control>,
        driver: Option<Box<dyn Driver>>,
        data: PathBuf,
    ) -> Self {
        cc.egui_ctx.set_visuals(egui::Visuals::light());
        let recent = crate::recent::load(&data);
        Self {
            events,
            control,
            to_node: None,
            replica: None,
            status: None,
            tiles: TileCache::new(&cc.egui_ctx),
            camera: Camera::default(),
            fitted: false,
            page: FIRST_PAGE,
            tool: ToolChoice::Pen,
            color: PALETTE[0],
            width: 3.0,
            drawing: None,
            erasing: None,
            follow_presenter: false,
            presenter: None,
            pages_seen: HashMap::new(),
            join_dialog: None,
            join_error: None,
            relay_dialog: None,
            relay_invites: None,
            file_dialog: None,
            recent,
            data,
            muted: false,
            push_to_talk: false,
            sent_mute: None,
            master: 1.0,
            export_dialog: None,
            confirm: None,
            message: None,
            busy: Some("Starting…".into()),
            pending_goto: None,
            last_cursor: (Instant::now(), None),
            behind_glances: 0,
            canvas_size: (1.0, 1.0),
            driver,
        }
    }

    fn audio(&mut self, control: AudioControl) {
        if let Some(to_node) = &self.to_node {
            let _ = to_node.send(ToNode::Audio(control));
        }
    }

    /// Mute state from the button and push-to-talk; tells the node when it changes.
    fn microphone(&mut self, ctx: &egui::Context) {
        let talking = self.push_to_talk
            && !ctx.egui_wants_keyboard_input()
            && ctx.input(|i| i.key_down(Key::Space));
        let mute = self.muted || (self.push_to_talk && !talking);
        if self.sent_mute != Some(mute) && self.to_node.is_some() {
            self.sent_mute = Some(mute);
            self.audio(AudioControl::Mute(mute));
        }
    }

    fn revoke(&mut self, role: &str, remove_edits: bool) {
        if let (Some(url), Some(to_node)) = (self.invite(role), &self.to_node) {
            if to_node.send(ToNode::Revoke(url, remove_edits)).is_err() {
                self.to_node = None;
            }
        }
    }

    fn send(&mut self, edit: Edit) {
        if let Some(to_node) = &self.to_node {
            if to_node.send(ToNode::Edit(edit)).is_err() {
                self.to_node = None;
            }
        }
    }

    fn can_edit(&self) -> bool {
        self.to_node.is_some() && self.status.as_ref().and_then(|s| s.role) == Some(Role::Editor)
    }

    fn pages(&self) -> Vec<PageId> {
        self.replica
            .as_ref()
            .map_or_else(|| vec![FIRST_PAGE], |r| r.document().pages())
    }

    fn page_index(&self) -> usize {
        self.pages()
            .iter()
            .position(|p| *p == self.page)
            .unwrap_or(0)
    }

    fn goto(&mut self, index: usize) {
        let pages = self.pages();
        let index = index.min(pages.len().saturating_sub(1));
        if let Some(page) = pages.get(index) {
            if *page != self.page {
                self.page = *page;
                self.drawing = None;
            }
            self.send(Edit::GotoPage(index));
        }
    }

    fn error(&mut self, text: impl Into<String>) {
        self.message = Some((text.into(), true));
    }

    fn info(&mut self, text: impl Into<String>) {
        self.message = Some((text.into(), false));
    }

    /// Takes in what the node said since the last frame.
    fn receive(&mut self, ctx: &egui::Context) {
        while let Ok(event) = self.events.try_recv() {
            match event {
                UiEvent::Started { status, to_node } => {
                    let local = NodeId(u64::from_str_radix(&status.node, 16).unwrap_or(0));
                    self.replica = Some(Replica::new(local));
                    self.tiles = TileCache::new(ctx);
                    self.pending_goto = None;
                    self.page = FIRST_PAGE;
                    self.drawing = None;
                    self.presenter = None;
                    self.pages_seen.clear();
                    self.to_node = Some(to_node);
                    self.sent_mute = None;
                    self.busy = None;
                    self.fitted = false;
                    ctx.send_viewport_cmd(egui::ViewportCommand::Title(format!(
                        "Canopy — {}",
                        status.name
                    )));
                    self.status = Some(status);
                }
                UiEvent::Document(document) => {
                    if let Some(replica) = &mut self.replica {
                        replica.replace(*document);
                        self.tiles.invalidate();
                        self.fitted = false;
                    }
                }
                UiEvent::Ops(ops) => {
                    if let Some(replica) = &mut self.replica {
                        replica.queue(ops.iter().cloned());
                    }
                }
                UiEvent::Status(status) => self.take_status(*status),
                UiEvent::Busy(text) => self.busy = Some(text),
                UiEvent::Failed(text) => {
                    self.busy = None;
                    if self.join_dialog.is_some() {
                        self.join_error = Some(text.clone());
                    }
                    self.error(text);
                }
                UiEvent::Closed => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
                UiEvent::RelayInvites(invites) => self.relay_invites = Some(invites),
                UiEvent::Done(text) => self.info(text),
            }
        }
    }

    fn take_status(&mut self, status: Status) {
        let me = status.node.clone();
        // Whoever turned a page last is the presenter (Kamaelia's synchronised paging).
        for participant in &status.participants {
            let previous = self
                .pages_seen
                .insert(participant.node.clone(), participant.page);
            if previous.is_some_and(|p| p != participant.page) {
                self.presenter = Some(participant.node.clone());
            }
        }
        if self.follow_presenter {
            let target = self
                .presenter
                .as_ref()
                .filter(|p| **p != me)
                .and_then(|p| status.participants.iter().find(|q| q.node == *p))
                .map(|p| p.page as usize);
            if let Some(page) = target {
                if page != self.page_index() {
                    self.goto(page);
                }
            }
        }
        // A window that missed ops (its event queue overflowed) asks for them.
        if let Some(replica) = &self.replica {
            if replica.backlog() == 0 && replica.document().op_count() < status.ops {
                self.behind_glances += 1;
                if self.behind_glances >= 5 {
                    self.behind_glances = 0;
                    if let Some(to_node) = &self.to_node {
                        let _ = to_node.send(ToNode::Sync(replica.document().version_vector()));
                    }
                }
            } else {
                self.behind_glances = 0;
            }
        }
        self.status = Some(Box::new(status));
    }

    /// Merges queued ops and updates the caches.
    fn merge(&mut self) {
        let Some(replica) = &mut self.replica else {
            return;
        };
        if replica.backlog() == 0 {
            return;
        }
        let big = replica.backlog() > 1000;
        let changes = replica.apply_pending(OPS_PER_FRAME);
        if changes.restructured || big {
            self.tiles.invalidate();
        } else {
            for (page, stroke) in &changes.finished {
                if let Some(stroke) = replica.document().stroke(*stroke) {
                    self.tiles.add_stroke(*page, stroke);
                }
            }
        }
        if !replica.document().has_page(self.page) {
            // The page was deleted: show the nearest one.
            self.page = replica
                .document()
                .pages()
                .first()
                .copied()
                .unwrap_or(FIRST_PAGE);
        }
    }

    fn keyboard(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let ctrl_shift = Modifiers::COMMAND | Modifiers::SHIFT;
        let (open, save) = ctx.input_mut(|i| {
            (
                i.consume_key(Modifiers::COMMAND, Key::O),
                i.consume_key(Modifiers::COMMAND, Key::S),
            )
        });
        if open {
            self.file_dialog = Some((FileAction::Open, String::new()));
        }
        if save {
            self.open_save_as();
        }
        let (redo, redo_y, new_page, next, prev, join, fit) = ctx.input_mut(|i| {
            (
                // Redo first: Ctrl+Shift+Z must not also count as Ctrl+Z.
                i.consume_key(ctrl_shift, Key::Z),
                i.consume_key(Modifiers::COMMAND, Key::Y),
                i.consume_key(ctrl_shift, Key::N),
                i.consume_key(Modifiers::NONE, Key::PageDown),
                i.consume_key(Modifiers::NONE, Key::PageUp),
                i.consume_key(Modifiers::COMMAND, Key::J),
                i.consume_key(Modifiers::COMMAND, Key::Num0),
            )
        });
        let undo = ctx.input_mut(|i| i.consume_key(Modifiers::COMMAND, Key::Z));
        if undo && self.can_edit() {
            self.send(Edit::Undo);
        }
        if (redo || redo_y) && self.can_edit() {
            self.send(Edit::Redo);
        }
        if new_page && self.can_edit() {
            self.new_page();
        }
        if next {
            self.goto(self.page_index() + 1);
        }
        if prev {
            self.goto(self.page_index().saturating_sub(1));
        }
        if join {
            self.open_join_dialog();
        }
        if fit {
            self.fit();
        }
        let (pen, highlighter, eraser, mute) = ctx.input_mut(|i| {
            (
                i.consume_key(Modifiers::NONE, Key::P),
                i.consume_key(Modifiers::NONE, Key::H),
                i.consume_key(Modifiers::NONE, Key::E),
                i.consume_key(Modifiers::NONE, Key::M),
            )
        });
        if mute {
            self.muted = !self.muted;
        }
        for (pressed, tool) in [
            (pen, ToolChoice::Pen),
            (highlighter, ToolChoice::Highlighter),
            (eraser, ToolChoice::Eraser),
        ] {
            if pressed {
                self.tool = tool;
            }
        }
    }

    fn new_page(&mut self) {
        let count = self.pages().len();
        self.send(Edit::NewPage);
        // The new page is added at the end; go there once it exists.
        self.pending_goto = Some(count);
    }

    fn open_join_dialog(&mut self) {
        self.join_dialog = Some(String::new());
        self.join_error = None;
    }

    fn fit(&mut self) {
        let bounds = self
            .replica
            .as_ref()
            .map_or(PAGE_FRAME, |r| r.document().page_bounds(self.page));
        let mut camera = Camera::fit(bounds, self.canvas_size);
        // A little smaller, to a zoom whose tiles show pixel for pixel.
        let (w, h) = self.canvas_size;
        let pixels_per_point = self.tiles.pixels_per_point();
        let sharp = sharp_zoom_at_most(camera.zoom * pixels_per_point) / pixels_per_point;
        camera.zoom_at(sharp / camera.zoom, (w / 2.0, h / 2.0));
        self.camera = camera;
    }

    fn invite(&self, role: &str) -> Option<String> {
        if let Some(url) = self.relay_invites.as_ref().and_then(|i| i.get(role)) {
            return Some(url.clone());
        }
        self.status.as_ref()?.invites.get(role).cloned()
    }

    fn menu(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("Session", |ui| {
                for role in ["editor", "viewer"] {
                    let url = self.invite(role);
                    if ui
                        .add_enabled(
                            url.is_some(),
                            egui::Button::new(format!("Copy {role} invite")),
                        )
                        .clicked()
                    {
                        if let Some(url) = url {
                            ui.ctx().copy_text(url);
                            self.info(format!("The {role} invite URL is on the clipboard."));
                        }
                    }
                }
                if self.status.as_ref().is_some_and(|s| s.can_revoke) {
                    for role in ["editor", "viewer"] {
                        if ui
                            .add_enabled(
                                self.invite(role).is_some(),
                                egui::Button::new(format!("Revoke {role} invite…")),
                            )
                            .clicked()
                        {
                            self.confirm = Some(Confirm::Revoke(role));
                        }
                    }
                }
                ui.separator();
                if ui.button("Open… (Ctrl+O)").clicked() {
                    self.file_dialog = Some((FileAction::Open, String::new()));
                }
                if ui.button("Save as… (Ctrl+S)").clicked() {
                    self.open_save_as();
                }
                ui.menu_button("Open recent", |ui| {
                    if self.recent.is_empty() {
                        ui.weak("no files yet");
                    }
                    for file in self.recent.clone() {
                        if ui.button(file.display().to_string()).clicked() {
                            self.open_file(file);
                        }
                    }
                });
                ui.separator();
                if ui.button("Join a session… (Ctrl+J)").clicked() {
                    self.open_join_dialog();
                }
                if ui.button("Host a new session").clicked() {
                    self.relay_invites = None;
                    let _ = self.control.send(Control::HostNew);
                }
                if ui.button("Host on a relay…").clicked() {
                    self.relay_dialog = Some((String::new(), String::new()));
                }
                ui.separator();
                if ui.button("Export…").clicked() {
                    self.open_export("png");
                }
                ui.separator();
                if ui.button("Quit").clicked() {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            ui.menu_button("Page", |ui| {
                let editable = self.can_edit();
                if ui
                    .add_enabled(editable, egui::Button::new("New page (Ctrl+Shift+N)"))
                    .clicked()
                {
                    self.new_page();
                }
                if ui
                    .add_enabled(
                        editable && self.pages().len() > 1,
                        egui::Button::new("Delete page…"),
                    )
                    .clicked()
                {
                    self.confirm = Some(Confirm::Delete(self.page));
                }
                if ui
                    .add_enabled(editable, egui::Button::new("Clear page…"))
                    .clicked()
                {
                    self.confirm = Some(Confirm::Clear(self.page));
                }
                ui.separator();
                if ui.button("Fit to window (Ctrl+0)").clicked() {
                    self.fit();
                }
                ui.checkbox(&mut self.follow_presenter, "Follow presenter");
            });
        });
    }

    fn toolbar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            let editable = self.can_edit();
            ui.add_enabled_ui(editable, |ui| {
                for (tool, label, hint) in [
                    (ToolChoice::Pen, "Pen", "P"),
                    (ToolChoice::Highlighter, "Highlighter", "H"),
                    (
                        ToolChoice::Eraser,
                        "Eraser",
                        "E: erases the strokes it touches",
                    ),
                ] {
                    ui.selectable_value(&mut self.tool, tool, label)
                        .on_hover_text(hint);
                }
                ui.separator();
                for colour in PALETTE {
                    let (rect, response) =
                        ui.allocate_exact_size(Vec2::splat(18.0), Sense::click());
                    ui.painter().rect_filled(rect, 3.0, colour);
                    let outline = if self.color == colour { 2.0 } else { 0.5 };
                    ui.painter().rect_stroke(
                        rect,
                        3.0,
                        egui::Stroke::new(outline, Color32::DARK_GRAY),
                        egui::StrokeKind::Outside,
                    );
                    if response.clicked() {
                        self.color = colour;
                    }
                }
                ui.color_edit_button_srgba(&mut self.color)
                    .on_hover_text("Custom colour");
                ui.add(egui::Slider::new(&mut self.width, 1.0..=40.0).text("width"));
                ui.separator();
                if ui
                    .button("Undo")
                    .on_hover_text("Ctrl+Z: undo your last action")
                    .clicked()
                {
                    self.send(Edit::Undo);
                }
                if ui.button("Redo").on_hover_text("Ctrl+Shift+Z").clicked() {
                    self.send(Edit::Redo);
                }
                if ui.button("Clear…").clicked() {
                    self.confirm = Some(Confirm::Clear(self.page));
                }
            });
            ui.separator();
            let (index, count) = (self.page_index(), self.pages().len());
            if ui
                .add_enabled(index > 0, egui::Button::new("<"))
                .on_hover_text("PageUp")
                .clicked()
            {
                self.goto(index - 1);
            }
            ui.label(format!("Page {} / {}", index + 1, count));
            if ui
                .add_enabled(index + 1 < count, egui::Button::new(">"))
                .on_hover_text("PageDown")
                .clicked()
            {
                self.goto(index + 1);
            }
            if ui
                .add_enabled(editable, egui::Button::new("+ Page"))
                .clicked()
            {
                self.new_page();
            }
            if ui
                .add_enabled(editable && count > 1, egui::Button::new("Delete page…"))
                .clicked()
            {
                self.confirm = Some(Confirm::Delete(self.page));
            }
            ui.checkbox(&mut self.follow_presenter, "Follow presenter")
                .on_hover_text("Show the page whoever turned a page last is showing");
            ui.separator();
            if ui.button("Fit").on_hover_text("Ctrl+0").clicked() {
                self.fit();
            }
            ui.label(format!("{:.0}%", self.camera.zoom * 100.0));
            ui.separator();
            let audio_on = self.status.as_ref().is_some_and(|s| s.audio.is_some());
            ui.add_enabled_ui(audio_on, |ui| {
                let label = if self.muted { "Mic muted" } else { "Mic on" };
                ui.toggle_value(&mut self.muted, label)
                    .on_hover_text("M: mute or unmute your microphone");
                ui.checkbox(&mut self.push_to_talk, "Push to talk")
                    .on_hover_text("Your microphone is open only while Space is held");
                let volume = ui.add(egui::Slider::new(&mut self.master, 0.0..=2.0).text("volume"));
                if volume.changed() {
                    self.audio(AudioControl::Master(self.master));
                }
            });
            if !editable && self.status.is_some() {
                ui.label(egui::RichText::new("view only").italics());
            }
        });
    }

    fn connection_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if let Some(busy) = &self.busy {
                ui.spinner();
                ui.label(busy);
            } else if let Some(status) = &self.status {
                let children = status.children.len();
                let state = match (&status.parent, status.root) {
                    (_, true) => format!("Hosting session {}", short(&status.session)),
                    (Some(parent), false) => format!(
                        "Connected to {} ({}, {:.0} ms)",
                        parent.name, parent.address, parent.rtt_ms
                    ),
                    (None, false) => "Reconnecting…".to_string(),
                };
                let colour = if status.parent.is_none() && !status.root {
                    Color32::from_rgb(200, 120, 0)
                } else {
                    Color32::from_rgb(30, 140, 60)
                };
                ui.colored_label(colour, state);
                ui.label(format!(
                    "· {children} {} · {} strokes · {} ops",
                    if children == 1 { "child" } else { "children" },
                    status.strokes,
                    status.ops
                ));
                if let Some(role) = status.role {
                    ui.label(format!("· {role}"));
                }
            }
            if let Some((text, is_error)) = &self.message {
                ui.separator();
                if *is_error {
                    ui.colored_label(ERROR_COLOR, text);
                } else {
                    ui.label(text);
                }
            }
        });
    }

    fn side_panel(&mut self, ui: &mut egui::Ui, ctx: &egui::Context) {
        ui.heading("Participants");
        if let Some(status) = &self.status {
            for p in &status.participants {
                ui.horizontal(|ui| {
                    let colour = Color::from_hex(&p.color).map_or(Color32::GRAY, to_color32);
                    let (rect, _) = ui.allocate_exact_size(Vec2::splat(12.0), Sense::hover());
                    ui.painter().circle_filled(rect.center(), 6.0, colour);
                    let me = p.node == status.node;
                    let mut label = p.name.clone();
                    match (me, p.role) {
                        (true, Some(role)) => label.push_str(&format!(" (you, {role})")),
                        (true, None) => label.push_str(" (you)"),
                        (false, Some(role)) => label.push_str(&format!(" ({role})")),
                        (false, None) => {}
                    }
                    ui.label(label);
                    let speaking = if me {
                        status.audio.as_ref().is_some_and(|a| a.speaking)
                    } else {
                        status
                            .children
                            .iter()
                            .chain(status.parent.iter())
                            .any(|l| l.name == p.name && l.speaking)
                    };
                    if speaking {
                        ui.label("speaking");
                    }
                    let muted = if me {
                        status.audio.as_ref().is_some_and(|a| a.muted)
                    } else {
                        p.muted
                    };
                    if muted {
                        ui.weak("muted");
                    }
                    if self.presenter.as_deref() == Some(p.node.as_str()) {
                        ui.label("presenter")
                            .on_hover_text("presenter (turned a page last)");
                    }
                    ui.weak(page_label(p.page));
                });
            }
        }
        let mut volume_changes = Vec::new();
        if let Some(status) = self.status.as_ref().filter(|s| s.audio.is_some()) {
            let links: Vec<_> = status.parent.iter().chain(status.children.iter()).collect();
            if !links.is_empty() {
                ui.separator();
                ui.label("Volume of each link (everyone heard through it)");
                for link in links {
                    let mut gain = link.volume;
                    let slider = egui::Slider::new(&mut gain, 0.0..=2.0).text(&link.name);
                    if ui.add(slider).changed() {
                        volume_changes.push(AudioControl::Volume {
                            link: link.link,
                            gain,
                        });
                    }
                }
            }
        }
        for change in volume_changes {
            self.audio(change);
        }
        ui.separator();
        ui.heading("Pages");
        let pages = self.pages();
        let mut go = None;
        egui::ScrollArea::vertical().show(ui, |ui| {
            for (index, page) in pages.iter().enumerate() {
                let size = Vec2::new(THUMBNAIL_WIDTH, THUMBNAIL_WIDTH * 9.0 / 16.0);
                let (rect, response) = ui.allocate_exact_size(size, Sense::click());
                ui.painter().rect_filled(rect, 2.0, Color32::WHITE);
                let texture = match &self.replica {
                    Some(replica) => {
                        self.tiles
                            .thumbnail(ctx, replica.document(), *page, THUMBNAIL_WIDTH)
                    }
                    None => None,
                };
                if let Some(texture) = texture {
                    let fitted = fit_into(texture.size_vec2(), rect);
                    ui.painter().image(
                        texture.id(),
                        fitted,
                        Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
                        Color32::WHITE,
                    );
                }
                let current = *page == self.page;
                ui.painter().rect_stroke(
                    rect,
                    2.0,
                    egui::Stroke::new(
                        if current { 3.0 } else { 1.0 },
                        if current {
                            Color32::from_rgb(32, 96, 208)
                        } else {
                            Color32::GRAY
                        },
                    ),
                    egui::StrokeKind::Outside,
                );
                ui.label(format!("Page {}", index + 1));
                if response.clicked() {
                    go = Some(index);
                }
            }
        });
        if let Some(index) = go {
            self.goto(index);
        }
    }

    fn canvas(&mut self, ui: &mut egui::Ui) {
        let (rect, response) = ui.allocate_exact_size(ui.available_size(), Sense::click_and_drag());
        self.canvas_size = (rect.width(), rect.height());
        if !self.fitted && self.replica.is_some() && rect.width() > 1.0 {
            self.fitted = true;
            self.fit();
        }
        self.navigate(ui, rect, &response);
        if self.can_edit() {
            self.pen(ui, rect, &response);
        } else {
            self.drawing = None;
        }
        self.share_cursor(ui, rect);

        let painter = ui.painter_at(rect);
        // Tiles cover the canvas once painted; until then, paper.
        let loading = self.replica.as_ref().is_none_or(|r| r.backlog() > 0);
        if loading {
            painter.rect_filled(rect, 0.0, Color32::WHITE);
        }
        if let Some(replica) = self.replica.as_ref().filter(|r| r.backlog() > 0) {
            // Loading: no snapshots of a half-merged document.
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                format!("Loading… {} ops to go", replica.backlog()),
                egui::FontId::proportional(16.0),
                Color32::DARK_GRAY,
            );
        } else if let Some(replica) = &self.replica {
            self.tiles.prepare(
                ui.ctx(),
                replica.document(),
                self.page,
                &self.camera,
                self.canvas_size,
            );
            self.tiles.paint(&painter, rect, &self.camera);
        }
        // The page frame: what a PNG/PDF export shows at least.
        let frame_min = self.screen(rect, Point::new(PAGE_FRAME.min_x, PAGE_FRAME.min_y));
        let frame_max = self.screen(rect, Point::new(PAGE_FRAME.max_x, PAGE_FRAME.max_y));
        painter.rect_stroke(
            Rect::from_min_max(frame_min, frame_max),
            0.0,
            egui::Stroke::new(1.0, Color32::from_gray(200)),
            egui::StrokeKind::Outside,
        );
        self.paint_live(&painter, rect);
        self.paint_cursors(&painter, rect);
        if self.tool == ToolChoice::Eraser && self.can_edit() {
            if let Some(pos) = response.hover_pos() {
                painter.circle_stroke(
                    pos,
                    ERASER_RADIUS_PX,
                    egui::Stroke::new(1.0, Color32::DARK_GRAY),
                );
            }
        }
    }

    fn screen(&self, rect: Rect, point: Point) -> Pos2 {
        let (x, y) = self.camera.to_screen(point);
        rect.min + Vec2::new(x, y)
    }

    fn page_point(&self, rect: Rect, pos: Pos2) -> Point {
        let offset = pos - rect.min;
        self.camera.to_page((offset.x, offset.y))
    }

    /// Wheel and two-finger scroll pan; Ctrl+wheel and pinch zoom; middle-drag pans.
    fn navigate(&mut self, ui: &egui::Ui, rect: Rect, response: &egui::Response) {
        if response.dragged_by(egui::PointerButton::Middle) {
            let delta = response.drag_delta();
            self.camera.pan((delta.x, delta.y));
        }
        if !response.hovered() {
            return;
        }
        let (scroll, zoom, pointer) = ui.input(|i| {
            (
                i.smooth_scroll_delta(),
                i.zoom_delta(),
                i.pointer.hover_pos(),
            )
        });
        if scroll != Vec2::ZERO {
            self.camera.pan((scroll.x, scroll.y));
        }
        if zoom != 1.0 {
            let anchor = pointer.unwrap_or(rect.center()) - rect.min;
            self.camera.zoom_at(zoom, (anchor.x, anchor.y));
        }
    }

    /// Pen, highlighter and eraser: every pointer movement this frame is a point.
    fn pen(&mut self, ui: &egui::Ui, rect: Rect, response: &egui::Response) {
        let mut path = Vec::new();
        let (pressed, released) = ui.input(|i| {
            for event in &i.events {
                if let egui::Event::PointerMoved(pos) = event {
                    path.push(*pos);
                }
            }
            (i.pointer.primary_pressed(), i.pointer.primary_released())
        });
        let down_here =
            response.is_pointer_button_down_on() && ui.input(|i| i.pointer.primary_down());
        let press_pos = ui.input(|i| i.pointer.press_origin());
        if pressed && response.hovered() {
            if let Some(origin) = press_pos.filter(|p| rect.contains(*p)) {
                let start = self.page_point(rect, origin);
                match self.tool {
                    ToolChoice::Eraser => {
                        self.erasing = Some(start);
                        self.erase_along(vec![start]);
                    }
                    tool => {
                        let tool = if tool == ToolChoice::Highlighter {
                            Tool::Highlighter
                        } else {
                            Tool::Pen
                        };
                        let color = from_color32(self.color);
                        let width = self.width;
                        self.send(Edit::StrokeBegin {
                            page: PageRef::Id(self.page),
                            tool,
                            color,
                            width,
                        });
                        self.drawing = Some(LocalStroke {
                            points: vec![start],
                            sent: 0,
                            tool,
                            color,
                            width,
                        });
                    }
                }
            }
        }
        if down_here || released {
            let points: Vec<Point> = path.iter().map(|p| self.page_point(rect, *p)).collect();
            if let Some(stroke) = &mut self.drawing {
                for point in points {
                    if stroke.points.last() != Some(&point) {
                        stroke.points.push(point);
                    }
                }
            } else if let Some(last) = self.erasing {
                let mut line = vec![last];
                line.extend(points);
                if let Some(end) = line.last() {
                    self.erasing = Some(*end);
                }
                if line.len() > 1 {
                    self.erase_along(line);
                }
            }
        }
        if let Some(stroke) = &mut self.drawing {
            if stroke.points.len() > stroke.sent {
                let fresh = stroke.points[stroke.sent..].to_vec();
                stroke.sent = stroke.points.len();
                self.send(Edit::StrokeAppend(fresh));
            }
        }
        if released || !ui.input(|i| i.pointer.primary_down()) {
            if self.drawing.take().is_some() {
                self.send(Edit::StrokeEnd);
            }
            self.erasing = None;
        }
    }

    fn erase_along(&mut self, path: Vec<Point>) {
        let radius = ERASER_RADIUS_PX / self.camera.zoom;
        self.send(Edit::Erase {
            page: PageRef::Id(self.page),
            path,
            radius,
        });
    }

    /// Tells the others where this pointer is on the page (a few times a second).
    fn share_cursor(&mut self, ui: &egui::Ui, rect: Rect) {
        let cursor = ui
            .input(|i| i.pointer.hover_pos())
            .filter(|p| rect.contains(*p))
            .map(|p| self.page_point(rect, p));
        if cursor != self.last_cursor.1 && self.last_cursor.0.elapsed() >= CURSOR_INTERVAL {
            self.last_cursor = (Instant::now(), cursor);
            self.send(Edit::Cursor(cursor));
        }
    }

    /// Strokes whose pen is still down: everyone's, drawn over the tiles.
    fn paint_live(&self, painter: &egui::Painter, rect: Rect) {
        let Some(replica) = &self.replica else {
            return;
        };
        let document = replica.document();
        let local = document.local_node();
        for (page, id) in replica.live_strokes() {
            if page != self.page || (self.drawing.is_some() && id.node == local) {
                continue;
            }
            if let Some(stroke) = document.stroke(id) {
                let points: Vec<Point> = stroke.points().collect();
                self.paint_stroke(painter, rect, &points, stroke_style(stroke));
            }
        }
        if let Some(stroke) = &self.drawing {
            self.paint_stroke(
                painter,
                rect,
                &stroke.points,
                (stroke.tool, stroke.color, stroke.width),
            );
        }
    }

    fn paint_stroke(
        &self,
        painter: &egui::Painter,
        rect: Rect,
        points: &[Point],
        (tool, color, width): (Tool, Color, f32),
    ) {
        let mut colour = to_color32(color);
        if tool == Tool::Highlighter {
            colour = colour.gamma_multiply(HIGHLIGHTER_ALPHA);
        }
        let width = (width * self.camera.zoom).max(1.0);
        let screen: Vec<Pos2> = points.iter().map(|p| self.screen(rect, *p)).collect();
        if let (Some(first), Some(last)) = (screen.first(), screen.last()) {
            painter.circle_filled(*first, width / 2.0, colour);
            if screen.len() > 1 {
                painter.add(egui::Shape::line(
                    screen.clone(),
                    egui::Stroke::new(width, colour),
                ));
                painter.circle_filled(*last, width / 2.0, colour);
            }
        }
    }

    fn paint_cursors(&self, painter: &egui::Painter, rect: Rect) {
        let Some(status) = &self.status else {
            return;
        };
        let index = self.page_index() as u32;
        for p in &status.participants {
            if p.node == status.node || p.page != index {
                continue;
            }
            let Some((x, y)) = p.cursor else {
                continue;
            };
            let pos = self.screen(rect, Point::new(x, y));
            if !rect.contains(pos) {
                continue;
            }
            let colour = Color::from_hex(&p.color).map_or(Color32::GRAY, to_color32);
            painter.circle_filled(pos, 5.0, colour);
            painter.text(
                pos + Vec2::new(8.0, 4.0),
                egui::Align2::LEFT_TOP,
                &p.name,
                egui::FontId::proportional(13.0),
                colour,
            );
        }
    }

    fn dialogs(&mut self, ctx: &egui::Context) {
        if let Some(mut text) = self.join_dialog.take() {
            let mut open = true;
            let mut submit = false;
            dialog_window("Join a session", &mut open).show(ctx, |ui| {
                ui.label("Paste the invite URL you were given (canopy://…):");
                submit |= focused_field(ui, &mut text);
                if let Some(error) = &self.join_error {
                    ui.colored_label(ERROR_COLOR, error);
                }
                ui.horizontal(|ui| {
                    if ui.button("Join").clicked() {
                        submit = true;
                    }
                });
            });
            if submit {
                match text.trim().parse::<canopy_protocol::JoinUrl>() {
                    Ok(_) => {
                        self.relay_invites = None;
                        let _ = self.control.send(Control::Join(text.trim().to_string()));
                        self.busy = Some("Joining the session…".into());
                        self.join_error = None;
                        open = false;
                    }
                    Err(error) => {
                        let message = format!("That is not a Canopy invite URL: {error}");
                        self.join_error = Some(message.clone());
                        self.error(message);
                    }
                }
            }
            if open {
                self.join_dialog = Some(text);
            }
        }
        if let Some(confirm) = self.confirm {
            // Where the page is now (it may have moved since the question was asked).
            let place = |page: PageId| {
                self.pages()
                    .iter()
                    .position(|p| *p == page)
                    .map_or_else(|| "(deleted)".to_string(), |i| (i + 1).to_string())
            };
            let (title, question, action) = match confirm {
                Confirm::Clear(page) => (
                    "Clear page",
                    format!("Clear page {} for everyone? Strokes drawn at the same time by others stay; Undo brings yours back.", place(page)),
                    "Clear",
                ),
                Confirm::Delete(page) => (
                    "Delete page",
                    format!("Delete page {} for everyone? Undo brings it back.", place(page)),
                    "Delete",
                ),
                Confirm::Revoke(role) => (
                    "Revoke invite",
                    format!("Revoke the {role} invite? Nobody can join with it again, and whoever joined with it (and everyone they let in) is cut off. A new {role} invite takes its place.{}", if role == "editor" { " Their edits so far stay, unless you remove them too (for everyone; this cannot be undone)." } else { "" }),
                    "Revoke",
                ),
            };
            // Revoking an editor invite can also take back everything its holders did
            // (a viewer invite's holders did nothing).
            let stronger =
                (confirm == Confirm::Revoke("editor")).then_some("Revoke and remove their edits");
            let modal = egui::Modal::new(egui::Id::unique("confirm")).show(ctx, |ui| {
                ui.heading(title);
                ui.label(question);
                ui.horizontal(|ui| {
                    if ui.button(action).clicked() {
                        Some(Answer::Yes)
                    } else if stronger.is_some_and(|label| ui.button(label).clicked()) {
                        Some(Answer::YesAndMore)
                    } else if ui.button("Cancel").clicked() {
                        Some(Answer::No)
                    } else {
                        None
                    }
                })
                .inner
            });
            let answer = if modal.should_close() {
                Some(Answer::No)
            } else {
                modal.inner
            };
            if let Some(answer) = answer {
                self.confirm = None;
                let more = answer == Answer::YesAndMore;
                if answer != Answer::No {
                    match confirm {
                        Confirm::Clear(page) => self.send(Edit::ClearPage(PageRef::Id(page))),
                        Confirm::Delete(page) => self.send(Edit::DeletePage(PageRef::Id(page))),
                        Confirm::Revoke(role) => self.revoke(role, more),
                    }
                }
            }
        }
        self.export_window(ctx);
        self.relay_window(ctx);
        self.file_window(ctx);
    }

    fn open_save_as(&mut self) {
        let dir = documents_dir();
        let name = self.status.as_ref().map_or_else(
            || "canopy".to_string(),
            |s| format!("canopy-{}", short(&s.session)),
        );
        self.file_dialog = Some((
            FileAction::SaveAs,
            dir.join(format!("{name}.canopy")).display().to_string(),
        ));
    }

    fn open_file(&mut self, file: PathBuf) {
        self.recent = crate::recent::remember(&self.data, &file);
        self.relay_invites = None;
        self.busy = Some(format!("Opening {}…", file.display()));
        let _ = self.control.send(Control::Open(file));
    }

    /// Saves a copy of the session's file (a consistent snapshot, ops and timing).
    fn save_as(&mut self, path: PathBuf) -> Result<PathBuf, String> {
        let path = if path.extension().is_some_and(|e| e == "canopy") {
            path
        } else {
            path.with_extension("canopy")
        };
        let file = self
            .status
            .as_ref()
            .and_then(|s| s.file.clone())
            .ok_or("this session has no file yet")?;
        let store = canopy_node::storage::Store::open_read_only(std::path::Path::new(&file))
            .map_err(|e| e.to_string())?;
        store.copy_to(&path).map_err(|e| e.to_string())?;
        self.recent = crate::recent::remember(&self.data, &path);
        Ok(path)
    }

    fn file_window(&mut self, ctx: &egui::Context) {
        let Some((action, mut path)) = self.file_dialog.take() else {
            return;
        };
        let title = match action {
            FileAction::Open => "Open a Canopy document",
            FileAction::SaveAs => "Save a copy as",
        };
        let mut open = true;
        let mut submit = false;
        dialog_window(title, &mut open).show(ctx, |ui| {
            ui.label("File (.canopy):");
            submit |= focused_field(ui, &mut path);
            if action == FileAction::Open && !self.recent.is_empty() {
                ui.label("Recent:");
                for file in self.recent.clone() {
                    if ui.link(file.display().to_string()).clicked() {
                        path = file.display().to_string();
                    }
                }
            }
            let label = match action {
                FileAction::Open => "Open",
                FileAction::SaveAs => "Save",
            };
            if ui.button(label).clicked() {
                submit = true;
            }
        });
        if submit {
            let chosen = PathBuf::from(path.trim());
            match action {
                FileAction::Open if chosen.exists() => {
                    self.open_file(chosen);
                    open = false;
                }
                FileAction::Open => self.error(format!("{} does not exist", chosen.display())),
                FileAction::SaveAs => match self.save_as(chosen) {
                    Ok(saved) => {
                        self.info(format!("Saved a copy to {}", saved.display()));
                        open = false;
                    }
                    Err(error) => self.error(format!("Save failed: {error}")),
                },
            }
        }
        if open {
            self.file_dialog = Some((action, path));
        }
    }

    fn relay_window(&mut self, ctx: &egui::Context) {
        let Some((mut url, mut title)) = self.relay_dialog.take() else {
            return;
        };
        let mut open = true;
        let mut submit = false;
        dialog_window("Host on a relay", &mut open).show(ctx, |ui| {
            ui.label("The relay host URL your relay's operator gave you (canopy-host://…):");
            ui.add(egui::TextEdit::singleline(&mut url).desired_width(420.0));
            ui.label("Title:");
            ui.add(egui::TextEdit::singleline(&mut title).desired_width(420.0));
            if ui.button("Create and join").clicked() {
                submit = true;
            }
        });
        if submit {
            match url.trim().parse::<canopy_protocol::HostUrl>() {
                Ok(_) => {
                    let _ = self.control.send(Control::HostOnRelay {
                        url: url.trim().to_string(),
                        title: title.trim().to_string(),
                    });
                    self.busy = Some("Creating the session on the relay…".into());
                    open = false;
                }
                Err(error) => self.error(format!("That is not a relay host URL: {error}")),
            }
        }
        if open {
            self.relay_dialog = Some((url, title));
        }
    }

    fn open_export(&mut self, format: &'static str) {
        let dir = documents_dir();
        let name = match format {
            "pdf" => "canopy.pdf".to_string(),
            other => format!("canopy-page-{}.{other}", self.page_index() + 1),
        };
        self.export_dialog = Some(ExportDialog {
            format,
            path: dir.join(name).display().to_string(),
        });
    }

    fn export_window(&mut self, ctx: &egui::Context) {
        let Some(mut dialog) = self.export_dialog.take() else {
            return;
        };
        let mut open = true;
        let mut save = false;
        dialog_window("Export", &mut open).show(ctx, |ui| {
            ui.horizontal(|ui| {
                for (format, label) in [
                    ("png", "This page as PNG"),
                    ("svg", "This page as SVG"),
                    ("pdf", "Every page as PDF"),
                ] {
                    if ui
                        .selectable_label(dialog.format == format, label)
                        .clicked()
                        && dialog.format != format
                    {
                        dialog.format = format;
                        let path = PathBuf::from(&dialog.path).with_extension(format);
                        dialog.path = path.display().to_string();
                    }
                }
            });
            ui.add(egui::TextEdit::singleline(&mut dialog.path).desired_width(420.0));
            if ui.button("Export").clicked() {
                save = true;
            }
        });
        if save {
            let path = PathBuf::from(dialog.path.trim());
            match self.export_to(&path, dialog.format) {
                Ok(()) => {
                    self.info(format!("Exported to {}", path.display()));
                    open = false;
                }
                Err(error) => self.error(format!("Export failed: {error}")),
            }
        }
        if open {
            self.export_dialog = Some(dialog);
        }
    }

    fn export_to(&self, path: &std::path::Path, format: &str) -> Result<(), String> {
        let replica = self.replica.as_ref().ok_or("no document yet")?;
        let bytes = canopy_node::session::render(replica.document(), format, self.page_index())?;
        std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    fn drive(&mut self) -> bool {
        let Some(driver) = &mut self.driver else {
            return false;
        };
        let ready = self.replica.as_ref().is_some_and(|replica| {
            replica.backlog() == 0
                && self
                    .status
                    .as_ref()
                    .is_some_and(|s| replica.document().op_count() >= s.ops)
                && self.fitted
                && self.tiles.is_settled(&self.camera, self.canvas_size)
        });
        let tiles_missing = self.tiles.missing_in_view(&self.camera, self.canvas_size);
        driver.frame(DriveState {
            camera: &mut self.camera,
            ready,
            canvas_size: self.canvas_size,
            document: self.replica.as_ref().map(Replica::document),
            tiles_missing,
        })
    }
}

impl eframe::App for CanopyApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.tiles.set_pixels_per_point(ctx.pixels_per_point());
        self.receive(&ctx);
        self.merge();
        if let Some(index) = self.pending_goto {
            if index < self.pages().len() {
                self.pending_goto = None;
                self.goto(index);
            }
        }
        if self.drive() {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        self.keyboard(&ctx);
        self.microphone(&ctx);
        egui::Panel::top("menu").show(ui, |ui| {
            self.menu(ui);
            self.toolbar(ui);
        });
        egui::Panel::bottom("connection").show(ui, |ui| self.connection_bar(ui));
        egui::Panel::right("side")
            .resizable(false)
            .exact_size(THUMBNAIL_WIDTH + 40.0)
            .show(ui, |ui| self.side_panel(ui, &ctx));
        egui::CentralPanel::default()
            .frame(egui::Frame::NONE)
            .show(ui, |ui| self.canvas(ui));
        self.dialogs(&ctx);
        let busy = self.replica.as_ref().is_some_and(|r| r.backlog() > 0)
            || self.driver.is_some()
            || !self.tiles.is_settled(&self.camera, self.canvas_size);
        if busy {
            ctx.request_repaint();
        }
    }
}

fn stroke_style(stroke: &Stroke) -> (Tool, Color, f32) {
    (stroke.tool(), stroke.color(), stroke.width())
}

fn to_color32(color: Color) -> Color32 {
    Color32::from_rgba_unmultiplied(color.r, color.g, color.b, color.a)
}

fn from_color32(colour: Color32) -> Color {
    let [r, g, b, a] = colour.to_srgba_unmultiplied();
    Color { r, g, b, a }
}

/// A small centred dialog window that closes with its ✕ (`open` becomes false).
fn dialog_window<'a>(title: &'a str, open: &'a mut bool) -> egui::Window<'a> {
    egui::Window::new(title)
        .collapsible(false)
        .resizable(false)
        .open(open)
        .anchor(egui::Align2::CENTER_CENTER, Vec2::ZERO)
}

/// A one-line field that keeps the keyboard focus while its dialog is open; true when
/// Enter was pressed in it.
fn focused_field(ui: &mut egui::Ui, text: &mut String) -> bool {
    let edit = ui.add(egui::TextEdit::singleline(text).desired_width(420.0));
    let enter = ui.input(|i| i.key_pressed(Key::Enter));
    if enter && (edit.lost_focus() || edit.has_focus()) {
        return true;
    }
    if !edit.has_focus() && !edit.lost_focus() {
        edit.request_focus();
    }
    false
}

/// Where documents go by default: the user's documents folder, else home.
fn documents_dir() -> PathBuf {
    directories::UserDirs::new()
        .and_then(|d| {
            d.document_dir()
                .map(PathBuf::from)
                .or_else(|| Some(d.home_dir().to_path_buf()))
        })
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The largest rect of `size`'s shape centred in `area`.
fn fit_into(size: Vec2, area: Rect) -> Rect {
    let scale = (area.width() / size.x.max(1.0)).min(area.height() / size.y.max(1.0));
    Rect::from_center_size(area.center(), size * scale)
}

fn short(session: &str) -> &str {
    session.get(..8).unwrap_or(session)
}

/// A participant's page as people count (from 1). The number comes from a peer's
/// presence, so it may be anything: `u32::MAX` reads as itself, never overflows.
fn page_label(page: u32) -> String {
    format!("p{}", u64::from(page) + 1)
}

#[cfg(test)]
mod page_label_tests {
    use super::page_label;

    #[test]
    fn pages_count_from_one_whatever_a_peer_says() {
        assert_eq!(page_label(0), "p1");
        assert_eq!(page_label(u32::MAX), "p4294967296");
    }
}
