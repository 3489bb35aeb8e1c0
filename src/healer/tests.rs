//! The healer in simulated sessions (see [`super::sim`]): every scenario is deterministic
//! (virtual clock, seeded jitter) and compared with the healer Off where the issue asks.

use super::learning::{Action, IncidentKind, Learned};
use super::level::{Level, VisTier};
use super::sim::{Sim, Stress};
use super::*;
use crate::probe::record::BlockRecord;

fn run(mode: Mode, stress: Stress, seconds: f64) -> Sim {
    let mut sim = Sim::new(mode, stress, Learned::default(), 7);
    sim.run(seconds);
    sim
}

fn report(name: &str, auto: &Sim, off: &Sim) {
    println!(
        "{name:<12} Auto: overruns {:>5}, first overrun {:>7}, first downgrade {:>7}, mean factor {:>5.2}, changes {:>3} | Off: overruns {:>5}, first overrun {:>7}",
        auto.overruns(),
        fmt_t(auto.first_overrun()),
        fmt_t(auto.first_downgrade()),
        auto.mean_factor(),
        auto.level_changes().len(),
        off.overruns(),
        fmt_t(off.first_overrun()),
    );
}

fn fmt_t(t: Option<f64>) -> String {
    t.map_or("-".into(), |t| format!("{t:.3}s"))
}

#[test]
fn clean_load_for_ten_minutes_never_downgrades() {
    let sim = run(Mode::Auto, Stress::Clean, 600.0);
    let off = run(Mode::Off, Stress::Clean, 600.0);
    report("clean", &sim, &off);
    assert_eq!(sim.first_downgrade(), None);
    assert_eq!(sim.overruns(), 0);
    assert_eq!(sim.healer.tier_changes, 0);
}

#[test]
fn a_step_slowdown_costs_at_most_four_overruns_and_three_periods_and_recovers() {
    let fault = Stress::Step {
        factor: 3.0,
        from_s: 5.0,
        until_s: 35.0,
    };
    let sim = run(Mode::Auto, fault, 60.0);
    let off = run(Mode::Off, fault, 60.0);
    report("step x3", &sim, &off);
    println!(
        "step x3: late {:.2} periods, worst block {:.2}",
        sim.late_periods(),
        sim.worst_load()
    );
    // Two overruns before the reflex, two while its urgent switch warms and fades, with no block
    // costing more than the two tiers' work (it used to be 3 overruns, one of them a block of
    // 4.9 periods: 4.3 periods late in all).
    assert!(sim.overruns() <= 4, "{} overruns", sim.overruns());
    assert!(
        sim.late_periods() <= 3.0,
        "{} periods late",
        sim.late_periods()
    );
    assert!(
        sim.worst_load() <= 3.0,
        "a block of {} periods",
        sim.worst_load()
    );
    assert!(off.overruns() > 1000);
    // Back at the original level within 10 s of the fault's end, and calm about it.
    let back = sim
        .steps
        .iter()
        .filter(|s| s.t >= 35.0 && s.level == Level::Ultra)
        .map(|s| s.t)
        .next()
        .expect("never returned to Ultra");
    assert!(back - 35.0 <= 10.0, "back after {:.1} s", back - 35.0);
    assert!(sim.steps.last().unwrap().level == Level::Ultra);
    assert!(
        sim.max_changes_per_minute() <= 6,
        "{:?}",
        sim.level_changes()
    );
}

#[test]
fn a_ramp_is_predicted_before_the_first_overrun() {
    let fault = Stress::Ramp {
        to: 4.0,
        from_s: 2.0,
        until_s: 22.0,
    };
    let sim = run(Mode::Auto, fault, 30.0);
    let off = run(Mode::Off, fault, 30.0);
    report("ramp 1-4", &sim, &off);
    let first_off = off
        .first_overrun()
        .expect("the ramp overruns without healing");
    let downgrade = sim.first_downgrade().expect("no downgrade");
    assert!(
        downgrade <= first_off - 0.25,
        "downgrade at {downgrade:.3} s, first overrun (Off) at {first_off:.3} s"
    );
    assert!(
        sim.overruns() as f64 <= off.overruns() as f64 * 0.01,
        "{} vs {}",
        sim.overruns(),
        off.overruns()
    );
    assert!(
        sim.max_changes_per_minute() <= 6,
        "{:?}",
        sim.level_changes()
    );
}

