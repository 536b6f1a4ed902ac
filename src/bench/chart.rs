//! The catch-up chart: seconds against threads, one line per mode (an SVG
//! drawn by `plotters`). Single-threaded modes are flat lines across the
//! whole thread axis, so every threaded mode is read against them.

use std::path::Path;

use plotters::prelude::*;

use super::catchup::{CatchupReport, Mode};
use crate::error::{Error, Result};

fn color(m: Mode) -> RGBColor {
    match m {
        Mode::Sql => RGBColor(90, 90, 90),
        Mode::Conservative => RGBColor(31, 119, 180),
        Mode::Optimistic => RGBColor(44, 160, 44),
        Mode::Aggressive => RGBColor(148, 103, 189),
        Mode::Pipe => RGBColor(214, 39, 40),
        Mode::Apply => RGBColor(255, 127, 14),
    }
}

/// Writes the chart of `report` to `path` (SVG), atomically.
///
/// # Errors
/// Nothing finished validly, or the file cannot be written.
pub fn write_svg(report: &CatchupReport, path: &Path) -> Result<()> {
    let lines: Vec<_> = report.lines.iter().filter(|l| l.seconds.is_some()).collect();
    if lines.is_empty() {
        return Err(Error::bad_input("the report", "no valid run to chart"));
    }
    let max_t = lines.iter().map(|l| l.threads).max().unwrap_or(1).max(2) as f64;
    let max_s = lines.iter().filter_map(|l| l.seconds).fold(0.0, f64::max) * 1.1;
    let mut svg = String::new();
    draw(report, &lines, max_t, max_s, &mut svg)
        .map_err(|e| Error::invalid(format!("{}: cannot draw the chart: {e}", path.display())))?;
    crate::log::write_atomically(path, svg.as_bytes())
}

fn draw(
    report: &CatchupReport,
    lines: &[&super::catchup::Line],
    max_t: f64,
    max_s: f64,
    svg: &mut String,
) -> std::result::Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    {
        let root = SVGBackend::with_string(svg, (800, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let title = format!(
            "catch-up of {} transactions ({:.1} MB): seconds by threads",
            report.logs.transactions,
            report.logs.bytes as f64 / 1e6
        );
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((1.0..max_t).log_scale(), 0.0..max_s)
            .map_err(|x| e(&x))?;
        chart.configure_mesh().x_desc("threads").y_desc("seconds (lower is better)").draw().map_err(|x| e(&x))?;
        for m in Mode::ALL {
            let pts: Vec<(f64, f64)> =
                lines.iter().filter(|l| l.mode == m).filter_map(|l| Some((l.threads as f64, l.seconds?))).collect();
            if pts.is_empty() {
                continue;
            }
            let c = color(m);
            let pts = if m.threaded() { pts } else { vec![(1.0, pts[0].1), (max_t, pts[0].1)] };
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                .map_err(|x| e(&x))?
                .label(m.name())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
            if m.threaded() {
                chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, c.filled()))).map_err(|x| e(&x))?;
            }
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.9))
            .draw()
            .map_err(|x| e(&x))?;
        root.present().map_err(|x| e(&x)).map_err(|x| e(&x))?;
    }
    Ok(())
}
