//! The sweep's SVG plot: mean latency against order probability p, lookups and orders,
//! cache on and off.

use std::path::Path;

use plotters::prelude::*;

use crate::error::ClientError;

/// One line of the plot: a label and (p, milliseconds) points.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

pub fn plot_latency(path: &Path, series: &[Series]) -> Result<(), ClientError> {
    let err = |e: &dyn std::fmt::Display| {
        ClientError::Usage(format!("cannot draw {}: {e}", path.display()))
    };
    let y_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max)
        .max(0.001)
        * 1.15;
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Bazaar latency against order probability p",
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0f64..1.0f64, 0.0f64..y_max)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("p (probability of ordering after a lookup)")
        .y_desc("mean latency (ms)")
        .draw()
        .map_err(|e| err(&e))?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| err(&e))?
            .label(s.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}
