//! The engine as a library, without a host: processing allocates nothing (checked by
//! `assert_no_alloc` with its allocator installed in this test binary), for every factor, curve,
//! block length and tier switch.

use assert_no_alloc::{AllocDisabler, assert_no_alloc};
use salve::dsp::{Controls, Curve, Engine, Factor};

#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

#[test]
fn processing_never_allocates() {
    let mut engine = Engine::new(48_000.0, Factor::X1);
    let mut ctl = Controls::default();
    ctl.fill(8.0, 0.7, 0.4, 0.8);
    let input: Vec<f32> = (0..16_384).map(|i| (i as f32 * 0.03).sin()).collect();
    let (mut left, mut right) = (input.clone(), input.clone());
    let curves = [Curve::Smooth, Curve::SoftClip, Curve::Tube, Curve::HardClip];
    for (i, factor) in Factor::ALL.iter().cycle().take(12).enumerate() {
        for len in [1usize, 63, 64, 65, 1024, 16_384] {
            assert_no_alloc(|| {
                engine.set_factor(*factor);
                engine.set_curve(curves[i % curves.len()]);
                engine.process(
                    &mut left[..len],
                    Some(&mut right[..len]),
                    &mut ctl,
                    |c, n| c.drive[..n].fill(8.0),
                );
                engine.process(&mut left[..len], None, &mut ctl, |_, _| {});
            });
        }
    }
    assert!(left.iter().chain(&right).all(|x| x.is_finite()));
}

#[test]
fn reset_allocates_nothing_and_restores_the_output() {
    let mut engine = Engine::new(96_000.0, Factor::X8);
    let mut ctl = Controls::default();
    ctl.fill(4.0, 1.0, 0.0, 1.0);
    let input: Vec<f32> = (0..2048).map(|i| (i as f32 * 0.01).sin() * 0.5).collect();
    let mut first = input.clone();
    engine.process(&mut first, None, &mut ctl, |_, _| {});
    let mut second = input.clone();
    assert_no_alloc(|| {
        engine.reset();
        engine.process(&mut second, None, &mut ctl, |_, _| {});
    });
    assert_eq!(first, second, "reset() must reproduce the output exactly");
}
