//! The plugin as a host sees it: identity, activation across rates and block sizes, the sound
//! (silence, harmonics, aliasing), latency and click-free tier switching, state and presets. Every
//! test drives the real library through its CLAP entry point.

mod support;

use clack_host::factory::plugin::PluginFactory;
use salve::presets::Preset;
use support::*;

const SR: f64 = 48_000.0;

#[test]
fn descriptor_names_salve_with_its_features() {
    let entry = load_entry();
    let factory = entry
        .get_factory::<PluginFactory>()
        .expect("plugin factory");
    let descriptors: Vec<_> = factory.plugin_descriptors().collect();
    assert_eq!(descriptors.len(), 1);
    let d = &descriptors[0];
    assert_eq!(d.id().unwrap().to_str().unwrap(), salve_host::CLAP_ID);
    assert_eq!(d.name().unwrap().to_str().unwrap(), "Salve");
    let features: Vec<String> = d
        .features()
        .map(|f| f.to_string_lossy().into_owned())
        .collect();
    for f in ["audio-effect", "distortion", "stereo"] {
        assert!(
            features.iter().any(|x| x == f),
            "{f} missing in {features:?}"
        );
    }
}

#[test]
fn activates_at_every_rate_and_block_size_and_stays_finite() {
    let mut inst = instance();
    for rate in [44_100.0, 48_000.0, 96_000.0, 192_000.0] {
        for max_block in [1u32, 32, 64, 512, 4096] {
            let mut p = inst.activate(rate, max_block);
            let input = sine(997.0, rate, 0.5, 3 * max_block as usize + 7);
            // Varying sizes: 1 sample, the maximum, and odd sizes in between.
            let sizes = [
                1usize,
                max_block as usize,
                (max_block as usize / 3).max(1),
                7,
            ];
            let mut pos = 0;
            for size in sizes.iter().cycle() {
                if pos >= input.len() {
                    break;
                }
                let n = (*size).min(max_block as usize).min(input.len() - pos);
                let (l, r) = p.process(&input[pos..pos + n], &input[pos..pos + n]);
                assert!(
                    l.iter().chain(r).all(|x| x.is_finite()),
                    "{rate} Hz, {max_block}"
                );
                pos += n;
            }
            inst.deactivate(p);
        }
    }
}

#[test]
fn silence_in_gives_silence_out() {
    let mut inst = instance();
    let drive = inst.value_of("drive", "36 dB");
    let curve = inst.value_of("curve", "Tube");
    inst.set_params(&[drive, curve]);
    let mut p = inst.activate(SR, 512);
    let out = p.run_mono(&vec![0.0; SR as usize], 512);
    let peak = out[out.len() / 2..]
        .iter()
        .fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(db(peak as f64) < -120.0, "{} dBFS", db(peak as f64));
    inst.deactivate(p);
}

/// The amplitude (dB) of the 2nd and 3rd harmonics of a 1 kHz sine through `curve` at `drive_db`.
fn harmonics(curve: &str, drive_db: f64) -> (f64, f64) {
    let mut inst = instance();
    let d = inst.value_of("drive", &format!("{drive_db} dB"));
    let c = inst.value_of("curve", curve);
    inst.set_params(&[d, c]);
    let mut p = inst.activate(SR, 512);
    let out = p.run_mono(&sine(1000.0, SR, 0.25, 24_000), 512);
    inst.deactivate(p);
    let tail = &out[8_000..];
    (
        db(tone_amplitude(tail, 2000.0, SR)),
        db(tone_amplitude(tail, 3000.0, SR)),
    )
}

#[test]
fn symmetric_curves_add_third_harmonics_that_rise_with_drive() {
    for curve in ["Smooth", "Soft clip", "Hard clip"] {
        let (_, low) = harmonics(curve, 6.0);
        let (second, high) = harmonics(curve, 18.0);
        println!("{curve}: H3 {low:.1} dB at 6 dB drive, {high:.1} dB at 18 dB");
        assert!(high > low + 3.0, "{curve}: {low} -> {high}");
        assert!(
            second < high - 40.0,
            "{curve} is not symmetric: H2 {second}"
        );
    }
}

