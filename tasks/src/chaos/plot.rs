//! One SVG per scenario: for Auto (top) and Off (bottom), Salve's own load against the budget,
//! the oversampling factor it played, the host's deadline misses and Salve's incidents.

use super::scenario::Scenario;
use super::{RunReport, Timeline};
use plotters::prelude::*;
use std::path::Path;

/// Load values above this are drawn at the top edge.
const LOAD_TOP: f64 = 2.5;
/// The load line shows the peak of each bucket of this many seconds.
const BUCKET_S: f64 = 0.02;

fn err(e: impl std::fmt::Display) -> String {
    format!("plot: {e}")
}

/// The peak load per bucket, so a long run stays a readable line.
fn peaks(t: &Timeline) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for &(time, load, _, _) in &t.blocks {
        let bucket = (time / BUCKET_S).floor() * BUCKET_S;
        match out.last_mut() {
            Some(last) if last.0 == bucket => last.1 = last.1.max(load as f64),
            _ => out.push((bucket, load as f64)),
        }
    }
    for p in &mut out {
        p.1 = p.1.min(LOAD_TOP);
    }
    out
}

/// The factor as a step line (a point only where it changes).
fn factor_steps(t: &Timeline) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut last = None;
    for &(time, _, factor, _) in &t.blocks {
        if last != Some(factor) {
            if let Some(prev) = last {
                out.push((time, prev as f64));
            }
            out.push((time, factor as f64));
            last = Some(factor);
        }
    }
    if let (Some(&(time, ..)), Some(f)) = (t.blocks.last(), last) {
        out.push((time, f as f64));
    }
    out
}

type Panel<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type Chart<'a, 'b> = plotters::chart::DualCoordChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// One panel's chart: time across, `y_desc` from 0 to `top` on the left, the oversampling
/// factor on the right.
fn panel_chart<'a, 'b>(
    panel: &'a Panel<'b>,
    caption: String,
    seconds: f64,
    top: f64,
    y_desc: &str,
) -> Result<Chart<'a, 'b>, String> {
    let mut chart = ChartBuilder::on(panel)
        .caption(caption, ("sans-serif", 15))
        .margin(10)
        .x_label_area_size(32)
        .y_label_area_size(52)
        .right_y_label_area_size(52)
        .build_cartesian_2d(0f64..seconds, 0f64..top)
        .map_err(err)?
        .set_secondary_coord(0f64..seconds, 0f64..17f64);
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc(y_desc)
        .draw()
        .map_err(err)?;
    chart
        .configure_secondary_axes()
        .y_desc("oversampling factor")
        .draw()
        .map_err(err)?;
    Ok(chart)
}

/// The host's deadline misses, as red dots at height `y`.
fn draw_misses<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    times: impl Iterator<Item = f64>,
    y: f64,
) -> Result<(), String> {
    chart
        .draw_series(times.map(|t| Circle::new((t, y), 3, RED.filled())))
        .map_err(err)?
        .label("host deadline miss")
        .legend(|(x, y)| Circle::new((x + 9, y), 3, RED.filled()));
    Ok(())
}

fn draw_legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .draw()
        .map_err(err)
}

