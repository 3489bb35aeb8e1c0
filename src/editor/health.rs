//! The health panel: what the probe and the healer know, in calm words and colours, with the
//! few controls a musician needs. The top lines say how things are in one sentence, show the
//! load on a scale that reads at 1 % as at 90 %, the quality heard and any advice; the figures
//! for engineers (p99, breakers, counters) wait under "Details".

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
    /// The level the instance's healer chose...
    pub level: Option<Level>,
    /// ...the level heard (the engine's, from the probe: under the fleet's cap, or safe mode),
    /// once blocks have played...
    pub heard: Option<Level>,
    /// ...and the user's ceiling.
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
    /// The host bypasses Salve.
    pub bypassed: bool,
    /// Whether the "Details" section is open (the editor remembers it with the plugin state).
    pub details_open: bool,
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
            heard: (telemetry.blocks() > 0).then(|| Level::from_ratio(telemetry.ratio())),
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
    /// The user opened (`true`) or closed the "Details" section.
    pub details_open: Option<bool>,
}

/// Calm unless action is needed.
fn score_colour(score: f32) -> Color32 {
    if score >= 0.8 {
        super::style::SAGE
    } else if score >= 0.5 {
        super::style::AMBER
    } else {
        super::style::CORAL
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

/// `m:ss` for a duration in seconds.
fn minutes_seconds(s: f32) -> String {
    let s = s.max(0.0) as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

/// Draws the load graph, mean and peak per frame, on a scale up to `top` (see [`graph_top`]),
/// with the budget line when the scale reaches it.
fn load_graph(ui: &mut egui::Ui, history: &VecDeque<GraphPoint>, top: f32) {
    let size = egui::vec2(ui.available_width().max(200.0), 70.0);
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, Color32::from_gray(28));
    let y = |load: f32| rect.bottom() - (load.clamp(0.0, top) / top) * rect.height();
    // Grid: a quarter, half and three quarters of the scale, labelled.
    let grid = Color32::from_gray(60);
    for share in [0.25f32, 0.5, 0.75, 1.0] {
        let at = y(top * share);
        painter.line_segment(
            [egui::pos2(rect.left(), at), egui::pos2(rect.right(), at)],
            egui::Stroke::new(1.0, grid),
        );
        painter.text(
            egui::pos2(rect.right() - 3.0, at + 1.0),
            egui::Align2::RIGHT_TOP,
            grid_label(top * share),
            egui::FontId::proportional(10.0),
            Color32::from_gray(150),
        );
    }
    if top >= 1.0 {
        let budget = y(1.0);
        painter.line_segment(
            [
                egui::pos2(rect.left(), budget),
                egui::pos2(rect.right(), budget),
            ],
            egui::Stroke::new(1.5, Color32::from_rgb(200, 90, 80)),
        );
    }
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
                egui::Stroke::new(2.0, super::style::CORAL),
            );
        }
        if point.dropout {
            // A dropout: an amber tick at the bottom.
            painter.line_segment(
                [
                    egui::pos2(x, rect.bottom() - 6.0),
                    egui::pos2(x, rect.bottom()),
                ],
                egui::Stroke::new(2.0, super::style::AMBER),
            );
        }
    }
}

/// What happened, as one sentence with its time: "0:12  The computer ran short of time: Salve
/// went from Ultra (16x) to High (8x). Recovered in 2.5 s."
pub fn incident_sentence(i: &Incident) -> String {
    use crate::healer::learning::IncidentKind as K;
    let what = match i.kind {
        K::Overload => "The computer ran short of time",
        K::OutsideSpike => "Something outside Salve held up the audio",
        K::Dropout => "The host's audio dropped out",
        K::NonFinite => "The sound turned invalid (NaN)",
        K::Panic => "Salve's sound engine failed",
        K::SlowGui => "The display was slow",
        K::Crash => "The host shut down unexpectedly",
        K::HealerFault => "Salve's healer hit a fault",
        K::Journal => "Salve could not save its crash journal",
    };
    let did = match &i.action {
        Action::Observe => "Salve noted it".to_owned(),
        Action::StepDown { from, to } => {
            format!("Salve went from {} to {}", from.label(), to.label())
        }
        Action::SafeMode => "Salve played it safe (the clean sound)".to_owned(),
        Action::ShedVisualizer => "Salve lightened the display".to_owned(),
        Action::Revert { to } => format!("Salve went back to {}", to.label()),
        Action::Recommend => "Salve gave advice".to_owned(),
        Action::WouldStepDown { from, to } => format!(
            "Salve would have gone from {} to {} (monitor only)",
            from.label(),
            to.label()
        ),
    };
    let outcome = match i.outcome {
        Outcome::Pending => " Still going on.".to_owned(),
        Outcome::Recovered => format!(
            " Recovered in {:.1} s.",
            i.time_to_recover_s.unwrap_or_default()
        ),
        Outcome::NotHelping => " That did not help.".to_owned(),
    };
    let repeats = match i.repeats {
        0 => String::new(),
        n => format!(" ({} times in all)", n + 1),
    };
    format!(
        "{}  {what}: {did}.{outcome}{repeats}",
        minutes_seconds(i.at_s as f32)
    )
}