#[test]
fn outside_preemption_is_learned_and_not_fought_with_downgrades() {
    let fault = Stress::Preemption {
        period_s: 2.0,
        extra_s: 0.002,
    };
    let sim = run(Mode::Auto, fault, 60.0);
    let off = run(Mode::Off, fault, 60.0);
    report("preemption", &sim, &off);
    // After the first few spikes the level stays at the top.
    let late: Vec<_> = sim.steps.iter().filter(|s| s.t > 20.0).collect();
    assert!(
        late.iter().all(|s| s.level == Level::Ultra),
        "{:?}",
        sim.level_changes()
    );
    assert!(
        sim.healer
            .recommendations
            .iter()
            .any(|r| matches!(r, Recommendation::OutsideInterruptions { .. })),
        "{:?}",
        sim.healer.recommendations
    );
    let t = sim
        .healer
        .learned
        .tally(IncidentKind::OutsideSpike, Strategy::StepDown);
    assert!(t.rate() < 0.5, "{t:?}");
    assert!(
        sim.max_changes_per_minute() <= 6,
        "{:?}",
        sim.level_changes()
    );
    println!("recommendation: {}", sim.healer.recommendations[0].text());
}

#[test]
fn nan_bursts_open_the_breaker_then_safe_mode_then_recover_by_trial() {
    let fault = Stress::NanBursts {
        period_s: 1.0,
        from_s: 2.0,
        until_s: 10.0,
    };
    let sim = run(Mode::Auto, fault, 40.0);
    let restarts = sim.steps.iter().filter(|s| s.nan).count();
    assert!(restarts >= 5);
    let log: Vec<_> = sim.healer.log.iter().collect();
    let step_down = log
        .iter()
        .position(|i| {
            i.kind == IncidentKind::NonFinite && matches!(i.action, Action::StepDown { .. })
        })
        .expect("the breaker never opened");
    let safe = log
        .iter()
        .position(|i| i.kind == IncidentKind::NonFinite && i.action == Action::SafeMode)
        .expect("never entered safe mode");
    assert!(step_down < safe);
    assert!(sim.steps.iter().any(|s| s.level == Level::Safe));
    // Left safe mode by trial once the bursts stopped, and stays out.
    let end = sim.steps.last().unwrap();
    assert!(end.level >= Level::Minimal, "{:?}", end.level);
    assert!(sim.healer.breakers[Level::Safe as usize].is_closed());
    assert!(
        sim.healer
            .recommendations
            .contains(&Recommendation::RepeatedInvalidAudio)
    );
    assert!(
        sim.max_changes_per_minute() <= 6,
        "{:?}",
        sim.level_changes()
    );
}

#[test]
fn a_slow_gui_sheds_the_visualizer_first_and_gets_it_back() {
    let mut h = Healer::new(HealerConfig::default(), Level::Ultra, Learned::default());
    h.start_session(48_000, 64, Level::Ultra);
    let record = BlockRecord {
        deadline_ns: 1_333_333,
        samples: 64,
        sample_rate: 48_000.0,
        load: 0.3,
        ratio: 16,
        ..Default::default()
    };
    let batch = vec![record; 15];
    let mut now = 0;
    let mut tick = |h: &mut Healer, frame_ms: f32| {
        now += 20_000_000;
        h.tick(
            now,
            &batch,
            TickInputs {
                mode: Mode::Auto,
                ceiling: Level::Ultra,
                gui_frame_ms: Some(frame_ms),
                reflex_count: 0,
                panics_raised: 0,
                bypassed: false,
            },
        )
    };
    let mut tiers = Vec::new();
    for _ in 0..150 {
        let d = tick(&mut h, 25.0); // frames three times over budget for 3 s
        tiers.push(d.vis);
        assert_eq!(
            d.level,
            Level::Ultra,
            "audio quality is not touched for a slow GUI"
        );
    }
    assert_eq!(*tiers.last().unwrap(), VisTier::Off);
    assert!(
        tiers.windows(2).all(|w| w[1] <= w[0]),
        "one step at a time, only down"
    );
    for _ in 0..1000 {
        tick(&mut h, 2.0); // 20 s of fast frames
    }
    assert_eq!(h.vis(), VisTier::Full);
    assert!(h.log.iter().any(|i| i.kind == IncidentKind::SlowGui));
}

