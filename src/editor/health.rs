//! The health panel: what the probe and the healer know, in calm words and colours, with the
//! few controls a musician needs (acknowledge, reset learning, reset counters).

use crate::healer::learning::{Action, Incident, Outcome};
use crate::healer::level::{Level, VisTier};
use crate::healer::view::HealerView;
use crate::params::Healing;
use crate::probe::events::EventKind;
use crate::probe::telemetry;
use egui::{Color32, RichText};
use std::collections::VecDeque;

/// How many GUI frames the load graph shows.
pub const GRAPH_FRAMES: usize = 240;

/// One GUI frame of the load graph.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GraphPoint {
    /// The smoothed load when the frame was drawn.
    pub mean: f32,
    /// The highest block load since the previous frame.
    pub peak: f32,
    /// A dropout (callback gap or transport jump) happened since the previous frame.
    pub dropout: bool,
}

/// Everything the panel shows, captured once per frame (so the drawing code is pure and
/// testable).
#[derive(Debug, Clone, Default)]
pub struct HealthSnapshot {
    pub score: f32,
    pub load: f32,
    pub level: Option<Level>,
    pub ceiling: Option<Level>,
    pub vis: Option<VisTier>,
    pub risk: f32,
    pub p99: f32,
    pub worst_load: f32,
    pub worst_pos: Option<i64>,
    /// When the worst block happened, in seconds of audio played since the reset.
    pub worst_played_s: f32,
    /// Dropouts per minute of audio played, once there is enough to say.
    pub dropouts_per_min: Option<f32>,
    /// When the session was last checkpointed (Unix seconds, UTC).
    pub last_checkpoint_s: Option<u64>,
    /// The healing mode, for the selector (hidden when `None`).
    pub healing: Option<Healing>,
    pub counters: Vec<(&'static str, u64)>,
    pub incidents: Vec<Incident>,
    pub breakers: Vec<(Level, bool)>,
    pub recommendations: Vec<String>,
    pub notice: Option<String>,
    pub healer_available: bool,
    /// The outcome of the last "Export report", for the user.
    pub export_message: Option<String>,
    /// The healer has stopped responding (the sound keeps its last setting).
    pub healer_stale: bool,
    /// The whole session, as the fleet of Salve instances sees it.
    pub session: Option<crate::healer::fleet::SessionView>,
}

impl HealthSnapshot {
    pub fn capture(
        telemetry: &telemetry::Reader,
        healer: Option<&HealerView>,
        ceiling: Level,
    ) -> Self {
        let counted = [
            ("Overruns", EventKind::Overrun),
            ("Near misses", EventKind::NearMiss),
            ("Callback gaps", EventKind::CallbackGap),
            ("Transport jumps", EventKind::TransportJump),
            ("NaN restarts", EventKind::NonFinite),
            ("Limiter", EventKind::Limiter),
            ("Panics", EventKind::Panic),
        ];
        let mut counters: Vec<(&'static str, u64)> = counted
            .iter()
            .map(|(l, k)| (*l, telemetry.count(*k)))
            .collect();
        counters.push(("Ring drops", telemetry.ring_drops()));
        let worst = telemetry.worst();
        let mut s = Self {
            session: crate::healer::fleet::session_view(),
            score: telemetry.score(),
            load: telemetry.load_smoothed(),
            ceiling: Some(ceiling),
            worst_load: worst.load,
            worst_pos: worst.position,
            worst_played_s: worst.played_s,
            dropouts_per_min: telemetry.dropouts_per_minute(),
            counters,
            ..Default::default()
        };
        if let Some(h) = healer.filter(|h| h.available) {
            s.healer_available = true;
            s.level = Some(h.level);
            s.vis = Some(h.vis);
            s.risk = h.risk;
            s.p99 = h.p99;
            s.incidents.clone_from(&h.incidents);
            s.breakers.clone_from(&h.breakers);
            s.recommendations.clone_from(&h.recommendations);
            s.notice.clone_from(&h.notice);
        }
        s
    }
}

/// What the user asked for in this frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PanelActions {
    pub acknowledge: bool,
    pub reset_learning: bool,
    pub reset_counters: bool,
    pub export_report: bool,
    /// The healing mode the user picked.
    pub set_healing: Option<Healing>,
}

/// Calm unless action is needed.
fn score_colour(score: f32) -> Color32 {
    if score >= 0.8 {
        Color32::from_rgb(110, 190, 130)
    } else if score >= 0.5 {
        Color32::from_rgb(220, 180, 90)
    } else {
        Color32::from_rgb(220, 110, 100)
    }
}

fn score_words(score: f32) -> &'static str {
    if score >= 0.8 {
        "All well"
    } else if score >= 0.5 {
        "Working hard"
    } else {
        "Needs attention"
    }
}