/// The incidents as sentences, newest first, at most `max` lines: a run of the same thing
/// (a burst of host dropouts) is one line that says how many and since when.
pub fn incident_lines(incidents: &[Incident], max: usize) -> Vec<String> {
    let same = |a: &Incident, b: &Incident| {
        a.kind == b.kind && a.action == b.action && a.outcome == b.outcome
    };
    let mut lines = Vec::new();
    let mut newest = incidents.iter().rev().peekable();
    while let Some(first) = newest.next() {
        if lines.len() == max {
            break;
        }
        let mut count = 1 + first.repeats;
        let (mut since, mut last) = (first.at_s, first.at_s);
        while let Some(next) = newest.next_if(|n| same(n, first)) {
            count += 1 + next.repeats;
            since = since.min(next.at_s);
            last = last.max(next.at_s);
        }
        lines.push(if count > 1 {
            let one = Incident {
                repeats: 0,
                at_s: last,
                ..*first
            };
            format!(
                "{} ({count} times since {})",
                incident_sentence(&one),
                minutes_seconds(since as f32)
            )
        } else {
            incident_sentence(first)
        });
    }
    lines
}

/// The one calm sentence under the score: what is happening and what Salve did about it.
pub fn summary(s: &HealthSnapshot) -> String {
    if s.healer_stale {
        return "The healer is not responding; the sound keeps its current quality. Reopening \
                the plugin restarts it."
            .into();
    }
    if s.bypassed {
        return "Bypassed: the sound passes through untouched.".into();
    }
    if !s.healer_available {
        return "Salve is not processing audio right now.".into();
    }
    let (Some(chosen), Some(ceiling)) = (s.level, s.ceiling) else {
        return "Salve is starting.".into();
    };
    let level = s.heard.unwrap_or(chosen);
    let latest = s.incidents.last().filter(|i| i.outcome == Outcome::Pending);
    let capped = matches!(
        s.session.as_ref().and_then(|v| v.last),
        Some(crate::healer::session::Shed::Down { .. })
    );
    if level < ceiling && level > Level::Safe && capped {
        return format!(
            "Playing at {} instead of {}: the session's audio cycle is nearly full, so every \
             Salve plays lower to make room. Salve tries higher again when there is room.",
            level.label(),
            ceiling.label()
        );
    }
    if latest.is_some_and(|i| i.kind == crate::healer::learning::IncidentKind::Dropout) {
        return format!(
            "The host's audio is dropping out. Salve plays at {} and takes little of the time, so \
             lowering its quality would not help; see what you can do below.",
            level.label()
        );
    }
    if level == Level::Safe {
        return "Salve is playing it safe (the clean sound) after a fault; it brings its \
                saturation back step by step."
            .into();
    }
    if level < ceiling {
        let why = match latest.map(|i| i.kind) {
            Some(crate::healer::learning::IncidentKind::Crash) => "after the unexpected shutdown",
            _ => "to keep the session running",
        };
        return format!(
            "Playing at {} instead of {} {why}; Salve tries higher again when there is room.",
            level.label(),
            ceiling.label()
        );
    }
    // The same figure, rounded the same way, as the load line under it.
    format!(
        "Playing at {}, your full quality, using {} of its time.",
        level.label(),
        percent(s.load)
    )
}

/// The graph's scale: the highest load it shows, a round step above what it holds, so that 1 %
/// fills it as readably as 90 %.
pub fn graph_top(history: &VecDeque<GraphPoint>) -> f32 {
    let highest = history
        .iter()
        .map(|p| p.peak.max(p.mean))
        .fold(0.0, f32::max);
    // Round tops; the grid marks their quarters.
    const TOPS: [f32; 7] = [0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0];
    TOPS.into_iter()
        .find(|&t| highest <= t * 0.9)
        .unwrap_or(2.0)
}