#[test]
fn monitor_only_detects_and_logs_the_same_but_changes_nothing() {
    // The same record stream into both: the logs must agree, and monitor-only changes nothing.
    let fault = Stress::Step {
        factor: 3.0,
        from_s: 2.0,
        until_s: 20.0,
    };
    let monitor = run(Mode::MonitorOnly, fault, 25.0);
    assert_eq!(monitor.level_changes(), []);
    assert_eq!(monitor.healer.tier_changes, 0);
    let would = monitor
        .healer
        .log
        .iter()
        .filter(|i| matches!(i.action, Action::WouldStepDown { .. }))
        .count();
    assert!(would >= 1);

    // Open loop: one recorded stream (from a session without healing) into an Auto and a
    // monitor-only healer: the same detections and the same decisions, logged.
    let mut source = Sim::new(Mode::Off, fault, Learned::default(), 3);
    source.run(25.0);
    let replay = |mode: Mode| {
        let mut h = Healer::new(HealerConfig::default(), Level::Ultra, Learned::default());
        for (now, batch) in &source.batches {
            let inputs = TickInputs {
                mode,
                ceiling: Level::Ultra,
                gui_frame_ms: None,
                reflex_count: 0,
                panics_raised: 0,
                bypassed: false,
            };
            h.tick(*now, batch, inputs);
        }
        h
    };
    let auto = replay(Mode::Auto);
    let monitor = replay(Mode::MonitorOnly);
    let normalise = |h: &Healer| -> Vec<(IncidentKind, String)> {
        h.log
            .iter()
            .map(|i| {
                let action = match i.action {
                    Action::WouldStepDown { from, to } => Action::StepDown { from, to },
                    a => a,
                };
                (i.kind, format!("{action:?} at {:.2}", i.at_s))
            })
            .collect()
    };
    assert!(!auto.log.is_empty());
    assert_eq!(normalise(&auto), normalise(&monitor));
    assert!(auto.tier_changes > 0);
    assert_eq!(monitor.tier_changes, 0);
}

#[test]
fn offline_rendering_takes_no_action() {
    let fault = Stress::Step {
        factor: 10.0,
        from_s: 1.0,
        until_s: 20.0,
    };
    let mut sim = Sim::new(Mode::Auto, fault, Learned::default(), 9).offline();
    sim.run(20.0);
    assert_eq!(sim.level_changes(), []);
    assert!(sim.healer.log.is_empty());
}

#[test]
fn a_learned_fingerprint_starts_the_next_session_at_the_learned_level() {
    // A machine that sustains only High (8x) at these settings.
    let fault = Stress::Step {
        factor: 3.0,
        from_s: 0.0,
        until_s: f64::INFINITY,
    };
    let mut first = Sim::new(Mode::Auto, fault, Learned::default(), 11);
    first.run(20.0);
    let learned = first.healer.learned.clone();
    assert!(!learned.fingerprints.is_empty(), "nothing learned");
    let mut second = Sim::new(Mode::Auto, fault, learned, 12);
    second.run(20.0);
    println!(
        "first session: {} overruns, second: {} overruns, learned {:?}",
        first.overruns(),
        second.overruns(),
        second.healer.learned.fingerprints
    );
    assert!(second.overruns() < first.overruns());
    assert!(second.steps[20].level < Level::Ultra);
}

#[test]
fn panics_are_acknowledged_in_every_mode() {
    // The audio thread holds safe mode after a panic until the healer has seen it; with healing
    // off the healer must still see it, or safe mode would never end.
    let mut panic = crate::probe::events::Events::default();
    panic.insert(crate::probe::events::EventKind::Panic);
    let record = BlockRecord {
        deadline_ns: 1_333_333,
        samples: 64,
        sample_rate: 48_000.0,
        load: 0.3,
        ratio: 16,
        events: panic,
        ..Default::default()
    };
    for mode in [Mode::Auto, Mode::MonitorOnly, Mode::Off] {
        let (mut h, inputs) = started(mode, 0);
        h.tick(20_000_000, &[record], inputs);
        assert_eq!(h.panics_seen, 1, "{mode:?}");
        let d = h.tick(40_000_000, &[], inputs);
        if mode == Mode::Off {
            assert_eq!(d.level, Level::Ultra, "healing off plays as set");
        }
    }
}

