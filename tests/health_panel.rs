//! The editor, rendered headless with egui_kittest. The health panel shows what it is fed (score,
//! quality, counters, incidents, advice) and its buttons report what the user asked for. The
//! whole editor is drawn too, connected to a real plugin instance and a recording stand-in for
//! the host: the mode selector and the bypass change their parameters with one complete gesture
//! each, the meters read a known level, and a bad preset file changes nothing and says why.

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use nice_plug::prelude::Param;
use salve::editor::health::{self, GraphPoint, HealthSnapshot, PanelActions};
use salve::editor::testing::{HostCall, RecordingHost};
use salve::editor::{EDITOR_HEIGHT, EDITOR_WIDTH, SalveApp};
use salve::healer::fleet::SessionView;
use salve::healer::learning::Incident;
use salve::healer::level::{Level, VisTier};
use salve::healer::session::{Measured, Shed};
use salve::healer::{Healer, HealerConfig, Mode, TickInputs};
use salve::params::Healing;
use salve::probe::record::BlockRecord;
use salve::probe::telemetry::Telemetry;
use std::collections::VecDeque;

fn snapshot() -> HealthSnapshot {
    HealthSnapshot {
        score: 0.42,
        load: 0.93,
        level: Some(Level::High),
        heard: Some(Level::High),
        ceiling: Some(Level::Ultra),
        vis: Some(VisTier::Reduced),
        risk: 0.31,
        p99: 0.97,
        worst_load: 1.27,
        worst_pos: Some(96_000),
        worst_played_s: 83.2,
        dropouts_per_min: Some(0.5),
        last_checkpoint_s: Some(36_000 + 12 * 60 + 5),
        healing: None,
        counters: vec![("Overruns", 3), ("NaN restarts", 1)],
        incidents: vec![Incident {
            at_s: 12.5,
            load: 0.95,
            risk: 0.5,
            time_to_recover_s: Some(2.5),
            ..Incident::example(0)
        }],
        breakers: vec![(Level::Ultra, false), (Level::High, true)],
        recommendations: vec!["Raise the host buffer to 256 samples.".into()],
        notice: Some(
            "Recovered after an unexpected shutdown: restored state from 10:00:00 UTC.".into(),
        ),
        healer_available: true,
        export_message: None,
        healer_stale: true,
        session: Some(SessionView {
            instances: 24,
            measured: Measured {
                cycles: 15,
                salve_share: 0.31,
                fill_mean: 0.83,
                fill_peak: 0.91,
                full: 3,
                dropouts: 0,
                blocks: 15 * 24,
                blind: 0,
            },
            cap: Some(Level::High),
            levels: [0, 0, 0, 0, 20, 4],
            last: Some(Shed::Down {
                to: Level::High,
                fill: 0.91,
            }),
        }),
        bypassed: false,
        // The engineers' figures are under "Details": open here, so the test sees them all.
        details_open: true,
    }
}

#[test]
fn the_panel_shows_what_it_is_fed() {
    let s = snapshot();
    let history: VecDeque<GraphPoint> = (0..100)
        .map(|i| GraphPoint {
            mean: 0.5,
            peak: 0.6 + i as f32 / 100.0,
            dropout: i == 50,
        })
        .collect();
    let harness = Harness::new_ui(|ui| {
        health::show(ui, &s, &history);
    });
    for text in [
        "42",
        "Needs attention",
        "DSP load 93 % of the budget (worst 127 % at 1:23, sample 96000)",
        "Dropouts: 0.5 per minute",
        "Last checkpoint 10:12:05 UTC",
        "Display: Reduced",
        "Risk of running out of time: 31 %",
        "Overruns: 3",
        "NaN restarts: 1",
        "Ultra (16x) resting",
        "What you can do: Raise the host buffer to 256 samples.",
        "0:12  The computer ran short of time: Salve went from Ultra (16x) to High (8x). Recovered in 2.5 s.",
        "Quality heard: High (8x)   (your ceiling Ultra (16x))",
        "Salve's load: 93 % of its time (scale up to 200 %)",
        "Recovered after an unexpected shutdown",
        "The healer is not responding",
        "Session: 24 Salve instances take 31 % of each cycle; other work before Salve 52 %; time to spare 17 %.",
        "Instances: 4 at 16x, 20 at 8x.",
        "The session's cycle was 91 % full, so every instance now plays at most 8x.",
    ] {
        harness.get_by_label_contains(text);
    }
}