fn action_text(a: &Action) -> String {
    match a {
        Action::Observe => "noted".into(),
        Action::StepDown { from, to } => format!("{} to {}", from.label(), to.label()),
        Action::SafeMode => "safe mode".into(),
        Action::ShedVisualizer => "lighter display".into(),
        Action::Revert { to } => format!("back to {}", to.label()),
        Action::Recommend => "advice given".into(),
        Action::WouldStepDown { from, to } => {
            format!("would go {} to {}", from.label(), to.label())
        }
    }
}

/// `m:ss` for a duration in seconds.
fn minutes_seconds(s: f32) -> String {
    let s = s.max(0.0) as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

/// Draws the load graph: mean and peak per frame against the budget line.
fn load_graph(ui: &mut egui::Ui, history: &VecDeque<GraphPoint>) {
    let size = egui::vec2(ui.available_width().max(200.0), 70.0);
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, Color32::from_gray(28));
    let y = |load: f32| rect.bottom() - (load.clamp(0.0, 1.5) / 1.5) * rect.height();
    let budget = y(1.0);
    painter.line_segment(
        [
            egui::pos2(rect.left(), budget),
            egui::pos2(rect.right(), budget),
        ],
        egui::Stroke::new(1.0, Color32::from_rgb(200, 90, 80)),
    );
    let dx = rect.width() / GRAPH_FRAMES as f32;
    for (i, point) in history.iter().enumerate() {
        let (mean, peak) = (&point.mean, &point.peak);
        let x = rect.left() + i as f32 * dx;
        painter.line_segment(
            [egui::pos2(x, rect.bottom()), egui::pos2(x, y(*mean))],
            egui::Stroke::new(dx.max(1.0), Color32::from_rgb(90, 140, 200)),
        );
        painter.line_segment(
            [egui::pos2(x, y(*peak)), egui::pos2(x, y(*peak) + 1.5)],
            egui::Stroke::new(dx.max(1.0), Color32::from_rgb(230, 230, 230)),
        );
        if *peak > 1.0 {
            // An overrun: a red tick at the top.
            painter.line_segment(
                [egui::pos2(x, rect.top()), egui::pos2(x, rect.top() + 6.0)],
                egui::Stroke::new(2.0, Color32::from_rgb(220, 110, 100)),
            );
        }
        if point.dropout {
            // A dropout: an amber tick at the bottom.
            painter.line_segment(
                [
                    egui::pos2(x, rect.bottom() - 6.0),
                    egui::pos2(x, rect.bottom()),
                ],
                egui::Stroke::new(2.0, Color32::from_rgb(220, 180, 90)),
            );
        }
    }
}