/// A healer started at 48 kHz, 64-sample blocks, 16x, and the inputs of a tick in `mode` with
/// `panics_raised` panics counted by the audio thread.
fn started(mode: Mode, panics_raised: u64) -> (Healer, TickInputs) {
    let mut h = Healer::new(HealerConfig::default(), Level::Ultra, Learned::default());
    h.start_session(48_000, 64, Level::Ultra);
    let inputs = TickInputs {
        panics_raised,
        ..TickInputs::playing(mode, Level::Ultra)
    };
    (h, inputs)
}

#[test]
fn a_panic_whose_record_was_lost_still_ends_the_safe_mode_latch() {
    // The ring was full, or the record was still in it at a re-activation: only the audio
    // thread's count says a panic happened. The healer takes it into account (in Auto it plays
    // safe, as for a record), so the audio thread's latch does not hold for good.
    for mode in [Mode::Auto, Mode::MonitorOnly, Mode::Off] {
        let (mut h, inputs) = started(mode, 1);
        h.tick(20_000_000, &[], inputs);
        assert_eq!(h.panics_seen, 1, "{mode:?}");
        if mode == Mode::Auto {
            assert_eq!(h.level(), Level::Safe);
            assert!(h.log.iter().any(|i| i.kind == IncidentKind::Panic));
        }
        // Told once: later ticks with the same count change nothing.
        let incidents = h.log.total();
        h.tick(40_000_000, &[], inputs);
        assert_eq!(h.log.total(), incidents, "{mode:?}");
    }
}

/// Tick number `tick` (20 ms apart) in Auto mode with a 16x ceiling, as the healer thread does.
fn auto_tick(h: &mut Healer, tick: u64, batch: &[BlockRecord]) -> Decision {
    h.tick(
        tick * 20_000_000,
        batch,
        TickInputs::playing(Mode::Auto, Level::Ultra),
    )
}

/// A healer whose session learned, at 48 kHz and 64-sample blocks under a 16x ceiling, that 1x
/// held: it starts there.
fn learned_at_1x() -> Healer {
    let fp = learning::Fingerprint {
        sample_rate: 48_000,
        block_size: 64,
        ceiling: Level::Ultra,
    };
    let mut learned = Learned::default();
    learned.learn_level(fp, Level::Minimal);
    let mut h = Healer::new(HealerConfig::default(), Level::Ultra, learned);
    assert_eq!(h.start_session(48_000, 64, Level::Ultra), Level::Minimal);
    h
}

/// One tick's 15 realtime blocks of 64 samples at 48 kHz, heard at `ratio`, numbered on from
/// `block`; `load` gives each block's load from its number.
fn ticks_blocks(block: &mut u64, ratio: u8, load: impl Fn(u64) -> f32) -> Vec<BlockRecord> {
    (0..15)
        .map(|_| {
            *block += 1;
            BlockRecord {
                seq: *block,
                deadline_ns: 1_333_333,
                samples: 64,
                sample_rate: 48_000.0,
                load: load(*block),
                ratio,
                ..Default::default()
            }
        })
        .collect()
}

#[test]
fn scheduling_jitter_in_the_tail_does_not_keep_the_quality_down() {
    // A session learned at 1x on a machine whose scheduler now and then delays a block: Salve's
    // own load is 5 % at 1x (doubling per factor step), and one block in 40 takes 35 % more of
    // its budget, whatever the factor. The tail does not grow with the factor, so trials up
    // must go ahead (the old prediction scaled the whole p99 and never tried).
    let mut h = learned_at_1x();
    let mut block = 0u64;
    for tick in 1..=1500 {
        let factor = h.level().ratio() as u8;
        let own = 0.05 * factor as f32;
        let batch = ticks_blocks(&mut block, factor, |b| {
            own + if b.is_multiple_of(40) { 0.35 } else { 0.0 }
        });
        auto_tick(&mut h, tick, &batch);
    }
    // 30 s later the quality has climbed to 4x (own load 20 %, with the jitter 55 %); 8x would
    // be 75 % with the jitter, above the line for trials.
    assert!(h.level() >= Level::Medium, "stuck at {:?}", h.level());
}