#[test]
fn a_host_without_a_steady_cycle_shows_salves_share_but_not_the_work_before_it() {
    let mut view = snapshot().session.unwrap();
    view.measured.blind = 12;
    let lines = health::session_lines(&view);
    assert_eq!(
        lines[0],
        "Session: 24 Salve instances take 31 % of each cycle (the host does not call in a \
         steady cycle, so the work before Salve cannot be measured)."
    );
    // One light instance: a share that is there but small is not "0 %".
    view.instances = 1;
    view.measured.salve_share = 0.004;
    assert_eq!(
        health::session_lines(&view)[0],
        "Session: 1 Salve instance takes under 1 % of each cycle (the host does not call in a \
         steady cycle, so the work before Salve cannot be measured)."
    );
}

#[test]
fn the_buttons_report_the_users_requests() {
    let s = snapshot();
    let history = VecDeque::new();
    let mut harness = Harness::new_ui_state(
        |ui, actions: &mut PanelActions| {
            let a = health::show(ui, &s, &history);
            actions.acknowledge |= a.acknowledge;
            actions.reset_learning |= a.reset_learning;
            actions.reset_counters |= a.reset_counters;
            actions.export_report |= a.export_report;
        },
        PanelActions::default(),
    );
    harness.get_by_label("Acknowledge").click();
    harness.run();
    assert!(harness.state().acknowledge);
    assert!(!harness.state().reset_learning);
    harness.get_by_label("Reset learning").click();
    harness.get_by_label("Reset counters").click();
    harness.run();
    assert!(harness.state().reset_learning && harness.state().reset_counters);
    assert!(!harness.state().export_report);
    harness.get_by_label("Export report").click();
    harness.run();
    assert!(harness.state().export_report);
}