/// A grid mark: `12.5 %`, `25 %`, `0.5 %` (a decimal only where the mark has one).
fn grid_label(load: f32) -> String {
    let text = format!("{:.1}", load * 100.0);
    format!("{} %", text.strip_suffix(".0").unwrap_or(&text))
}

/// `12 %`, with a decimal below 10 %.
fn percent(load: f32) -> String {
    if load < 0.1 {
        format!("{:.1} %", load * 100.0)
    } else {
        format!("{:.0} %", load * 100.0)
    }
}

/// The health panel. The top says how things are in words; what engineers want is under
/// "Details", which stays open or closed as the user left it.
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
    ui.label(RichText::new(summary(s)).size(13.0));
    if let Some(n) = &s.notice {
        ui.label(RichText::new(n).color(super::style::AMBER));
    }
    let top = graph_top(history);
    ui.label(format!(
        "Salve's load: {} of its time (scale up to {})",
        percent(s.load),
        percent(top)
    ))
    .on_hover_text(
        "The share of each audio block's time Salve used, frame by frame: blue the average, \
         white the peak. Red marks a block over its time; amber a host dropout. The red line is \
         the budget, 100 %, shown when the scale reaches it.",
    );
    load_graph(ui, history, top);
    let heard = if s.bypassed {
        "Bypassed".to_owned()
    } else {
        s.heard
            .or(s.level)
            .map_or("-".to_owned(), |l| l.label().to_owned())
    };
    ui.label(format!(
        "Quality heard: {heard}   (your ceiling {})",
        s.ceiling.map_or("-", Level::label)
    ))
    .on_hover_text("The oversampling playing now, and the highest you allow (Oversampling).");
    for r in &s.recommendations {
        ui.label(RichText::new(format!("What you can do: {r}")).strong());
    }
    if let Some(view) = &s.session {
        for line in session_lines(view) {
            ui.label(line).on_hover_text(
                "Every Salve instance in this host shares one healer. It sees where its calls \
                 land in the host's audio cycle: the work before them, their own time, and the \
                 time left. Work after the last Salve in the cycle shows only as dropouts.",
            );
        }
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
    if let Some(m) = &s.export_message {
        ui.label(m);
    }
    ui.separator();
    ui.label(RichText::new("What happened").strong());
    if s.incidents.is_empty() {
        ui.label("None. Salve has had nothing to fix.");
    }
    for line in incident_lines(&s.incidents, 8) {
        ui.label(line);
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
    });
    let details = egui::CollapsingHeader::new("Details")
        .open(Some(s.details_open))
        .show(ui, |ui| details(ui, s, &mut actions));
    if details.header_response.clicked() {
        actions.details_open = Some(!s.details_open);
    }
    actions
}

/// Everything for engineers: load figures, risk, counters, breakers, checkpoints.
fn details(ui: &mut egui::Ui, s: &HealthSnapshot, actions: &mut PanelActions) {
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
    if s.healer_available {
        ui.label(format!("Display: {}", s.vis.map_or("-", VisTier::label)))
            .on_hover_text(
                "How much of the visualizer Salve draws; it lightens it first when time is short.",
            );
        ui.label(format!(
            "Risk of running out of time: {:.0} %   p99 load {:.0} %",
            s.risk * 100.0,
            s.p99 * 100.0
        ))
        .on_hover_text("Predicted from the recent load, its spread and its trend.");
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
                    ("resting", super::style::AMBER)
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
    if ui
        .button("Reset learning")
        .on_hover_text("Forget which quality levels held on this machine and which fixes worked.")
        .clicked()
    {
        actions.reset_learning = true;
    }
}

/// A share of the cycle in whole percent; "under 1 %" rather than "0 %" for a share that is
/// there but small (one instance of a light session).
fn share_words(share: f32) -> String {
    if share > 0.0 && share < 0.005 {
        "under 1 %".into()
    } else {
        format!("{:.0} %", share * 100.0)
    }
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
    if m.cycles > 0 && m.blind * 2 > m.cycles {
        lines.push(format!(
            "Session: {instances} {} of each cycle (the host does not call in a steady cycle, \
             so the work before Salve cannot be measured).",
            share_words(m.salve_share)
        ));
    } else if m.cycles > 0 {
        lines.push(format!(
            "Session: {instances} {} of each cycle; other work before Salve {}; time to spare \
             {}.",
            share_words(m.salve_share),
            share_words(m.before_share()),
            share_words(m.spare_share())
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
            "At moments the host's cycle was nearly full with other work; Salve takes too \
             little of it to make room. A larger host buffer would give everything more time."
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