#[test]
fn a_spike_a_step_down_could_absorb_is_tried_one_that_it_cannot_is_not() {
    // Salve's own load is 60 % at 16x; every 2 s one block overruns by `excess`. A step down
    // saves at least a third of Salve's 60 %: it could absorb an overrun of 10 %, never one of
    // 150 % (a few milliseconds stolen by the system).
    let run = |excess: f32| {
        let mut h = Healer::new(HealerConfig::default(), Level::Ultra, Learned::default());
        h.start_session(48_000, 64, Level::Ultra);
        let mut block = 0u64;
        let mut lowest = Level::Ultra;
        for tick in 1..=500 {
            let factor = h.level().ratio() as u8;
            let own = 0.6 * factor as f32 / 16.0;
            let batch: Vec<BlockRecord> = (0..15)
                .map(|_| {
                    block += 1;
                    let spike = block.is_multiple_of(1500);
                    let mut events = crate::probe::events::Events::default();
                    if spike {
                        events.insert(EventKind::Overrun);
                    }
                    BlockRecord {
                        seq: block,
                        deadline_ns: 1_333_333,
                        samples: 64,
                        sample_rate: 48_000.0,
                        load: if spike { 1.0 + excess } else { own },
                        ratio: factor,
                        events,
                        ..Default::default()
                    }
                })
                .collect();
            let d = auto_tick(&mut h, tick, &batch);
            lowest = lowest.min(d.level);
        }
        (lowest, h)
    };
    let (lowest, _) = run(0.1);
    assert_eq!(lowest, Level::High, "a small spike is worth one experiment");
    let (lowest, h) = run(1.5);
    assert_eq!(lowest, Level::Ultra, "a stolen-time spike is not");
    assert!(
        h.recommendations
            .iter()
            .any(|r| matches!(r, Recommendation::OutsideInterruptions { .. }))
    );
}

#[test]
fn a_bypassed_instance_holds_its_level_and_learns_nothing_until_it_plays_again() {
    // A session that learned 1x; the host bypasses it for 30 s: the engine plays the safe path
    // (heard ratio 0, almost free). Cheap blocks must not pass for a calm 1x and trigger trials.
    let mut h = learned_at_1x();
    let mut block = 0u64;
    let inputs = |bypassed| TickInputs {
        mode: Mode::Auto,
        ceiling: Level::Ultra,
        gui_frame_ms: None,
        reflex_count: 0,
        panics_raised: 0,
        bypassed,
    };
    for tick in 1..=1500 {
        let d = h.tick(
            tick * 20_000_000,
            &ticks_blocks(&mut block, 0, |_| 0.01),
            inputs(true),
        );
        assert_eq!(d.level, Level::Minimal, "tick {tick}");
    }
    assert_eq!((h.tier_changes, h.log.total()), (0, 0));
    // Playing again at 1x with room to spare: the healer acts again and climbs.
    for tick in 1501..=3000 {
        let ratio = h.level().ratio() as u8;
        let load = 0.02 * ratio as f32;
        h.tick(
            tick * 20_000_000,
            &ticks_blocks(&mut block, ratio, |_| load),
            inputs(false),
        );
    }
    assert!(h.level() > Level::Minimal, "stuck at {:?}", h.level());
}

#[test]
fn a_run_of_dropouts_is_one_incident_that_leaves_the_log_to_what_salve_did() {
    // An overloaded host drops every other cycle for four seconds (each late call is marked by
    // the fleet's reader): one incident counts them, and the log keeps what came before it.
    let (mut h, inputs) = started(Mode::Auto, 0);
    h.tick(20_000_000, &[], inputs);
    h.record_journal_failure();
    let before = h.log.total();
    let mut block = 0;
    for tick in 2..202 {
        let mut batch = ticks_blocks(&mut block, 16, |_| 0.05);
        for r in batch.iter_mut().step_by(2) {
            r.events.insert(EventKind::CallbackGap);
        }
        auto_tick(&mut h, tick, &batch);
    }
    let dropouts: Vec<_> = h.log.of_kind(IncidentKind::Dropout).collect();
    assert_eq!(dropouts.len(), 1, "{dropouts:?}");
    assert_eq!(dropouts[0].repeats + 1, 200 * 8);
    assert!(h.log.iter().any(|i| i.kind == IncidentKind::Journal));
    assert!(h.log.total() < before + 32, "{}", h.log.total() - before);
    // A dropout long after the run is a new incident.
    let mut batch = ticks_blocks(&mut block, 16, |_| 0.05);
    batch[0].events.insert(EventKind::CallbackGap);
    auto_tick(&mut h, 400, &batch);
    assert_eq!(h.log.of_kind(IncidentKind::Dropout).count(), 2);
}