#[test]
fn tube_curve_adds_second_harmonics_that_rise_with_drive() {
    let (low, _) = harmonics("Tube", 3.0);
    let (high, _) = harmonics("Tube", 15.0);
    println!("Tube: H2 {low:.1} dB at 3 dB drive, {high:.1} dB at 15 dB");
    assert!(high > low + 3.0, "{low} -> {high}");
    assert!(low > -80.0);
}

/// A Hann-windowed sinc click, band-limited to a tenth of the sample rate, centred at `at`.
fn click(len: usize, at: usize) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let t = i as f64 - at as f64;
            if t.abs() > 32.0 {
                return 0.0;
            }
            let x = std::f64::consts::PI * 0.2 * t;
            let sinc = if t == 0.0 { 1.0 } else { x.sin() / x };
            (0.1 * sinc * (0.5 + 0.5 * (std::f64::consts::PI * t / 32.0).cos())) as f32
        })
        .collect()
}

/// The integer lag that maximises the cross-correlation of `output` with `input`.
fn correlation_lag(input: &[f32], output: &[f32], max_lag: usize) -> usize {
    (0..max_lag)
        .map(|lag| {
            let v: f64 = input
                .iter()
                .zip(&output[lag..])
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum();
            (lag, v)
        })
        .fold((0, f64::MIN), |best, x| if x.1 > best.1 { x } else { best })
        .0
}

#[test]
fn reported_latency_is_constant_and_matches_the_measured_delay() {
    let factors = ["1x", "2x", "4x", "8x", "16x"];
    let mut reported = Vec::new();
    for rate in [44_100.0, 96_000.0] {
        for factor in factors {
            for mix in ["0", "100"] {
                let mut inst = instance();
                let os = inst.value_of("oversampling", factor);
                let m = inst.value_of("mix", mix);
                let d = inst.value_of("drive", "0 dB");
                inst.set_params(&[os, m, d]);
                let mut p = inst.activate(rate, 256);
                let latency = inst.latency();
                let input = click(2048, 300);
                let out = p.run_mono(&input, 256);
                inst.deactivate(p);
                let lag = correlation_lag(&input, &out, 200);
                println!("{rate} Hz {factor} mix {mix}%: reported {latency}, measured {lag}");
                assert_eq!(lag as u32, latency, "{rate} Hz {factor} mix {mix}");
                reported.push(latency);
            }
        }
    }
    assert!(reported.windows(2).all(|w| w[0] == w[1]), "{reported:?}");
}

/// The largest second difference of a signal: a discontinuity stands out against a smooth wave.
fn roughness(signal: &[f32]) -> f32 {
    signal
        .windows(3)
        .map(|w| (w[2] - 2.0 * w[1] + w[0]).abs())
        .fold(0.0, f32::max)
}

#[test]
fn switching_factor_every_100ms_does_not_click() {
    let factors = ["1x", "16x", "2x", "8x", "4x", "1x", "8x", "2x", "16x", "4x"];
    let input = sine(220.0, SR, 0.5, SR as usize);
    let block = 480; // 10 ms
    let settle = 4_800;

    // Reference: each factor held still.
    let mut reference = 0.0f32;
    for factor in ["1x", "2x", "4x", "8x", "16x"] {
        let mut inst = instance();
        let os = inst.value_of("oversampling", factor);
        inst.set_params(&[os]);
        let mut p = inst.activate(SR, block as u32);
        let out = p.run_mono(&input, block);
        inst.deactivate(p);
        reference = reference.max(roughness(&out[settle..]));
    }

    let mut inst = instance();
    let ids: Vec<(u32, f64)> = factors
        .iter()
        .map(|f| inst.value_of("oversampling", f))
        .collect();
    let mut p = inst.activate(SR, block as u32);
    let mut out = Vec::new();
    for (i, chunk) in input.chunks(block).enumerate() {
        if i % 10 == 0 {
            let (id, v) = ids[(i / 10) % ids.len()];
            p.set_param(id, v);
        }
        out.extend_from_slice(p.process(chunk, chunk).0);
    }
    inst.deactivate(p);
    let switching = roughness(&out[settle..]);
    println!("second-difference peak: held {reference:.2e}, switching {switching:.2e}");
    assert!(
        switching <= reference * 1.5 + 1e-4,
        "click: {switching} vs {reference}"
    );
}