/// The health panel.
pub fn show(ui: &mut egui::Ui, s: &HealthSnapshot, history: &VecDeque<GraphPoint>) -> PanelActions {
    let mut actions = PanelActions::default();
    ui.horizontal(|ui| {
        ui.label(
            RichText::new(format!("{:.0}", s.score * 100.0))
                .size(28.0)
                .color(score_colour(s.score)),
        )
        .on_hover_text(
            "Health score, 0-100: load above 70 %, overruns, dropouts and faults lower it.",
        );
        ui.label(RichText::new(score_words(s.score)).size(16.0));
    });
    if let Some(m) = &s.export_message {
        ui.label(m);
    }
    if let Some(n) = &s.notice {
        ui.label(RichText::new(n).color(Color32::from_rgb(220, 180, 90)));
    }
    if let Some(current) = s.healing {
        ui.horizontal(|ui| {
            ui.label("Healing:").on_hover_text(
                "Auto adapts the quality to keep the session running; Monitor only reports what \
                 it would do; Off plays as set.",
            );
            for (mode, text) in [
                (Healing::Auto, "Auto"),
                (Healing::MonitorOnly, "Monitor only"),
                (Healing::Off, "Off"),
            ] {
                if ui.selectable_label(current == mode, text).clicked() && current != mode {
                    actions.set_healing = Some(mode);
                }
            }
        });
    }
    let worst_time = if s.worst_load > 0.0 {
        format!(" at {}", minutes_seconds(s.worst_played_s))
    } else {
        String::new()
    };
    ui.label(format!(
        "DSP load {:.0} % of the budget (worst {:.0} %{worst_time}{})",
        s.load * 100.0,
        s.worst_load * 100.0,
        s.worst_pos
            .map(|p| format!(", sample {p}"))
            .unwrap_or_default()
    ))
    .on_hover_text(
        "The share of each block's time Salve used. The worst block is timed in audio played \
         since the counters were reset.",
    );
    load_graph(ui, history);
    if let Some(view) = &s.session {
        for line in session_lines(view) {
            ui.label(line).on_hover_text(
                "Every Salve instance in this host shares one healer. It sees where its calls \
                 land in the host's audio cycle: the work before them, their own time, and the \
                 time left. Work after the last Salve in the cycle shows only as dropouts.",
            );
        }
    }
    ui.horizontal_wrapped(|ui| {
        match s.dropouts_per_min {
            Some(d) => ui.label(format!("Dropouts: {d:.1} per minute")),
            None => ui.label("Dropouts: measuring"),
        }
        .on_hover_text("Callback gaps and transport jumps per minute of audio played.");
        match s.last_checkpoint_s {
            Some(t) => ui.label(format!("Last checkpoint {}", crate::wall_clock::text(t))),
            None => ui.label("No checkpoint yet this session"),
        }
        .on_hover_text(
            "Salve saves its healing session every few seconds while audio plays, so it can \
             start safe after a crash.",
        );
    });
    if s.healer_stale {
        ui.label(
            RichText::new(
                "The healer is not responding; the sound keeps its current quality. \
                 Reopening the plugin restarts it.",
            )
            .color(Color32::from_rgb(220, 180, 90)),
        );
    }
    if s.healer_available {
        ui.label(format!(
            "Quality: {}   (ceiling {})   Display: {}",
            s.level.map_or("-", Level::label),
            s.ceiling.map_or("-", Level::label),
            s.vis.map_or("-", VisTier::label),
        ));
        ui.label(format!(
            "Risk of running out of time: {:.0} %   p99 load {:.0} %",
            s.risk * 100.0,
            s.p99 * 100.0
        ))
        .on_hover_text("Predicted from the recent load, its spread and its trend.");
    } else {
        ui.label("Healer: not running (the plugin is not processing).");
    }
    ui.horizontal_wrapped(|ui| {
        for (label, n) in &s.counters {
            // Whole counters move to the next line; a counter never breaks in two.
            ui.add(egui::Label::new(format!("{label}: {n}")).wrap_mode(egui::TextWrapMode::Extend));
        }
        if ui.small_button("Reset counters").clicked() {
            actions.reset_counters = true;
        }
    });
    if !s.breakers.is_empty() {
        ui.horizontal_wrapped(|ui| {
            ui.label("Breakers:");
            for (level, closed) in &s.breakers {
                let (text, colour) = if *closed {
                    ("ok", Color32::from_gray(160))
                } else {
                    ("resting", Color32::from_rgb(220, 180, 90))
                };
                ui.add(
                    egui::Label::new(
                        RichText::new(format!("{} {text}", level.label())).color(colour),
                    )
                    .wrap_mode(egui::TextWrapMode::Extend),
                );
            }
        });
    }
    for r in &s.recommendations {
        ui.label(RichText::new(format!("What you can do: {r}")).strong());
    }
    ui.separator();
    ui.label(RichText::new("Recent incidents").strong());
    if s.incidents.is_empty() {
        ui.label("None. Salve has had nothing to fix.");
    }
    for i in &s.incidents {
        let outcome = match i.outcome {
            Outcome::Pending => "ongoing".to_owned(),
            Outcome::Recovered => format!(
                "recovered in {:.1} s",
                i.time_to_recover_s.unwrap_or_default()
            ),
            Outcome::NotHelping => "did not help".to_owned(),
        };
        let repeats = match i.repeats {
            0 => String::new(),
            n => format!(", {} times in all", n + 1),
        };
        ui.label(format!(
            "{:>7.1} s  {}: {} ({outcome}{repeats})",
            i.at_s,
            i.kind.label(),
            action_text(&i.action)
        ));
    }
    ui.horizontal(|ui| {
        if ui
            .button("Acknowledge")
            .on_hover_text("Clear the advice shown above.")
            .clicked()
        {
            actions.acknowledge = true;
        }
        if ui
            .button("Export report")
            .on_hover_text("Write the incidents and statistics to a JSON file.")
            .clicked()
        {
            actions.export_report = true;
        }
        if ui
            .button("Reset learning")
            .on_hover_text(
                "Forget which quality levels held on this machine and which fixes worked.",
            )
            .clicked()
        {
            actions.reset_learning = true;
        }
    });
    actions
}

