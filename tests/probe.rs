//! The probe's guarantees through the real CLAP entry point: whatever goes wrong inside, the host
//! receives finite audio below +6 dBFS, processing never allocates, and a panic inside the DSP
//! does not take the host down.

mod support;

use support::*;

const SR: f64 = 48_000.0;
/// The safety limiter's ceiling (+6 dBFS).
const CEILING: f32 = 1.995_262_3;

fn assert_safe(l: &[f32], r: &[f32], what: &str) {
    for (i, x) in l.iter().chain(r).enumerate() {
        assert!(x.is_finite(), "{what}: sample {i} is {x}");
        assert!(
            x.abs() <= CEILING,
            "{what}: sample {i} is {x}, above +6 dBFS"
        );
    }
}

#[test]
fn nan_input_and_a_40_db_spike_never_reach_the_host() {
    let mut inst = instance();
    let out_gain = inst.value_of("output", "24 dB");
    let mix = inst.value_of("mix", "50");
    inst.set_params(&[out_gain, mix]);
    let mut p = inst.activate(SR, 256);
    let mut input = sine(440.0, SR, 0.5, 48_000);
    // A NaN burst, infinities, then a +40 dB spike.
    for x in &mut input[4_800..5_000] {
        *x = f32::NAN;
    }
    input[6_000] = f32::INFINITY;
    input[6_001] = f32::NEG_INFINITY;
    for x in &mut input[9_600..19_200] {
        *x *= 100.0;
    }
    let (l, r) = p.run(&input, &input, 256);
    assert_safe(&l, &r, "hostile input");
    // The limiter did engage and the music kept playing after the burst.
    assert!(l[12_000..19_000].iter().any(|x| x.abs() > 1.9));
    assert!(l[40_000..].iter().any(|x| x.abs() > 0.1));
    inst.deactivate(p);
}

#[test]
fn a_nan_burst_inside_the_dsp_is_silenced_and_the_sound_comes_back() {
    let mut inst = instance();
    let (fault, nan) = inst.value_of("test_fault", "1");
    let mut p = inst.activate(SR, 512);
    let input = sine(440.0, SR, 0.5, 512);
    for _ in 0..10 {
        p.process(&input, &input);
    }
    p.set_param(fault, nan);
    let (l, r) = p.process(&input, &input);
    assert_safe(l, r, "NaN block");
    assert!(
        l.iter().all(|&x| x == 0.0),
        "the poisoned block must be silent"
    );
    let mut after = Vec::new();
    for _ in 0..10 {
        let (l, r) = p.process(&input, &input);
        assert_safe(l, r, "after the restart");
        after.extend_from_slice(l);
    }
    assert!(
        after[2_000..].iter().any(|x| x.abs() > 0.1),
        "sound must come back"
    );
    inst.deactivate(p);
}

#[test]
fn a_panic_in_the_dsp_keeps_the_host_alive_and_falls_back_to_safe_processing() {
    let mut inst = instance();
    let (fault, panic) = inst.value_of("test_fault", "2");
    let drive = inst.value_of("drive", "36 dB");
    inst.set_params(&[drive]);
    let mut p = inst.activate(SR, 256);
    // Exactly two periods per block, so repeating the block gives a clean, DC-free sine.
    let input = sine(375.0, SR, 0.1, 256);
    for _ in 0..10 {
        p.process(&input, &input);
    }
    p.set_param(fault, panic);
    let (l, r) = p.process(&input, &input);
    assert_safe(l, r, "panicking block");
    // The host is still here and keeps getting audio: the clean bypass (input delayed by the
    // latency, no drive), faded in.
    let latency = inst.latency() as usize;
    let mut out = Vec::new();
    // 0.5 s: long enough for the restarted DC blocker (5 Hz) to settle.
    for _ in 0..100 {
        let (l, r) = p.process(&input, &input);
        assert_safe(l, r, "after the panic");
        out.extend_from_slice(l);
    }
    let tail = &out[out.len() - 256..];
    for (i, y) in tail.iter().enumerate() {
        let x = input[(i + 256 - latency) % 256];
        assert!((y - x).abs() < 1e-3, "bypass sample {i}: {y} vs {x}");
    }
    inst.deactivate(p);
}