/// Alias power relative to the harmonics' power, in dB, for a 7 kHz sine through heavy drive.
fn alias_db(curve: &str, factor: &str) -> f64 {
    use realfft::RealFftPlanner;
    let mut inst = instance();
    let os = inst.value_of("oversampling", factor);
    let d = inst.value_of("drive", "24 dB");
    let c = inst.value_of("curve", curve);
    // Healing off: this measures the factor as set. Under Auto the fleet, which this test binary's
    // instances share across its tests running in parallel, may lower the quality mid-run (one
    // CI run measured 16x at -67 dB, a part of its second at a lower factor).
    let off = inst.value_of("healing", "Off");
    inst.set_params(&[os, d, c, off]);
    let mut p = inst.activate(SR, 1024);
    let n = SR as usize; // 1 s: 1 Hz bins, so every harmonic and alias sits on a bin
    let out = p.run_mono(&sine(7000.0, SR, 0.5, n + 4800), 1024);
    inst.deactivate(p);
    let mut frame: Vec<f32> = out[4800..]
        .iter()
        .enumerate()
        .map(|(i, x)| x * (0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / n as f32).cos()))
        .collect();
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n);
    let mut spectrum = fft.make_output_vec();
    fft.process(&mut frame, &mut spectrum).unwrap();
    let near = |bin: usize, centre: usize| bin.abs_diff(centre) <= 4;
    let (mut harmonic, mut alias) = (0.0f64, 0.0f64);
    for (bin, c) in spectrum.iter().enumerate().skip(20) {
        let power = c.norm_sqr() as f64;
        if (1..=3).any(|k| near(bin, 7000 * k)) {
            harmonic += power;
        } else if (1..=3).all(|k| bin.abs_diff(7000 * k) > 20) {
            alias += power;
        }
    }
    10.0 * (alias / harmonic).log10()
}

#[test]
fn aliasing_falls_as_the_factor_rises() {
    println!("alias power relative to harmonics, 7 kHz at 48 kHz, 24 dB drive:");
    println!("{:>6} {:>10} {:>10}", "factor", "Smooth", "Hard clip");
    let mut smooth = Vec::new();
    let mut hard = Vec::new();
    for factor in ["1x", "2x", "4x", "8x", "16x"] {
        smooth.push(alias_db("Smooth", factor));
        hard.push(alias_db("Hard clip", factor));
        println!(
            "{factor:>6} {:>9.1} dB {:>9.1} dB",
            smooth.last().unwrap(),
            hard.last().unwrap()
        );
    }
    for table in [&smooth, &hard] {
        assert!(table.windows(2).all(|w| w[1] < w[0]), "{table:?}");
        assert!(
            table[3] <= table[0] - 30.0,
            "8x only {} dB below 1x",
            table[0] - table[3]
        );
    }
}

#[test]
fn state_round_trips_into_a_fresh_instance() {
    let mut a = instance();
    let changes = [
        a.value_of("drive", "17.5 dB"),
        a.value_of("curve", "Hard clip"),
        a.value_of("tone", "-30"),
        a.value_of("mix", "42"),
        a.value_of("output", "-7 dB"),
        a.value_of("oversampling", "8x"),
    ];
    a.set_params(&changes);
    let saved = a.save_state();
    assert_eq!(
        saved,
        a.save_state(),
        "saving twice must give identical bytes"
    );

    let mut b = instance();
    assert!(b.load_state(&saved));
    assert_eq!(a.param_values(), b.param_values());
    for (id, v) in changes {
        assert!((b.param_value(id) - v).abs() < 1e-4, "{id}: {v}");
    }
    assert_eq!(
        saved,
        b.save_state(),
        "load then save must reproduce the bytes"
    );

    // The loaded values take effect without a new activate()/reset() call.
    let mut p = b.activate(SR, 256);
    let out = p.run_mono(&sine(1000.0, SR, 0.5, 9600), 256);
    b.deactivate(p);
    assert!(out.iter().all(|x| x.is_finite()));
}