/// The session in plain words: who takes how much of each cycle, what quality the instances
/// play, and what the fleet did.
pub fn session_lines(view: &crate::healer::fleet::SessionView) -> Vec<String> {
    use crate::healer::session::Shed;
    let mut lines = Vec::new();
    let m = &view.measured;
    let instances = match view.instances {
        1 => "1 Salve instance takes".to_string(),
        n => format!("{n} Salve instances take"),
    };
    if m.cycles > 0 {
        lines.push(format!(
            "Session: {instances} {:.0} % of each cycle; other work before Salve {:.0} %; time \
             to spare {:.0} %.",
            m.salve_share * 100.0,
            m.before_share() * 100.0,
            m.spare_share() * 100.0
        ));
    } else {
        lines.push(format!(
            "Session: {} Salve instance{} (the host does not call in a steady cycle, so the \
             cycle cannot be measured).",
            view.instances,
            if view.instances == 1 { "" } else { "s" }
        ));
    }
    let playing: Vec<String> = Level::ALL
        .iter()
        .rev()
        .filter(|l| view.levels[**l as usize] > 0)
        .map(|l| {
            let n = view.levels[*l as usize];
            match l.factor() {
                Some(f) => format!("{n} at {}x", f.ratio()),
                None => format!("{n} in safe mode"),
            }
        })
        .collect();
    if !playing.is_empty() {
        lines.push(format!("Instances: {}.", playing.join(", ")));
    }
    match view.last {
        Some(Shed::Down { to, fill }) => lines.push(format!(
            "The session's cycle was {:.0} % full, so every instance now plays at most {}x.",
            fill * 100.0,
            to.ratio()
        )),
        Some(Shed::Up { to }) => lines.push(format!(
            "The session has room again: trying {}x for every instance.",
            to.ratio()
        )),
        Some(Shed::Advise { dropouts: true }) => lines.push(
            "Dropouts come from other work: Salve takes too little of the cycle to help. A \
             larger host buffer would."
                .into(),
        ),
        Some(Shed::Advise { dropouts: false }) => lines.push(
            "The host's cycle is nearly full with other work; Salve takes too little of it to \
             make room. A larger host buffer would give everything more time."
                .into(),
        ),
        Some(Shed::Helpless) => lines.push(
            "Lowering Salve's quality did not stop the dropouts, so it is back. A larger host \
             buffer would help."
                .into(),
        ),
        None => {}
    }
    lines
}
