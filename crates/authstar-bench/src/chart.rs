//! A bar chart of Δ per variant (PNG, plotters), min–max as error bars.

use std::path::Path;

use plotters::prelude::*;

/// A TrueType font for the labels: Debian's `fonts-dejavu-core`.
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Draws `bars` (name, median, min, max) to `path`, on a logarithmic axis (the in-process
/// deltas run from ~10 ns to ~70 µs). Values under 1 (the floors, noise below zero) are drawn
/// at 1. Bars whose name holds "authstar" or "demo" are blue, the others (peers, floors) grey.
pub(crate) fn draw(
    path: &Path,
    caption: &str,
    unit: &str,
    bars: &[(String, f64, f64, f64)],
) -> Result<(), Box<dyn std::error::Error>> {
    register_font()?;

    let height = 90 + 28 * bars.len() as u32;
    let root = BitMapBackend::new(path, (1250, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let max = bars.iter().map(|b| b.3).fold(10.0_f64, f64::max) * 1.5;
    let at_least_one = |ns: f64| ns.max(1.0);
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(470)
        .build_cartesian_2d((1.0..max).log_scale(), (0..bars.len()).into_segmented())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(bars.len())
        .y_label_formatter(&|segment| match segment {
            SegmentValue::CenterOf(i) => bars.get(*i).map(|b| b.0.clone()).unwrap_or_default(),
            _ => String::new(),
        })
        .x_desc(format!("{unit} (log scale)"))
        .label_style(("sans-serif", 15))
        .draw()?;
    chart.draw_series(bars.iter().enumerate().map(|(i, bar)| {
        let color = if bar.0.contains("authstar") || bar.0.contains("GET") || bar.0.contains("POST")
        {
            BLUE
        } else {
            RGBColor(150, 150, 150)
        };
        let mut rectangle = Rectangle::new(
            [
                (1.0, SegmentValue::Exact(i)),
                (at_least_one(bar.1), SegmentValue::Exact(i + 1)),
            ],
            color.mix(0.7).filled(),
        );
        rectangle.set_margin(4, 4, 0, 0);
        rectangle
    }))?;
    chart.draw_series(bars.iter().enumerate().map(|(i, bar)| {
        PathElement::new(
            vec![
                (at_least_one(bar.2), SegmentValue::CenterOf(i)),
                (at_least_one(bar.3), SegmentValue::CenterOf(i)),
            ],
            BLACK.stroke_width(2),
        )
    }))?;
    root.present()?;
    Ok(())
}

/// Registers [`FONT`] as plotters' `sans-serif` (once per process).
pub(crate) fn register_font() -> Result<(), Box<dyn std::error::Error>> {
    static REGISTERED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    if REGISTERED.get().is_some() {
        return Ok(());
    }
    let font = std::fs::read(FONT)
        .map_err(|e| format!("{FONT}: {e} (apt-get install fonts-dejavu-core)"))?;
    // plotters keeps registered fonts for the life of the process.
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| "the font could not be registered")?;
    let _ = REGISTERED.set(());
    Ok(())
}