#[test]
fn loaded_state_changes_the_sound_while_processing() {
    // A host loads a state while the plugin is already active: nice-plug calls no reset, yet the
    // DSP must pick the new values up.
    let mut source = instance();
    let changes = [
        source.value_of("drive", "0 dB"),
        source.value_of("output", "-24 dB"),
    ];
    source.set_params(&changes);
    let quiet = source.save_state();

    let mut inst = instance();
    let mut p = inst.activate(SR, 512);
    let input = sine(1000.0, SR, 0.25, 9600);
    let before = p.run_mono(&input, 512);
    assert!(inst.load_state(&quiet));
    let after = p.run_mono(&input, 512);
    inst.deactivate(p);
    let rms = |s: &[f32]| (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt();
    let drop = db(rms(&after[4800..]) as f64) - db(rms(&before[4800..]) as f64);
    assert!(drop < -20.0, "{drop} dB");
}

#[test]
fn blocks_at_rest_sound_exactly_as_blocks_that_read_every_parameter() {
    // Salve reads its parameters only after one changed, and fills no control while they rest.
    // The second instance never rests: a parameter that does nothing in real time ("render like
    // realtime") changes at every block. Both hear the same automation, in blocks of several
    // sizes; every output sample must be the same, bit for bit, and the automation is heard.
    // Healing is off: the two healers would otherwise each follow their own instance's timing.
    let mut a = instance();
    let mut b = instance();
    for i in [&mut a, &mut b] {
        let off = i.value_of("healing", "Off");
        i.set_params(&[off]);
    }
    let automation = [
        (10, a.value_of("drive", "20 dB")),
        (40, a.value_of("tone", "-60")),
        (70, a.value_of("mix", "35")),
        (100, a.value_of("output", "-9 dB")),
        (150, a.value_of("match_loudness", "On")),
        (170, a.value_of("drive", "3 dB")),
        (200, a.value_of("curve", "Hard clip")),
        (230, a.value_of("oversampling", "4x")),
        (250, a.value_of("tone", "+40")),
    ];
    let render_rt = b.param("render_rt");
    let sizes = [256, 64, 17, 200, 1];
    let input = sine(440.0, SR, 0.5, 256 * 300);
    let mut pa = a.activate(SR, 256);
    let mut pb = b.activate(SR, 256);
    let mut at = 0;
    let mut heard = Vec::new();
    for k in 0..300 {
        let n = sizes[k % sizes.len()];
        let chunk = &input[at..at + n];
        at += n;
        for &(when, (id, value)) in &automation {
            if when == k {
                pa.set_param(id, value);
                pb.set_param(id, value);
            }
        }
        pb.set_param(render_rt, (k % 2) as f64);
        let (al, ar) = pa.process(chunk, chunk);
        let (al, ar) = (al.to_vec(), ar.to_vec());
        let (bl, br) = pb.process(chunk, chunk);
        let bits = |s: &[f32]| s.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&al), bits(bl), "left, block {k}");
        assert_eq!(bits(&ar), bits(br), "right, block {k}");
        heard.push(al);
    }
    a.deactivate(pa);
    b.deactivate(pb);
    // The output's -9 dB at block 100, once its 50 ms glide is over.
    let rms = |blocks: std::ops::Range<usize>| {
        let s: Vec<f32> = heard[blocks].concat();
        (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt() as f64
    };
    let step = db(rms(125..150)) - db(rms(88..100));
    assert!((step + 9.0).abs() < 0.3, "the output moved {step:.2} dB");
}

#[test]
fn processing_is_allocation_free_at_every_factor() {
    // The library aborts on an allocation inside process() (alloc-checks); the host side runs
    // under assert_no_alloc. Tier switches and curve crossfades are included.
    let mut inst = instance();
    let factors: Vec<_> = ["1x", "2x", "4x", "8x", "16x", "Auto"]
        .iter()
        .map(|f| inst.value_of("oversampling", f))
        .collect();
    let curves: Vec<_> = ["Smooth", "Soft clip", "Tube", "Hard clip"]
        .iter()
        .map(|c| inst.value_of("curve", c))
        .collect();
    let mut p = inst.activate(SR, 4096);
    let input = sine(440.0, SR, 0.7, 4096);
    for (i, &(id, v)) in factors.iter().enumerate() {
        p.set_param(id, v);
        let (cid, cv) = curves[i % curves.len()];
        p.set_param(cid, cv);
        for size in [4096, 1, 333, 64] {
            let (l, _) = p.process(&input[..size], &input[..size]);
            assert!(l.iter().all(|x| x.is_finite()));
        }
    }
    inst.deactivate(p);
}