#[test]
fn export_report_writes_a_valid_file_and_says_where() {
    let dir = std::env::temp_dir().join(format!("salve-report-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut s = snapshot();
    let path = salve::editor::report::write(&dir, &s).expect("write the report");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).expect("valid JSON");
    assert_eq!(json["quality"], "High (8x)");
    assert_eq!(json["incidents"].as_array().unwrap().len(), 1);
    assert_eq!(json["incidents"][0]["kind"], "Overload");
    assert!((json["health_score"].as_f64().unwrap() - 0.42).abs() < 1e-6);
    // The panel tells the user where it went.
    s.export_message = Some(format!("Report written to {}", path.display()));
    let history = VecDeque::new();
    let harness = Harness::new_ui(|ui| {
        health::show(ui, &s, &history);
    });
    harness.get_by_label_contains("Report written to");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_snapshot_of_a_live_healer_reads_its_state() {
    let (writer, telemetry) = Telemetry::channel();
    writer.score(0.9);
    let mut healer = Healer::new(HealerConfig::default(), Level::Ultra, Default::default());
    healer.start_session(48_000, 64, Level::Ultra);
    let records = vec![
        BlockRecord {
            deadline_ns: 1_333_333,
            samples: 64,
            sample_rate: 48_000.0,
            load: 0.3,
            ratio: 16,
            ..Default::default()
        };
        15
    ];
    healer.tick(
        20_000_000,
        &records,
        TickInputs::playing(Mode::Auto, Level::Ultra),
    );
    let s = HealthSnapshot::capture(&telemetry, Some(&healer.view()), Level::Ultra);
    assert_eq!(s.level, Some(Level::Ultra));
    assert!(s.healer_available && s.incidents.is_empty());
    let history = VecDeque::new();
    let harness = Harness::new_ui(|ui| {
        health::show(ui, &s, &history);
    });
    harness.get_by_label("All well");
    harness.get_by_label_contains("None. Salve has had nothing to fix.");
}

/// The whole editor of a fresh plugin instance, drawn at its default size, with user presets in
/// `preset_dir`.
fn editor(
    preset_dir: &std::path::Path,
) -> (
    salve::Salve,
    std::sync::Arc<RecordingHost>,
    Harness<'static, SalveApp>,
) {
    let plugin = salve::Salve::default();
    let (host, gui) = RecordingHost::new(plugin.editor_shared().params.as_ref());
    let app = SalveApp::with_context(plugin.editor_shared(), gui).with_preset_dir(preset_dir);
    let harness = Harness::builder()
        .with_size(egui::vec2(EDITOR_WIDTH, EDITOR_HEIGHT))
        .build_ui_state(|ui, app: &mut SalveApp| app.draw(ui), app);
    (plugin, host, harness)
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("salve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_mode_selector_changes_the_healing_parameter_with_one_gesture() {
    let dir = temp_dir("mode-selector");
    let (plugin, host, mut harness) = editor(&dir);
    let params = plugin.editor_shared().params;
    assert_eq!(params.healing.value(), Healing::Auto);
    harness.get_by_label("Monitor only").click();
    harness.run();
    assert_eq!(params.healing.value(), Healing::MonitorOnly);
    assert_eq!(
        host.calls(),
        vec![
            HostCall::Begin("healing".into()),
            HostCall::Set("healing".into(), 0.5),
            HostCall::End("healing".into()),
        ]
    );
    // Clicking the mode already chosen asks the host for nothing.
    harness.get_by_label("Monitor only").click();
    harness.run();
    assert_eq!(host.calls().len(), 3);
    harness.get_by_label("Off").click();
    harness.run();
    assert_eq!(params.healing.value(), Healing::Off);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_preset_file_changes_nothing_and_says_why() {
    let dir = temp_dir("bad-preset");
    std::fs::write(dir.join("Broken.json"), b"{ \"drive_db\": 12.0, oops").unwrap();
    let (plugin, host, mut harness) = editor(&dir);
    let params = plugin.editor_shared().params;
    let before: Vec<f32> = [&params.drive, &params.tone, &params.mix, &params.output]
        .iter()
        .map(|p| p.unmodulated_normalized_value())
        .collect();
    // The preset menu reads as its current preset: none yet.
    assert_eq!(preset_title(&harness), "No preset");
    harness.get_by_role(Role::ComboBox).click();
    harness.run();
    harness.get_by_label("Broken").click();
    harness.run();
    harness.get_by_label_contains("This is not a Salve preset file");
    assert!(host.calls().is_empty(), "{:?}", host.calls());
    let after: Vec<f32> = [&params.drive, &params.tone, &params.mix, &params.output]
        .iter()
        .map(|p| p.unmodulated_normalized_value())
        .collect();
    assert_eq!(before, after);
    // A good factory preset from the same menu does reach the host.
    harness.get_by_role(Role::ComboBox).click();
    harness.run();
    harness.get_by_label("Warm Tape").click();
    harness.run();
    assert_eq!(host.calls(), vec![HostCall::SetState]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_bypass_button_sends_one_gesture_each_way() {
    let dir = temp_dir("bypass-button");
    let (plugin, host, mut harness) = editor(&dir);
    let params = plugin.editor_shared().params;
    harness.get_by_label("Bypass").click();
    harness.run();
    assert!(params.bypass.value());
    assert_eq!(
        host.calls(),
        vec![
            HostCall::Begin("bypass".into()),
            HostCall::Set("bypass".into(), 1.0),
            HostCall::End("bypass".into()),
        ]
    );
    // It now reads as bypassed; a click brings the sound back.
    harness.get_by_label("Bypassed").click();
    harness.run();
    assert!(!params.bypass.value());
    assert_eq!(host.calls().len(), 6);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The figures the meters' labels show, input then output: `(peak, rms)` in dB.
fn meter_figures(harness: &Harness<'_, SalveApp>) -> Vec<(f32, f32)> {
    harness
        .query_all_by_label_contains("peak ")
        .map(|node| {
            let text = node.value().unwrap_or_default();
            let numbers: Vec<f32> = text
                .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
                .filter_map(|w| w.parse().ok())
                .collect();
            assert_eq!(numbers.len(), 2, "{text}");
            (numbers[0], numbers[1])
        })
        .collect()
}

#[test]
fn the_meters_read_a_known_level_within_half_a_db() {
    use salve::dsp::{Controls, Engine, Factor};
    use salve::probe::clock::VirtualClock;
    use salve::probe::{BlockInfo, Probe, ProbeConfig};
    // The real path to the meters: the engine's block statistics, the probe, the telemetry, and
    // the editor's meters (a -12 dBFS sine in; dry out at unity gain).
    let plugin = salve::Salve::default();
    let mut shared = plugin.editor_shared();
    let (writer, reader) = Telemetry::channel();
    shared.telemetry = reader;
    let clock = VirtualClock::new();
    let (mut probe, _records) = Probe::new(clock.clone(), ProbeConfig::default(), writer);
    let mut engine = Engine::new(48_000.0, Factor::X1);
    let mut ctl = Controls::default();
    let info = BlockInfo {
        samples: 64,
        sample_rate: 48_000.0,
        realtime: true,
        playing: true,
        position: None,
        loop_range: None,
    };
    let peak = 10f32.powf(-12.0 / 20.0);
    let input: Vec<f32> = (0..48_000)
        .map(|i| peak * (i as f32 * 2.0 * std::f32::consts::PI * 441.0 / 48_000.0).sin())
        .collect();
    let (host, gui) = RecordingHost::new(shared.params.as_ref());
    let mut harness = Harness::builder()
        .with_size(egui::vec2(EDITOR_WIDTH, EDITOR_HEIGHT))
        .build_ui_state(
            |ui, app: &mut SalveApp| app.draw(ui),
            SalveApp::with_context(shared, gui),
        );
    // A second of audio, with a frame of the editor every 12 blocks (16 ms), as when it plays.
    for (i, block) in input.chunks(64).enumerate() {
        let start = probe.begin();
        clock.advance_ns(100_000);
        let (mut l, mut r) = (block.to_vec(), block.to_vec());
        let stats = engine.process(&mut l, Some(&mut r), &mut ctl, |c, _| {
            c.fill(1.0, 0.0, 0.0, 1.0)
        });
        probe.end(start, &info, &stats, 1, Default::default());
        clock.advance_ns(1_233_333);
        if i % 12 == 11 {
            harness.step();
        }
    }
    let rms = -12.0 - 3.01;
    let figures = meter_figures(&harness);
    assert_eq!(figures.len(), 2);
    for (side, (p, r)) in ["In", "Out"].into_iter().zip(figures) {
        assert!((p - -12.0).abs() <= 0.5, "{side} peak {p}");
        assert!((r - rms).abs() <= 0.5, "{side} RMS {r}");
    }
    assert!(host.calls().is_empty());
}

/// The preset bar's title: the current preset's name, `*` when edited.
fn preset_title(harness: &Harness<'_, SalveApp>) -> String {
    harness
        .get_by_role(Role::ComboBox)
        .value()
        .unwrap_or_default()
}

/// A valid user preset file named `name` with `drive_db`.
fn user_preset(dir: &std::path::Path, name: &str, drive_db: f32) -> std::path::PathBuf {
    let preset = salve::presets::Preset {
        name: name.into(),
        description: String::new(),
        drive_db,
        curve: "smooth".into(),
        tone_percent: 0.0,
        mix_percent: 100.0,
        output_db: 0.0,
        oversampling: "auto".into(),
    };
    preset.save(dir).unwrap()
}

#[test]
fn previous_and_next_walk_the_presets_in_order_and_an_edit_is_marked() {
    let dir = temp_dir("preset-walk");
    user_preset(&dir, "Alpha", 3.0);
    user_preset(&dir, "Beta", 6.0);
    let (plugin, host, mut harness) = editor(&dir);
    let mut order: Vec<String> = salve::presets::Preset::factory()
        .into_iter()
        .map(|p| p.name)
        .collect();
    order.extend(["Alpha".into(), "Beta".into()]);
    let mut shown = Vec::new();
    for _ in 0..order.len() + 1 {
        harness.get_by_label(">").click();
        harness.run();
        shown.push(preset_title(&harness));
    }
    let mut expected = order.clone();
    expected.push(order[0].clone());
    assert_eq!(shown, expected, "next walks the list and wraps");
    harness.get_by_label("<").click();
    harness.run();
    assert_eq!(preset_title(&harness), order[order.len() - 1]);
    assert_eq!(
        host.calls().len(),
        order.len() + 2,
        "every step loads one state"
    );
    // Loaded, it sounds as the preset says; an edit marks it.
    let params = plugin.editor_shared().params;
    assert!((params.drive.value() - 10f32.powf(6.0 / 20.0)).abs() < 1e-4);
    let setter = nice_plug::prelude::ParamSetter::new(host.as_ref());
    setter.begin_set_parameter(&params.drive);
    setter.set_parameter(&params.drive, 3.0);
    setter.end_set_parameter(&params.drive);
    harness.run();
    assert_eq!(preset_title(&harness), "Beta *");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn saving_over_a_user_preset_asks_and_cancelling_leaves_the_file_unchanged() {
    let dir = temp_dir("preset-save");
    let path = user_preset(&dir, "Mine", 3.0);
    let before = std::fs::read(&path).unwrap();
    let (plugin, host, mut harness) = editor(&dir);
    // Walk back from the start to the last preset: the user's own.
    harness.get_by_label("<").click();
    harness.run();
    assert_eq!(preset_title(&harness), "Mine");
    let params = plugin.editor_shared().params;
    let setter = nice_plug::prelude::ParamSetter::new(host.as_ref());
    setter.begin_set_parameter(&params.drive);
    setter.set_parameter(&params.drive, 4.0);
    setter.end_set_parameter(&params.drive);
    harness.run();
    harness.get_by_label("Save").click();
    harness.run();
    harness.get_by_label_contains("Replace your preset \"Mine\"?");
    harness.get_by_label("Cancel").click();
    harness.run();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "cancelled: unchanged"
    );
    assert!(
        harness
            .query_by_label_contains("Replace your preset")
            .is_none()
    );
    // Save as under the same name asks too; this time the answer is yes.
    harness.get_by_label("Name").click();
    harness.run();
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.get_by_label("Name").type_text("Mine");
    harness.run();
    harness.get_by_label("Save as").click();
    harness.run();
    harness.get_by_label("Replace").click();
    harness.run();
    let saved = salve::presets::Preset::load(&path).unwrap();
    assert!((saved.drive_db - 12.0).abs() < 0.05, "{}", saved.drive_db);
    assert_eq!(preset_title(&harness), "Mine");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_b_compare_restores_each_slot_exactly() {
    let dir = temp_dir("a-b");
    let (plugin, host, mut harness) = editor(&dir);
    let params = plugin.editor_shared().params;
    let setter = nice_plug::prelude::ParamSetter::new(host.as_ref());
    let set = |param: &nice_plug::prelude::FloatParam, v: f32| {
        setter.begin_set_parameter(param);
        setter.set_parameter(param, v);
        setter.end_set_parameter(param);
    };
    let values = || {
        [
            params.drive.unmodulated_normalized_value(),
            params.curve.unmodulated_normalized_value(),
            params.tone.unmodulated_normalized_value(),
            params.mix.unmodulated_normalized_value(),
            params.output.unmodulated_normalized_value(),
            params.oversampling.unmodulated_normalized_value(),
        ]
    };
    set(&params.drive, 3.3);
    set(&params.tone, -0.37);
    let a = values();
    harness.get_by_label("B").click();
    harness.run();
    assert_eq!(values(), a, "B starts as a copy of A");
    set(&params.drive, 11.7);
    set(&params.output, 0.61);
    let b = values();
    assert_ne!(a, b);
    for _ in 0..2 {
        harness.get_by_label("A").click();
        harness.run();
        assert_eq!(values(), a);
        harness.get_by_label("B").click();
        harness.run();
        assert_eq!(values(), b);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_load_graph_scales_to_what_it_shows_so_one_percent_reads_as_well_as_ninety() {
    let history = |peak: f32| -> VecDeque<GraphPoint> {
        (0..50)
            .map(|_| GraphPoint {
                mean: peak * 0.8,
                peak,
                dropout: false,
            })
            .collect()
    };
    assert_eq!(health::graph_top(&history(0.01)), 0.02);
    assert_eq!(health::graph_top(&history(0.04)), 0.05);
    assert_eq!(health::graph_top(&history(0.3)), 0.5);
    assert_eq!(health::graph_top(&history(0.9)), 1.0);
    assert_eq!(health::graph_top(&history(1.2)), 2.0);
    let mut s = snapshot();
    s.load = 0.012;
    let quiet = history(0.013);
    let harness = Harness::new_ui(|ui| {
        health::show(ui, &s, &quiet);
    });
    harness.get_by_label("Salve's load: 1.2 % of its time (scale up to 2.0 %)");
}

#[test]
fn the_details_section_stays_as_the_user_left_it_when_the_editor_reopens() {
    let dir = temp_dir("details");
    let (plugin, host, mut harness) = editor(&dir);
    // Closed at first: the engineers' counters are not in view.
    assert!(harness.query_by_label_contains("Ring drops").is_none());
    harness.get_by_label("Details").click();
    harness.run();
    harness.get_by_label_contains("Ring drops");
    drop(harness);
    // The editor closes and opens again (a new app on the same plugin): still open.
    let reopen = || {
        let (_, gui) = RecordingHost::new(plugin.editor_shared().params.as_ref());
        let app = SalveApp::with_context(plugin.editor_shared(), gui).with_preset_dir(&dir);
        Harness::builder()
            .with_size(egui::vec2(EDITOR_WIDTH, EDITOR_HEIGHT))
            .build_ui_state(|ui, app: &mut SalveApp| app.draw(ui), app)
    };
    let mut harness = reopen();
    harness.get_by_label_contains("Ring drops");
    harness.get_by_label("Details").click();
    harness.run();
    assert!(harness.query_by_label_contains("Ring drops").is_none());
    drop(harness);
    let harness = reopen();
    assert!(harness.query_by_label_contains("Ring drops").is_none());
    // Opening and closing a section is the editor's own state: nothing asked of the host.
    assert!(host.calls().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_visualizer_says_no_signal_when_there_is_none() {
    let dir = temp_dir("no-signal");
    let (_plugin, _host, harness) = editor(&dir);
    // Nothing played: the spectrum and the scope both say so.
    assert_eq!(harness.query_all_by_label("No signal").count(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_burst_of_the_same_incident_reads_as_one_line_with_its_count() {
    use salve::healer::learning::{Action, IncidentKind, Outcome};
    let dropout = |at_s: f64| Incident {
        at_s,
        kind: IncidentKind::Dropout,
        action: Action::Observe,
        outcome: Outcome::Pending,
        repeats: 0,
        ..Incident::example(0)
    };
    let mut incidents: Vec<Incident> = (0..5).map(|i| dropout(10.0 + i as f64)).collect();
    incidents.push(Incident {
        at_s: 75.0,
        time_to_recover_s: Some(1.5),
        outcome: Outcome::Recovered,
        ..Incident::example(1)
    });
    let lines = health::incident_lines(&incidents, 8);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("1:15  The computer ran short of time"),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[1],
        "0:14  The host's audio dropped out: Salve noted it. Still going on. (5 times since 0:10)"
    );
}

#[test]
fn deleting_a_user_preset_asks_first_and_factory_presets_cannot_be_deleted() {
    let dir = temp_dir("preset-delete");
    let path = user_preset(&dir, "Old", 3.0);
    let (_plugin, _host, mut harness) = editor(&dir);
    // A factory preset: Delete is there but does nothing.
    harness.get_by_label(">").click();
    harness.run();
    harness.get_by_label("Delete").click();
    harness.run();
    assert!(
        harness
            .query_by_label_contains("Delete your preset")
            .is_none()
    );
    // Back from the first preset to the last: the user's own. It asks, and Cancel keeps the file.
    harness.get_by_label("<").click();
    harness.run();
    assert_eq!(preset_title(&harness), "Old");
    harness.get_by_label("Delete").click();
    harness.run();
    harness.get_by_label_contains("Delete your preset \"Old\"?");
    harness.get_by_label("Cancel").click();
    harness.run();
    assert!(path.exists());
    harness.get_by_label("Delete").click();
    harness.run();
    harness.get_by_label("Delete it").click();
    harness.run();
    assert!(!path.exists());
    assert_eq!(preset_title(&harness), "No preset");
    harness.get_by_label_contains("Deleted \"Old\".");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_summary_says_what_is_heard_and_why_in_one_sentence() {
    let mut s = snapshot();
    s.healer_stale = false;
    // The fleet's cap: the healer would play 16x, the session plays 8x.
    s.level = Some(Level::Ultra);
    s.heard = Some(Level::High);
    let text = health::summary(&s);
    assert!(
        text.starts_with(
            "Playing at High (8x) instead of Ultra (16x): the session's audio cycle is nearly full"
        ),
        "{text}"
    );
    // All well at the ceiling.
    s.session = None;
    s.heard = Some(Level::Ultra);
    s.incidents.clear();
    s.load = 0.12;
    assert_eq!(
        health::summary(&s),
        "Playing at Ultra (16x), your full quality, using 12 % of its time."
    );
    // A light load reads as the load line under it reads it (0.3 %, not 0 %).
    s.load = 0.003;
    assert_eq!(
        health::summary(&s),
        "Playing at Ultra (16x), your full quality, using 0.3 % of its time."
    );
    s.load = 0.12;
    s.bypassed = true;
    assert_eq!(
        health::summary(&s),
        "Bypassed: the sound passes through untouched."
    );
}