pub fn scenario(
    path: &Path,
    scenario: Scenario,
    runs: &[(RunReport, Timeline)],
) -> Result<(), String> {
    let root = SVGBackend::new(path, (1100, 760)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root
        .titled(scenario.description(), ("sans-serif", 20))
        .map_err(err)?;
    let panels = root.split_evenly((runs.len().max(1), 1));
    for (panel, (report, timeline)) in panels.iter().zip(runs) {
        let seconds = report.seconds.max(0.1);
        let caption = format!(
            "Healing {:?}: {} deadline misses, mean factor {:.1}x, {} tier changes, {} incidents",
            report.mode,
            report.deadline_misses,
            report.mean_factor,
            report.tier_changes,
            report.incidents
        );
        let mut chart = panel_chart(
            panel,
            caption,
            seconds,
            LOAD_TOP,
            "Salve's load (1 = the block's deadline)",
        )?;
        let blue = RGBColor(40, 100, 190);
        let green = RGBColor(30, 150, 70);
        chart
            .draw_series(LineSeries::new(peaks(timeline), blue.stroke_width(1)))
            .map_err(err)?
            .label("Salve's load (peak per 20 ms)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], blue));
        chart
            .draw_series(LineSeries::new(
                [(0.0, 1.0), (seconds, 1.0)],
                RED.stroke_width(1),
            ))
            .map_err(err)?
            .label("budget")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED));
        chart
            .draw_secondary_series(LineSeries::new(
                factor_steps(timeline),
                green.stroke_width(2),
            ))
            .map_err(err)?
            .label("oversampling factor (right axis)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], green));
        let misses = timeline.blocks.iter().filter(|b| b.3).map(|b| b.0);
        draw_misses(&mut chart, misses, LOAD_TOP * 0.96)?;
        let orange = RGBColor(230, 140, 20);
        chart
            .draw_series(
                timeline
                    .incidents
                    .iter()
                    .map(|(t, _)| TriangleMarker::new((*t, LOAD_TOP * 0.88), 6, orange.filled())),
            )
            .map_err(err)?
            .label("Salve incident")
            .legend(move |(x, y)| TriangleMarker::new((x + 9, y), 5, orange.filled()));
        draw_legend(&mut chart)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// The mean of each 20 ms bucket of `(time, value)` points.
fn bucket_means(points: impl Iterator<Item = (f64, f64)>) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64, u32)> = Vec::new();
    for (time, v) in points {
        let bucket = (time / BUCKET_S).floor() * BUCKET_S;
        match out.last_mut() {
            Some(last) if last.0 == bucket => {
                last.1 += v;
                last.2 += 1;
            }
            _ => out.push((bucket, v, 1)),
        }
    }
    out.into_iter().map(|(t, s, n)| (t, s / n as f64)).collect()
}

/// One SVG per session scenario: for Auto (top) and Off (bottom), the other plugins' load, Salve's
/// true share of the cycle and the fill the fleet measured, against the deadline; the instances'
/// mean and lowest oversampling factor; the host's deadline misses.
pub fn session(
    path: &Path,
    title: &str,
    runs: &[(
        super::session::SessionReport,
        super::session::SessionTimeline,
    )],
) -> Result<(), String> {
    const TOP: f64 = 1.3;
    let root = SVGBackend::new(path, (1100, 760)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 20)).map_err(err)?;
    let panels = root.split_evenly((runs.len().max(1), 1));
    for (panel, (report, timeline)) in panels.iter().zip(runs) {
        let seconds = report.seconds.max(0.1);
        let caption = format!(
            "Healing {:?}: {} instances, {} deadline misses, mean factor {:.1}x",
            report.mode, report.instances, report.deadline_misses, report.mean_factor,
        );
        let mut chart = panel_chart(
            panel,
            caption,
            seconds,
            TOP,
            "share of the cycle (1 = the deadline)",
        )?;
        let gray = RGBColor(120, 120, 120);
        let blue = RGBColor(40, 100, 190);
        let purple = RGBColor(150, 60, 170);
        let green = RGBColor(30, 150, 70);
        let light = RGBColor(140, 200, 150);
        let line =
            |c: RGBColor| move |(x, y): (i32, i32)| PathElement::new(vec![(x, y), (x + 18, y)], c);
        let shares = [
            (
                bucket_means(timeline.cycles.iter().map(|c| (c.0, c.1 as f64))),
                gray,
                "other plugins' load",
            ),
            (
                bucket_means(timeline.cycles.iter().map(|c| (c.0, c.2 as f64))),
                blue,
                "Salve's share (true)",
            ),
            (
                timeline
                    .fleet
                    .iter()
                    .map(|f| (f.0, (f.1 as f64).min(TOP)))
                    .collect(),
                purple,
                "fill up to Salve's end, as the fleet measured it",
            ),
            (vec![(0.0, 1.0), (seconds, 1.0)], RED, "deadline"),
        ];
        for (points, color, label) in shares {
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(1)))
                .map_err(err)?
                .label(label)
                .legend(line(color));
        }
        let factors = [
            (1, green, 2, "mean factor of the instances (right axis)"),
            (2, light, 1, "lowest factor (right axis)"),
        ];
        for (field, color, width, label) in factors {
            let points = timeline.factors.iter().map(move |f| {
                let v = if field == 1 { f.1 } else { f.2 };
                (f.0, v as f64)
            });
            chart
                .draw_secondary_series(LineSeries::new(points, color.stroke_width(width)))
                .map_err(err)?
                .label(label)
                .legend(line(color));
        }
        let misses = timeline.cycles.iter().filter(|c| c.3).map(|c| c.0);
        draw_misses(&mut chart, misses, TOP * 0.97)?;
        draw_legend(&mut chart)?;
    }
    root.present().map_err(err)?;
    Ok(())
}