#[test]
fn offline_renders_use_16x_unless_told_to_match_realtime() {
    // Offline at the 1x setting must alias like 16x; with "Render like realtime" like 1x.
    let alias_of = |offline: bool, like_realtime: bool| {
        let mut inst = instance();
        let os = inst.value_of("oversampling", "1x");
        let d = inst.value_of("drive", "24 dB");
        let c = inst.value_of("curve", "Hard clip");
        let rt = inst.value_of("render_rt", if like_realtime { "On" } else { "Off" });
        inst.set_params(&[os, d, c, rt]);
        inst.set_offline(offline);
        let mut p = inst.activate(SR, 1024);
        let out = p.run_mono(&sine(7000.0, SR, 0.5, 14_400), 1024);
        inst.deactivate(p);
        // Energy at 13 kHz: the first alias of the 5th harmonic (35 kHz folds to 13 kHz).
        db(tone_amplitude(&out[4800..], 13_000.0, SR))
    };
    let realtime = alias_of(false, false);
    let offline = alias_of(true, false);
    let offline_rt = alias_of(true, true);
    println!(
        "13 kHz alias: realtime {realtime:.1} dB, offline {offline:.1} dB, offline like realtime {offline_rt:.1} dB"
    );
    assert!(offline < realtime - 30.0);
    assert!((offline_rt - realtime).abs() < 1.0);
}

#[test]
fn every_factory_preset_lands_through_the_plugin_state() {
    for preset in Preset::factory() {
        let state = preset.to_state();
        let json = serde_json::to_vec(&state).unwrap();
        let mut blob = (json.len() as u64).to_le_bytes().to_vec();
        blob.extend_from_slice(&json);

        let mut inst = instance();
        assert!(inst.load_state(&blob), "{}", preset.name);
        let expect = [
            ("drive", format!("{} dB", preset.drive_db)),
            ("curve", curve_name(&preset.curve).to_owned()),
            ("tone", format!("{}", preset.tone_percent)),
            ("mix", format!("{}", preset.mix_percent)),
            ("output", format!("{} dB", preset.output_db)),
            (
                "oversampling",
                oversampling_name(&preset.oversampling).to_owned(),
            ),
        ];
        for (name, text) in expect {
            let (id, want) = inst.value_of(name, &text);
            let got = inst.param_value(id);
            assert!(
                (got - want).abs() < 1e-4,
                "{}: {name} is {got}, expected {want} ({text})",
                preset.name
            );
        }
    }
}

fn curve_name(id: &str) -> &'static str {
    match id {
        "smooth" => "Smooth",
        "soft" => "Soft clip",
        "tube" => "Tube",
        "hard" => "Hard clip",
        other => panic!("unknown curve {other}"),
    }
}

fn oversampling_name(id: &str) -> &'static str {
    match id {
        "auto" => "Auto",
        "1x" => "1x",
        "2x" => "2x",
        "4x" => "4x",
        "8x" => "8x",
        "16x" => "16x",
        other => panic!("unknown oversampling {other}"),
    }
}

#[test]
fn bypass_passes_the_input_unchanged_at_the_same_latency_and_fades_both_ways() {
    let mut inst = instance();
    // The host sees exactly one bypass parameter: Salve's own, so its bypass button drives it.
    let bypass = inst.param("bypass");
    let flagged: Vec<u32> = inst
        .param_infos()
        .iter()
        .filter(|p| p.bypass)
        .map(|p| p.clap_id)
        .collect();
    assert_eq!(flagged, [bypass]);
    // Its words read back (the host's text entry, and the CLAP validator's round trip).
    assert_eq!(inst.text_to_value(bypass, "Bypassed"), 1.0);
    assert_eq!(inst.text_to_value(bypass, "Active"), 0.0);
    let os = inst.value_of("oversampling", "16x");
    let drive = inst.value_of("drive", "24 dB");
    let out_gain = inst.value_of("output", "-6 dB");
    inst.set_params(&[os, drive, out_gain]);
    let block = 256;
    let mut p = inst.activate(SR, block as u32);
    let latency = inst.latency() as usize;
    let input = sine(220.0, SR, 0.5, 3 * SR as usize);
    let mut out = Vec::with_capacity(input.len());
    // Both at block boundaries, where a host's parameter events land here.
    let (on_at, off_at) = (188 * block, 375 * block);
    for (i, chunk) in input.chunks(block).enumerate() {
        let at = i * block;
        if at == on_at {
            p.set_param(bypass, 1.0);
        }
        if at == off_at {
            p.set_param(bypass, 0.0);
        }
        out.extend_from_slice(p.process(chunk, chunk).0);
    }
    assert_eq!(
        inst.latency() as usize,
        latency,
        "the latency never changes"
    );
    inst.deactivate(p);

    // Bypassed and settled (50 ms after the switch): the input itself, delayed by the latency,
    // whatever the drive and the output level.
    let settled = on_at + 2_400..off_at;
    let worst = settled
        .clone()
        .map(|i| (out[i] - input[i - latency]).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst < 1e-6,
        "bypassed output differs from the dry input by {worst}"
    );
    // Active before and after: saturated at -6 dB, clearly not the dry signal.
    for range in [4_800..on_at, off_at + 4_800..input.len()] {
        let diff = range
            .map(|i| (out[i] - input[i - latency]).abs())
            .fold(0.0f32, f32::max);
        assert!(
            diff > 0.05,
            "the active sound should differ from the dry ({diff})"
        );
    }
    // Both switches fade: no step larger than the sound's own steps.
    let steady = roughness(&out[4_800..on_at]).max(roughness(&out[settled]));
    for at in [on_at, off_at] {
        let r = roughness(&out[at - 256..at + 4_800]);
        assert!(r <= 2.0 * steady, "a click at {at}: {r} against {steady}");
    }

    // Activated again while bypassed (every bounce, buffer or rate change): dry from the first
    // sample the latency lets through, not the saturated sound fading out.
    inst.set_params(&[(bypass, 1.0)]);
    let mut p = inst.activate(SR, block as u32);
    let out = p.run_mono(&input[..SR as usize / 10], block);
    inst.deactivate(p);
    let worst = (latency..out.len())
        .map(|i| (out[i] - input[i - latency]).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst < 1e-6,
        "re-activated while bypassed: {worst} from the dry input"
    );
}

#[test]
fn match_loudness_keeps_a_driven_sine_at_its_level_and_is_off_by_default() {
    let rms = |x: &[f32]| (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
    let db = |x: f32| 20.0 * x.log10();
    // A sine at -18 dBFS RMS, 18 dB of drive, fully wet.
    let input = sine(440.0, SR, 0.178, SR as usize);
    let level = |matched: Option<&str>| {
        let mut inst = instance();
        // Healing off: the three runs must hear the same factor. Under Auto the fleet, which this
        // binary's tests share, may lower it mid-run (a CI run measured default and off 3e-6 dB
        // apart, and failed on it).
        let mut values = vec![
            inst.value_of("drive", "18 dB"),
            inst.value_of("mix", "100"),
            inst.value_of("healing", "Off"),
        ];
        if let Some(on) = matched {
            values.push(inst.value_of("match_loudness", on));
        }
        inst.set_params(&values);
        let mut p = inst.activate(SR, 256);
        let out = p.run_mono(&input, 256);
        inst.deactivate(p);
        db(rms(&out[4_800..]) / rms(&input[4_800..]))
    };
    let (default, off, on) = (level(None), level(Some("Off")), level(Some("On")));
    println!("level change: default {default:+.1} dB, off {off:+.1} dB, matched {on:+.1} dB");
    assert_eq!(default, off, "off by default");
    assert!(off > 6.0, "the drive makes it louder: {off:+.1} dB");
    assert!(on.abs() < 1.0, "matched: {on:+.1} dB");
}
