//! PNG figures of the mnist example: the learned conv1 filters ([`save_filters_png`]), the
//! conv1 feature maps of one digit ([`save_feature_maps_png`]) and the training curves
//! ([`save_curves_png`]).
//!
//! * Pure Rust, nothing to install: pixels are drawn into an in-memory RGB buffer (the tiles
//!   by hand; grids, axes and curves by plotters' bitmap backend), text is set in the DejaVu
//!   Sans font compiled into the binary (`assets/DejaVuSans.ttf`, rasterised by `ab_glyph`,
//!   so no fontconfig or FreeType), and the `image` crate encodes the PNG.
//! * Files are written atomically: the PNG goes to a temporary file in the destination's own
//!   directory, which is then renamed over the destination. A reader (or a crash) never sees
//!   half a file, and a failed write leaves the previous figure in place. The destination's
//!   directory is created if missing.
//! * Bad input (wrong shapes, NaN weights, an empty history) is an error naming the problem,
//!   never a panic.

use std::error::Error;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use ab_glyph::{Font as _, FontRef, PxScale, ScaleFont as _, point};
use ferrite::prelude::Tensor;
use plotters::backend::{BitMapBackend, RGBPixel};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;

/// The error of every function here: a message naming what went wrong.
pub type PlotError = Box<dyn Error>;

/// The statistics of one training epoch, one point of each curve of [`save_curves_png`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochStats {
    /// The epoch number (the x axis), usually counted from 1.
    pub epoch: usize,
    /// The mean training loss over the epoch.
    pub train_loss: f64,
    /// The fraction of training digits classified correctly, in `[0, 1]` (plotted in %).
    pub train_accuracy: f64,
    /// The fraction of test digits classified correctly, in `[0, 1]` (plotted in %).
    pub test_accuracy: f64,
}

/// The font family name the bundled font is registered under (plotters' default family).
const FONT_NAME: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("assets/DejaVuSans.ttf");

const WHITE_RGB: [u8; 3] = [255, 255, 255];
const TEXT: RGBColor = RGBColor(30, 30, 30);
const MUTED: RGBColor = RGBColor(100, 100, 100);
const TILE_BORDER: [u8; 3] = [170, 170, 170];
const TRAIN_COLOR: RGBColor = RGBColor(31, 119, 180);
const TEST_COLOR: RGBColor = RGBColor(230, 110, 20);

/// The largest figure drawn, in pixels per side: more filters or maps than fit are refused.
const MAX_SIDE: u32 = 8192;

/// Draws the filters of a convolution with one input channel (conv1's weight, shape
/// `[out_channels, 1, kh, kw]`, e.g. `[16, 1, 3, 3]`) as a grid of tiles, each weight a square
/// of 32 px for 3x3 kernels, coloured blue (negative), white (zero) or red (positive) on one
/// scale shared by all filters (`±max|w|`, shown on a colour bar), so strong and weak filters
/// can be told apart. Writes a PNG at `path` (at least 380 px wide).
///
/// # Errors
/// A weight tensor of another shape, with a non-finite value, or too big to draw; an I/O error.
pub fn save_filters_png(weights: &Tensor<f32>, path: &Path) -> Result<(), PlotError> {
    let canvas = render_filters(weights)?;
    write_atomic(path, &canvas.encode_png()?)
}

/// Draws one digit and its conv1 feature maps: the input `image` (row-major pixels in `[0, 1]`,
/// 28x28 for MNIST; any square size is accepted) in grey on the left, labelled with `label`,
/// and each map of `maps` (shape `[channels, H, W]`, or `[1, channels, H, W]`: conv1's output
/// after ReLU for that digit) as a tile on a grid, coloured with viridis from 0 (dark purple)
/// to that map's own maximum (yellow), captioned with its index and maximum; a map that is
/// zero everywhere (a "dead" filter for this digit) is marked as such. Writes a PNG at `path`.
///
/// # Errors
/// An image that is not square, maps of another shape, non-finite values, a figure too big to
/// draw; an I/O error.
pub fn save_feature_maps_png(
    image: &[f32],
    maps: &Tensor<f32>,
    label: usize,
    path: &Path,
) -> Result<(), PlotError> {
    let canvas = render_feature_maps(image, maps, label)?;
    write_atomic(path, &canvas.encode_png()?)
}

/// Draws the training curves side by side: the training loss per epoch, and the training and
/// test accuracy per epoch in percent, with axes, labels, a legend (with the final values) and
/// a marker on every epoch. Epochs are sorted by number; values that are not finite (a
/// diverged epoch) are left out of the lines. One epoch is enough: ranges are padded so they
/// are never empty. Writes a 1100x460 PNG at `path`.
///
/// # Errors
/// An empty history; an I/O error.
pub fn save_curves_png(history: &[EpochStats], path: &Path) -> Result<(), PlotError> {
    let canvas = render_curves(history)?;
    write_atomic(path, &canvas.encode_png()?)
}

// ---------------------------------------------------------------------------------------------
// The three figures, rendered in memory.

fn render_filters(weights: &Tensor<f32>) -> Result<Canvas, PlotError> {
    const OP: &str = "save_filters_png";
    let shape = weights.shape();
    let &[count, 1, kh, kw] = shape else {
        return Err(format!(
            "{OP}: expected weights of shape [out_channels, 1, kh, kw] \
             (the filters of a convolution with one input channel), found {shape:?}"
        )
        .into());
    };
    if count == 0 || kh == 0 || kw == 0 {
        return Err(format!("{OP}: no filters to draw in weights of shape {shape:?}").into());
    }
    if count > 4096 || kh > 64 || kw > 64 {
        return Err(
            format!("{OP}: {count} filters of {kh}x{kw} are too many or too big to draw").into(),
        );
    }
    let values = weights.to_vec();
    check_finite(OP, "weights", &values)?;
    let max_abs = values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let scale = if max_abs > 0.0 { max_abs } else { 1.0 };

    let cell = (96 / kh.max(kw)).max(2) as u32;
    let (tile_w, tile_h) = (kw as u32 * cell, kh as u32 * cell);
    let (cols, rows) = grid_dims(count);
    let (gap_x, gap_y, caption_h) = (16u32, 10u32, 20u32);
    let grid_w = grid_extent(cols, tile_w, gap_x);
    let grid_h = grid_extent(rows, tile_h + caption_h, gap_y);
    let (margin, header_h, bar_h) = (24u32, 66u32, 62u32);
    let width = (grid_w + 2 * margin).max(380);
    let height = margin + header_h + grid_h + bar_h + margin / 2;
    let mut canvas = Canvas::new(width, height)?;
    let center = (width / 2) as i32;

    canvas.text(
        "conv1 filters",
        (center, margin as i32),
        24.0,
        TEXT,
        Anchor::MIDDLE_TOP,
    );
    let subtitle = if max_abs > 0.0 {
        format!("{count} filters of {kh}\u{d7}{kw}, on one colour scale: blue < 0 < red")
    } else {
        format!("{count} filters of {kh}\u{d7}{kw}: every weight is zero")
    };
    canvas.text(
        &subtitle,
        (center, margin as i32 + 34),
        14.0,
        MUTED,
        Anchor::MIDDLE_TOP,
    );

    let x0 = (width - grid_w) / 2;
    let y0 = margin + header_h;
    for (i, filter) in values.chunks(kh * kw).enumerate() {
        let (col, row) = ((i % cols) as u32, (i / cols) as u32);
        let x = x0 + col * (tile_w + gap_x);
        let y = y0 + row * (tile_h + caption_h + gap_y);
        let colors: Vec<[u8; 3]> = filter.iter().map(|&v| diverging(v / scale)).collect();
        canvas.frame(x, y, tile_w, tile_h, TILE_BORDER);
        canvas.blit_upscaled(x, y, kw, &colors, cell);
        let at = ((x + tile_w / 2) as i32, (y + tile_h + 4) as i32);
        canvas.text(&i.to_string(), at, 13.0, MUTED, Anchor::MIDDLE_TOP);
    }

    // The colour bar: -max ... 0 ... +max.
    let bar_w = (width - 2 * margin).min(320);
    let (bar_x, bar_y) = ((width - bar_w) / 2, y0 + grid_h + 14);
    let ramp: Vec<[u8; 3]> = (0..bar_w)
        .map(|i| diverging(2.0 * i as f32 / (bar_w - 1).max(1) as f32 - 1.0))
        .collect();
    for dy in 0..12 {
        canvas.blit_upscaled(bar_x, bar_y + dy, bar_w as usize, &ramp, 1);
    }
    canvas.frame(bar_x, bar_y, bar_w, 12, TILE_BORDER);
    let label_y = (bar_y + 18) as i32;
    let signed = |v: f32| {
        format!(
            "{}{}",
            if v < 0.0 { "\u{2212}" } else { "+" },
            short_number(v.abs())
        )
    };
    canvas.text(
        &signed(-scale),
        (bar_x as i32, label_y),
        13.0,
        TEXT,
        Anchor::START_TOP,
    );
    canvas.text("0", (center, label_y), 13.0, TEXT, Anchor::MIDDLE_TOP);
    canvas.text(
        &signed(scale),
        ((bar_x + bar_w) as i32, label_y),
        13.0,
        TEXT,
        Anchor::END_TOP,
    );
    Ok(canvas)
}

fn render_feature_maps(
    image: &[f32],
    maps: &Tensor<f32>,
    label: usize,
) -> Result<Canvas, PlotError> {
    const OP: &str = "save_feature_maps_png";
    let side = (image.len() as f64).sqrt().round() as usize;
    if side == 0 || side * side != image.len() || side > 512 {
        return Err(format!(
            "{OP}: expected a square image (28x28 = 784 pixels for MNIST), found {} pixels",
            image.len()
        )
        .into());
    }
    check_finite(OP, "the image", image)?;
    let shape = maps.shape();
    let (count, mh, mw) = match *shape {
        [c, h, w] | [1, c, h, w] => (c, h, w),
        _ => {
            return Err(format!(
                "{OP}: expected feature maps of shape [channels, H, W] or [1, channels, H, W], found {shape:?}"
            )
            .into());
        }
    };
    if count == 0 || mh == 0 || mw == 0 {
        return Err(format!("{OP}: no feature maps to draw in a tensor of shape {shape:?}").into());
    }
    if count > 1024 || mh > 512 || mw > 512 {
        return Err(
            format!("{OP}: {count} maps of {mh}x{mw} are too many or too big to draw").into(),
        );
    }
    let values = maps.to_vec();
    check_finite(OP, "the feature maps", &values)?;

    let (margin, header_h, caption_h, gap) = (24u32, 66u32, 22u32, 14u32);
    let in_cell = (168 / side).max(1) as u32;
    let in_side = side as u32 * in_cell;
    let cell = (112 / mh.max(mw)).max(1) as u32;
    let (tile_w, tile_h) = (mw as u32 * cell, mh as u32 * cell);
    let (cols, rows) = grid_dims(count);
    let grid_w = grid_extent(cols, tile_w, gap);
    let grid_h = grid_extent(rows, tile_h + caption_h, gap / 2);
    let left_w = in_side.max(190);
    let key_h = 64u32;
    let content_h = grid_h.max(in_side + caption_h + key_h);
    let width = (margin + left_w + 2 * margin + grid_w + margin).max(560);
    let height = margin + header_h + content_h + margin;
    let mut canvas = Canvas::new(width, height)?;
    let center = (width / 2) as i32;

    let title = format!("conv1 feature maps of a digit labelled {label}");
    canvas.text(
        &title,
        (center, margin as i32),
        24.0,
        TEXT,
        Anchor::MIDDLE_TOP,
    );
    let subtitle = format!(
        "{count} maps of {mh}\u{d7}{mw} (after ReLU), each coloured from 0 to its own maximum"
    );
    canvas.text(
        &subtitle,
        (center, margin as i32 + 34),
        14.0,
        MUTED,
        Anchor::MIDDLE_TOP,
    );

    let y0 = margin + header_h;
    // The input digit, grey on black like MNIST.
    let in_x = margin + (left_w - in_side) / 2;
    let digit: Vec<[u8; 3]> = image.iter().map(|&v| gray(v.clamp(0.0, 1.0))).collect();
    canvas.frame(in_x, y0, in_side, in_side, TILE_BORDER);
    canvas.blit_upscaled(in_x, y0, side, &digit, in_cell);
    let left_center = (margin + left_w / 2) as i32;
    let caption = format!("input ({side}\u{d7}{side}), label {label}");
    canvas.text(
        &caption,
        (left_center, (y0 + in_side + 6) as i32),
        14.0,
        TEXT,
        Anchor::MIDDLE_TOP,
    );
    // The colour key of the maps, under the digit.
    let bar_w = left_w.min(180);
    let (bar_x, bar_y) = (margin + (left_w - bar_w) / 2, y0 + in_side + caption_h + 26);
    let ramp: Vec<[u8; 3]> = (0..bar_w)
        .map(|i| viridis(i as f32 / (bar_w - 1).max(1) as f32))
        .collect();
    for dy in 0..12 {
        canvas.blit_upscaled(bar_x, bar_y + dy, bar_w as usize, &ramp, 1);
    }
    canvas.frame(bar_x, bar_y, bar_w, 12, TILE_BORDER);
    let key_y = (bar_y + 17) as i32;
    canvas.text("0", (bar_x as i32, key_y), 12.0, MUTED, Anchor::START_TOP);
    canvas.text(
        "map's maximum",
        ((bar_x + bar_w) as i32, key_y),
        12.0,
        MUTED,
        Anchor::END_TOP,
    );
    // A thin separator between the digit and the maps.
    let sep_x = margin + left_w + margin;
    canvas.fill_rect(sep_x, y0, 1, content_h, [225, 225, 225]);

    let x0 = sep_x + margin;
    for (i, map) in values.chunks(mh * mw).enumerate() {
        let (col, row) = ((i % cols) as u32, (i / cols) as u32);
        let x = x0 + col * (tile_w + gap);
        let y = y0 + row * (tile_h + caption_h + gap / 2);
        let lo = map.iter().fold(0.0f32, |m, &v| m.min(v));
        let hi = map.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let span = hi - lo;
        let colors: Vec<[u8; 3]> = map
            .iter()
            .map(|&v| viridis(if span > 0.0 { (v - lo) / span } else { 0.0 }))
            .collect();
        canvas.frame(x, y, tile_w, tile_h, TILE_BORDER);
        canvas.blit_upscaled(x, y, mw, &colors, cell);
        let text = if span > 0.0 {
            format!("{i}: max {}", short_number(hi))
        } else {
            format!("{i}: all {} (dead)", short_number(hi))
        };
        canvas.text(
            &text,
            ((x + tile_w / 2) as i32, (y + tile_h + 5) as i32),
            12.0,
            MUTED,
            Anchor::MIDDLE_TOP,
        );
    }
    Ok(canvas)
}

/// One curve of a panel of [`render_curves`].
struct Series {
    name: &'static str,
    color: RGBColor,
    /// Runs of consecutive finite points (a non-finite value breaks the line).
    points: Vec<Vec<(f64, f64)>>,
    /// How the last value is printed in the legend.
    unit: &'static str,
    digits: usize,
}

/// One panel of [`render_curves`].
struct Panel {
    title: &'static str,
    y_desc: &'static str,
    y_range: (f64, f64),
    series: Vec<Series>,
    legend_at_top: bool,
}

fn render_curves(history: &[EpochStats]) -> Result<Canvas, PlotError> {
    if history.is_empty() {
        return Err("save_curves_png: the history is empty: no epochs to plot".into());
    }
    let mut epochs: Vec<EpochStats> = history.to_vec();
    epochs.sort_by_key(|e| e.epoch);
    let (first, last) = (
        epochs[0].epoch as f64,
        epochs[epochs.len() - 1].epoch as f64,
    );
    let x_pad = if last > first {
        ((last - first) * 0.04).max(0.3)
    } else {
        0.5
    };
    let x_range = (first - x_pad, last + x_pad);
    let x_ticks = epoch_ticks(epochs.iter().map(|e| e.epoch));
    // A marker on every epoch, smaller (then none) as they crowd.
    let marker = match epochs.len() {
        0..=15 => 4,
        16..=50 => 3,
        _ => 0,
    };

    // The curves, broken where a value is not finite.
    let points = |f: fn(&EpochStats) -> f64, factor: f64| -> Vec<Vec<(f64, f64)>> {
        let mut runs = vec![Vec::new()];
        for e in &epochs {
            let y = f(e) * factor;
            match runs.last_mut() {
                Some(run) if y.is_finite() => run.push((e.epoch as f64, y)),
                Some(run) if !run.is_empty() => runs.push(Vec::new()),
                _ => {}
            }
        }
        runs.retain(|run| !run.is_empty());
        runs
    };
    let loss = Series {
        name: "train",
        color: TRAIN_COLOR,
        points: points(|e| e.train_loss, 1.0),
        unit: "",
        digits: 4,
    };
    let train_acc = Series {
        name: "train",
        color: TRAIN_COLOR,
        points: points(|e| e.train_accuracy, 100.0),
        unit: "%",
        digits: 2,
    };
    let test_acc = Series {
        name: "test",
        color: TEST_COLOR,
        points: points(|e| e.test_accuracy, 100.0),
        unit: "%",
        digits: 2,
    };
    // The loss axis starts at 0 (a loss is never negative), so one epoch looks like one too.
    let loss_values = loss
        .points
        .iter()
        .flatten()
        .map(|p| p.1)
        .chain(std::iter::once(0.0));
    let loss_range = padded_range(loss_values, Some(0.0), None, 1e-3);
    let acc_values = train_acc
        .points
        .iter()
        .chain(&test_acc.points)
        .flatten()
        .map(|p| p.1);
    let acc_range = padded_range(acc_values, Some(0.0), Some(100.0), 2.0);
    let panels = [
        Panel {
            title: "loss",
            y_desc: "mean training loss",
            y_range: loss_range,
            series: vec![loss],
            legend_at_top: true,
        },
        Panel {
            title: "accuracy",
            y_desc: "accuracy (%)",
            y_range: acc_range,
            series: vec![train_acc, test_acc],
            legend_at_top: false,
        },
    ];

    let (width, height) = (1100u32, 460u32);
    let mut canvas = Canvas::new(width, height)?;
    // Plotters draws the grid, the axes and the curves, and says where things went; the text
    // is drawn afterwards (see `Canvas::text`).
    let placed = canvas.draw(|root| {
        let area = root.margin(64, 8, 8, 8);
        let mut placed = Vec::new();
        for (panel, region) in panels.iter().zip(area.split_evenly((1, 2))) {
            let (y_ticks, y_digits) = nice_ticks(panel.y_range.0, panel.y_range.1, 6);
            let mut chart = ChartBuilder::on(&region)
                .margin_top(34)
                .margin_right(28)
                .x_label_area_size(56)
                .y_label_area_size(86)
                .build_cartesian_2d(
                    TickAxis::new(x_range, x_ticks.clone()),
                    TickAxis::new(panel.y_range, y_ticks.clone()),
                )?;
            chart
                .configure_mesh()
                .x_label_formatter(&|_| String::new())
                .y_label_formatter(&|_| String::new())
                .bold_line_style(RGBColor(228, 228, 228).stroke_width(1))
                .axis_style(RGBColor(110, 110, 110).stroke_width(1))
                .draw()?;
            for s in &panel.series {
                for run in &s.points {
                    let line = LineSeries::new(run.iter().copied(), s.color.stroke_width(2));
                    chart.draw_series(line)?;
                    if marker > 0 {
                        let dots = run
                            .iter()
                            .map(|&p| Circle::new(p, marker, s.color.filled()));
                        chart.draw_series(dots)?;
                    }
                }
            }
            let (xs, ys) = chart.plotting_area().get_pixel_range();
            let x_labels: Vec<(String, i32)> = x_ticks
                .iter()
                .map(|&t| {
                    (
                        format!("{t:.0}"),
                        chart.backend_coord(&(t, panel.y_range.0)).0,
                    )
                })
                .collect();
            let y_labels: Vec<(String, i32)> = y_ticks
                .iter()
                .map(|&t| {
                    (
                        format!("{t:.y_digits$}"),
                        chart.backend_coord(&(x_range.0, t)).1,
                    )
                })
                .collect();
            placed.push((xs, ys, x_labels, y_labels));
        }
        Ok(placed)
    })?;

    let n = epochs.len();
    let title = format!(
        "training curves, {n} epoch{}",
        if n == 1 { "" } else { "s" }
    );
    canvas.text(
        &title,
        ((width / 2) as i32, 16),
        22.0,
        TEXT,
        Anchor::MIDDLE_TOP,
    );
    for (panel, (xs, ys, x_labels, y_labels)) in panels.iter().zip(placed) {
        let mid_x = (xs.start + xs.end) / 2;
        canvas.text(
            panel.title,
            (mid_x, ys.start - 30),
            17.0,
            TEXT,
            Anchor::MIDDLE_TOP,
        );
        for (text, x) in &x_labels {
            canvas.text(text, (*x, ys.end + 9), 13.0, TEXT, Anchor::MIDDLE_TOP);
        }
        for (text, y) in &y_labels {
            canvas.text(text, (xs.start - 9, *y), 13.0, TEXT, Anchor::END_MIDDLE);
        }
        canvas.text(
            "epoch",
            (mid_x, ys.end + 32),
            14.0,
            TEXT,
            Anchor::MIDDLE_TOP,
        );
        let widest = y_labels
            .iter()
            .map(|(t, _)| canvas.text_width(t, 13.0))
            .fold(0.0f32, f32::max);
        let desc_x = xs.start - 9 - widest.ceil() as i32 - 16;
        canvas.text_vertical(panel.y_desc, (desc_x, (ys.start + ys.end) / 2), 14.0, TEXT);

        // The legend, in a corner the curves usually leave free.
        let entries: Vec<(String, RGBColor)> = panel
            .series
            .iter()
            .map(|s| {
                let text = match s.points.last().and_then(|run| run.last()) {
                    Some(&(_, y)) => format!(
                        "{} (last {y:.digits$}{})",
                        s.name,
                        s.unit,
                        digits = s.digits
                    ),
                    None => format!("{} (no finite values)", s.name),
                };
                (text, s.color)
            })
            .collect();
        let text_w = entries
            .iter()
            .map(|(t, _)| canvas.text_width(t, 13.0))
            .fold(0.0f32, f32::max);
        let (pad, line_h, swatch) = (10i32, 22i32, 24i32);
        let box_w = pad + swatch + 8 + text_w.ceil() as i32 + pad;
        let box_h = pad + line_h * entries.len() as i32 + pad - 6;
        let bx = xs.end - 12 - box_w;
        let by = if panel.legend_at_top {
            ys.start + 12
        } else {
            ys.end - 12 - box_h
        };
        if bx > xs.start && by > ys.start {
            canvas.fill_rect(bx as u32, by as u32, box_w as u32, box_h as u32, WHITE_RGB);
            canvas.frame(
                bx as u32,
                by as u32,
                box_w as u32,
                box_h as u32,
                [190, 190, 190],
            );
            for (k, (text, color)) in entries.iter().enumerate() {
                let cy = by + pad + line_h * k as i32 + 7;
                let rgb = [color.0, color.1, color.2];
                canvas.fill_rect((bx + pad) as u32, (cy - 1) as u32, swatch as u32, 3, rgb);
                canvas.disc(
                    (bx + pad + swatch / 2) as f32 + 0.5,
                    cy as f32 + 0.5,
                    4.0,
                    rgb,
                );
                canvas.text(
                    text,
                    (bx + pad + swatch + 8, cy),
                    13.0,
                    TEXT,
                    Anchor::START_MIDDLE,
                );
            }
        }
    }
    Ok(canvas)
}

/// A linear axis with tick marks and grid lines on given values only (whole epochs, round
/// numbers): plotters' own axes would draw and label fractional epochs.
#[derive(Clone)]
struct TickAxis {
    range: (f64, f64),
    ticks: Vec<f64>,
}

impl TickAxis {
    fn new(range: (f64, f64), ticks: Vec<f64>) -> Self {
        Self { range, ticks }
    }
}

impl Ranged for TickAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.1 - self.range.0;
        let t = if span > 0.0 {
            (value - self.range.0) / span
        } else {
            0.5
        };
        let t = if t.is_finite() {
            t.clamp(-1.0, 2.0)
        } else {
            0.5
        };
        limit.0 + ((limit.1 - limit.0) as f64 * t).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.0..self.range.1
    }
}

// ---------------------------------------------------------------------------------------------
// Small pure helpers.

/// Columns and rows of a near-square grid of `n` tiles (columns first): 16 -> 4x4, 10 -> 4x3.
fn grid_dims(n: usize) -> (usize, usize) {
    let cols = (1..=n.max(1)).find(|c| c * c >= n).unwrap_or(1);
    (cols, n.max(1).div_ceil(cols))
}

/// The length of `count` tiles of `size` pixels with `gap` pixels between them.
fn grid_extent(count: usize, size: u32, gap: u32) -> u32 {
    let count = count as u32;
    count * size + count.saturating_sub(1) * gap
}

/// The range `[lo, hi]` of an axis showing `values`: padded by 8% of their span, widened to
/// at least `min_span` (so that a single value or equal values still give a non-empty range),
/// and kept within `[floor, ceil]` where given and the values respect them. `floor + [0,
/// min_span]` when there are no finite values.
fn padded_range(
    values: impl Iterator<Item = f64>,
    floor: Option<f64>,
    ceil: Option<f64>,
    min_span: f64,
) -> (f64, f64) {
    let (data_lo, data_hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let min_span = if min_span > 0.0 { min_span } else { 1e-3 };
    if data_lo > data_hi {
        let lo = floor.unwrap_or(0.0);
        return (lo, lo + min_span);
    }
    let floor = floor.filter(|&f| data_lo >= f).unwrap_or(f64::NEG_INFINITY);
    let ceil = ceil.filter(|&c| data_hi <= c).unwrap_or(f64::INFINITY);
    let pad = (data_hi - data_lo) * 0.08;
    let (mut lo, mut hi) = (data_lo - pad, data_hi + pad);
    if hi - lo < min_span {
        let mid = (lo + hi) / 2.0;
        (lo, hi) = (mid - min_span / 2.0, mid + min_span / 2.0);
    }
    // Slide the range back inside the bounds, then cut what still sticks out.
    if lo < floor {
        (lo, hi) = (floor, hi + (floor - lo));
    }
    if hi > ceil {
        (lo, hi) = (lo - (hi - ceil), ceil);
    }
    (lo.max(floor), hi.min(ceil))
}

/// The epochs to label on the x axis: every one up to 12 of them; else the multiples of a
/// round step (1, 2 or 5 times a power of ten) giving at most 10 labels, and the first epoch
/// when it is not too close to the next label.
fn epoch_ticks(epochs: impl Iterator<Item = usize>) -> Vec<f64> {
    let mut all: Vec<usize> = epochs.collect();
    all.sort_unstable();
    all.dedup();
    let (Some(&first), Some(&last)) = (all.first(), all.last()) else {
        return Vec::new();
    };
    if all.len() <= 12 {
        return all.iter().map(|&e| e as f64).collect();
    }
    let span = last - first;
    let step = (0..20)
        .flat_map(|k| [1, 2, 5].map(|m| m * 10usize.pow(k)))
        .find(|&s| span / s <= 9)
        .unwrap_or(span.max(1));
    let mut ticks: Vec<f64> = (first.div_ceil(step) * step..=last)
        .step_by(step)
        .map(|e| e as f64)
        .collect();
    if ticks
        .first()
        .is_none_or(|&t| t - first as f64 > step as f64 / 2.0)
    {
        ticks.insert(0, first as f64);
    }
    ticks
}

/// A number in a few significant digits: `1.23`, `0.0457`, `12.3`, `1.2e5`.
fn short_number(v: f32) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".to_string()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a >= 0.1 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

fn check_finite(op: &str, what: &str, values: &[f32]) -> Result<(), PlotError> {
    let bad = values.iter().filter(|v| !v.is_finite()).count();
    if bad > 0 {
        return Err(format!(
            "{op}: {what} contain {bad} non-finite value{} (NaN or infinity) out of {}; \
             has the training diverged?",
            if bad == 1 { "" } else { "s" },
            values.len()
        )
        .into());
    }
    Ok(())
}

/// Linear interpolation between evenly spaced colour stops, `t` in `[0, 1]`.
fn ramp(stops: &[[u8; 3]], t: f32) -> [u8; 3] {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (stops.len() - 1) as f32;
    let i = (x.floor() as usize).min(stops.len() - 2);
    let f = x - i as f32;
    let (a, b) = (stops[i], stops[i + 1]);
    std::array::from_fn(|k| (a[k] as f32 + (b[k] as f32 - a[k] as f32) * f).round() as u8)
}

/// Blue (-1), white (0), red (+1): ColorBrewer's RdBu.
fn diverging(t: f32) -> [u8; 3] {
    const STOPS: [[u8; 3]; 7] = [
        [5, 48, 97],
        [67, 147, 195],
        [209, 229, 240],
        [247, 247, 247],
        [253, 219, 199],
        [214, 96, 77],
        [103, 0, 31],
    ];
    ramp(&STOPS, (t + 1.0) / 2.0)
}

/// Matplotlib's viridis, `t` in `[0, 1]`.
fn viridis(t: f32) -> [u8; 3] {
    const STOPS: [[u8; 3]; 9] = [
        [68, 1, 84],
        [71, 44, 122],
        [59, 81, 139],
        [44, 113, 142],
        [33, 144, 141],
        [39, 173, 129],
        [92, 200, 99],
        [170, 220, 50],
        [253, 231, 37],
    ];
    ramp(&STOPS, t)
}

fn gray(t: f32) -> [u8; 3] {
    ramp(&[[0, 0, 0], [255, 255, 255]], t)
}

/// Round tick values covering `[lo, hi]`, about `target` of them (steps of 1, 2, 2.5 or 5
/// times a power of ten), with the number of decimals that prints them exactly.
fn nice_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, usize) {
    let span = hi - lo;
    if !(span > 0.0 && span.is_finite() && lo.is_finite()) {
        return (vec![lo], 2);
    }
    let raw = span / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude);
    let (first, last) = (
        (lo / step - 1e-9).ceil() as i64,
        (hi / step + 1e-9).floor() as i64,
    );
    let mut digits = (-step.log10().floor()).max(0.0) as usize;
    if ((step / magnitude) - 2.5).abs() < 1e-9 {
        digits += 1;
    }
    // Rounded to those decimals, so 3 x 0.1 is 0.3 and not 0.30000000000000004.
    let unit = 10f64.powi(digits as i32);
    let ticks = (first..=last)
        .take(100)
        .map(|k| (k as f64 * step * unit).round() / unit)
        .collect();
    (ticks, digits)
}

/// The bundled font, parsed once. Also registered with plotters (its `ab_glyph` backend), for
/// any text plotters itself lays out.
fn font() -> Result<&'static FontRef<'static>, PlotError> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| {
        let font = FontRef::try_from_slice(FONT_BYTES).ok()?;
        plotters::style::register_font(FONT_NAME, FontStyle::Normal, FONT_BYTES).ok()?;
        Some(font)
    })
    .as_ref()
    .ok_or_else(|| "the bundled font assets/DejaVuSans.ttf could not be loaded".into())
}

/// Where a piece of text is placed relative to the point it is drawn at.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Anchor {
    /// 0 = the point is at the left of the text, 0.5 = at its middle, 1 = at its right.
    h: f32,
    /// 0 = at the top of the line, 0.5 = half-way up the capital letters, 1 = at the bottom.
    v: f32,
}

impl Anchor {
    const START_TOP: Anchor = Anchor { h: 0.0, v: 0.0 };
    const MIDDLE_TOP: Anchor = Anchor { h: 0.5, v: 0.0 };
    const END_TOP: Anchor = Anchor { h: 1.0, v: 0.0 };
    const START_MIDDLE: Anchor = Anchor { h: 0.0, v: 0.5 };
    const END_MIDDLE: Anchor = Anchor { h: 1.0, v: 0.5 };
}

/// A line of text rasterised to coverage values (`0..=1`, row-major `width` x `height`), with
/// the layout numbers needed to place it.
struct TextImage {
    coverage: Vec<f32>,
    width: usize,
    height: usize,
    /// The advance width of the text.
    advance: f32,
    /// The baseline's row, and the height of a capital letter above it.
    baseline: f32,
    cap: f32,
}

/// Lays out and rasterises `text` at `size` (ab_glyph's scale: the height from the lowest
/// descender to the highest ascender, in pixels), with kerning and each glyph at its own
/// side bearing.
fn rasterize(font: &FontRef<'static>, text: &str, size: f32) -> TextImage {
    let scaled = font.as_scaled(PxScale::from(size));
    let (ascent, descent) = (scaled.ascent(), scaled.descent());
    let pad = 1.0;
    let mut caret = 0.0f32;
    let mut prev = None;
    let mut glyphs = Vec::with_capacity(text.len());
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            caret += scaled.kern(p, id);
        }
        glyphs.push(id.with_scale_and_position(size, point(pad + caret, pad + ascent)));
        caret += scaled.h_advance(id);
        prev = Some(id);
    }
    let width = (caret + 2.0 * pad).ceil().max(1.0) as usize + 1;
    let height = (ascent - descent + 2.0 * pad).ceil().max(1.0) as usize + 1;
    let mut coverage = vec![0.0f32; width * height];
    for glyph in glyphs {
        if let Some(outline) = font.outline_glyph(glyph) {
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, c| {
                let x = bounds.min.x as i64 + gx as i64;
                let y = bounds.min.y as i64 + gy as i64;
                if (0..width as i64).contains(&x) && (0..height as i64).contains(&y) {
                    let v = &mut coverage[y as usize * width + x as usize];
                    *v = (*v + c).min(1.0);
                }
            });
        }
    }
    let cap = font
        .outline_glyph(
            scaled
                .glyph_id('H')
                .with_scale_and_position(size, point(0.0, 0.0)),
        )
        .map_or(0.7 * size, |o| -o.px_bounds().min.y);
    TextImage {
        coverage,
        width,
        height,
        advance: caret,
        baseline: pad + ascent,
        cap,
    }
}

// ---------------------------------------------------------------------------------------------
// The in-memory RGB canvas, its PNG encoding and the atomic write.

struct Canvas {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
    font: &'static FontRef<'static>,
}

impl Canvas {
    /// A white canvas.
    fn new(width: u32, height: u32) -> Result<Self, PlotError> {
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
            return Err(format!(
                "a figure of {width}x{height} pixels is too big to draw (at most {MAX_SIDE} per side)"
            )
            .into());
        }
        Ok(Self {
            width,
            height,
            rgb: WHITE_RGB.repeat(width as usize * height as usize),
            font: font()?,
        })
    }

    /// Fills a rectangle, clipped to the canvas.
    fn fill_rect(&mut self, x: u32, y: u32, w: u32, h: u32, color: [u8; 3]) {
        let (x1, y1) = ((x + w).min(self.width), (y + h).min(self.height));
        for yy in y.min(y1)..y1 {
            let row = (yy * self.width) as usize * 3;
            for xx in x.min(x1)..x1 {
                let i = row + xx as usize * 3;
                self.rgb[i..i + 3].copy_from_slice(&color);
            }
        }
    }

    /// A one-pixel frame just outside the rectangle `(x, y, w, h)`.
    fn frame(&mut self, x: u32, y: u32, w: u32, h: u32, color: [u8; 3]) {
        let (fx, fy) = (x.saturating_sub(1), y.saturating_sub(1));
        let (fw, fh) = (x + w + 1 - fx, y + h + 1 - fy);
        self.fill_rect(fx, fy, fw, 1, color);
        self.fill_rect(fx, fy + fh - 1, fw, 1, color);
        self.fill_rect(fx, fy, 1, fh, color);
        self.fill_rect(fx + fw - 1, fy, 1, fh, color);
    }

    /// Draws row-major `colors` (`cols` per row), each as a `cell` x `cell` square.
    fn blit_upscaled(&mut self, x: u32, y: u32, cols: usize, colors: &[[u8; 3]], cell: u32) {
        for (i, &c) in colors.iter().enumerate() {
            let (cx, cy) = ((i % cols) as u32, (i / cols) as u32);
            self.fill_rect(x + cx * cell, y + cy * cell, cell, cell, c);
        }
    }

    /// Blends `color` over the pixel `(x, y)` with opacity `alpha` (outside: nothing).
    fn blend(&mut self, x: i64, y: i64, color: [u8; 3], alpha: f32) {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 || alpha <= 0.0 {
            return;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        for (k, &c) in color.iter().enumerate() {
            let d = self.rgb[i + k] as f32;
            self.rgb[i + k] = (d + (c as f32 - d) * alpha.min(1.0)).round() as u8;
        }
    }

    /// A filled, anti-aliased disc of `radius` centred on `(cx, cy)`.
    fn disc(&mut self, cx: f32, cy: f32, radius: f32, color: [u8; 3]) {
        let r = radius.ceil() as i64 + 1;
        let (x0, y0) = (cx.floor() as i64, cy.floor() as i64);
        for y in y0 - r..=y0 + r {
            for x in x0 - r..=x0 + r {
                let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
                self.blend(x, y, color, (radius + 0.5 - d).clamp(0.0, 1.0));
            }
        }
    }

    /// The advance width of `text` at `size`, in pixels.
    fn text_width(&self, text: &str, size: f32) -> f32 {
        rasterize(self.font, text, size).advance
    }

    /// Draws one line of `text` at `size` in `color`, placed at `at` by `anchor`.
    fn text(&mut self, text: &str, at: (i32, i32), size: f32, color: RGBColor, anchor: Anchor) {
        let t = rasterize(self.font, text, size);
        let left = at.0 as f32 - anchor.h * t.advance - 1.0;
        let top = if anchor.v == 0.5 {
            at.1 as f32 - (t.baseline - t.cap / 2.0)
        } else {
            at.1 as f32 - anchor.v * (t.height as f32 - 2.0) - 1.0
        };
        let (left, top) = (left.round() as i64, top.round() as i64);
        let rgb = [color.0, color.1, color.2];
        for y in 0..t.height {
            for x in 0..t.width {
                self.blend(
                    left + x as i64,
                    top + y as i64,
                    rgb,
                    t.coverage[y * t.width + x],
                );
            }
        }
    }

    /// Draws `text` turned a quarter left (read from bottom to top), centred on `at`.
    fn text_vertical(&mut self, text: &str, at: (i32, i32), size: f32, color: RGBColor) {
        let t = rasterize(self.font, text, size);
        // The rotated image is t.height wide and t.width tall; (x, y) goes to (y, width-1-x).
        let left = at.0 as i64 - (t.baseline - t.cap / 2.0).round() as i64;
        let top = at.1 as i64 - (t.advance / 2.0).round() as i64 - 1;
        let rgb = [color.0, color.1, color.2];
        for y in 0..t.height {
            for x in 0..t.width {
                let (rx, ry) = (y as i64, (t.width - 1 - x) as i64);
                self.blend(left + rx, top + ry, rgb, t.coverage[y * t.width + x]);
            }
        }
    }

    /// Draws with plotters (grids, axes, curves) on top of what is already on the canvas.
    fn draw<R>(
        &mut self,
        f: impl FnOnce(&DrawingArea<BitMapBackend<'_, RGBPixel>, Shift>) -> Result<R, PlotError>,
    ) -> Result<R, PlotError> {
        let backend = BitMapBackend::<RGBPixel>::with_buffer_and_format(
            &mut self.rgb,
            (self.width, self.height),
        )?;
        let root = backend.into_drawing_area();
        let result = f(&root)?;
        root.present()?;
        Ok(result)
    }

    fn encode_png(&self) -> Result<Vec<u8>, PlotError> {
        use image::ImageEncoder as _;
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png).write_image(
            &self.rgb,
            self.width,
            self.height,
            image::ExtendedColorType::Rgb8,
        )?;
        Ok(png)
    }
}

/// Writes `bytes` to `path` atomically: to a fresh temporary file in the same directory
/// (created if missing), flushed to disk, then renamed over `path`. On failure the temporary
/// file is removed and `path` is left as it was.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| format!("{}: not a file path", path.display()))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)
        .map_err(|e| format!("{}: cannot create the directory: {e}", dir.display()))?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(
        ".{}.{}-{n}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = fs::File::create_new(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(format!("{}: cannot write: {e}", path.display()).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn tensor(shape: &[usize], f: impl Fn(usize) -> f32) -> Tensor<f32> {
        let n = shape.iter().product();
        Tensor::from_vec((0..n).map(f).collect(), shape).unwrap()
    }

    fn history(n: usize) -> Vec<EpochStats> {
        (1..=n)
            .map(|e| EpochStats {
                epoch: e,
                train_loss: 1.0 / e as f64,
                train_accuracy: 0.9 + 0.009 * e as f64,
                test_accuracy: 0.89 + 0.008 * e as f64,
            })
            .collect()
    }

    #[test]
    fn filters_png_is_a_valid_png_big_enough_to_see() {
        let dir = super::super::test_dir("filters");
        let path = dir.join("filters.png");
        let w = tensor(&[16, 1, 3, 3], |i| ((i * 37) % 17) as f32 / 8.0 - 1.0);
        save_filters_png(&w, &path).unwrap();
        let img = image::open(&path).unwrap();
        assert!(img.width() >= 300, "width {}", img.width());
        let c = render_filters(&w).unwrap();
        assert_eq!((img.width(), img.height()), (c.width, c.height));
        // One filter, other kernel sizes, all-zero weights: still drawn.
        save_filters_png(&tensor(&[1, 1, 5, 5], |_| 0.0), &path).unwrap();
        assert!(image::open(&path).unwrap().width() >= 300);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn filters_refuse_bad_shapes_and_nan_without_writing() {
        let dir = super::super::test_dir("filters-bad");
        let path = dir.join("f.png");
        for w in [
            tensor(&[16, 3, 3, 3], |_| 0.1),
            tensor(&[16, 9], |_| 0.1),
            tensor(&[0, 1, 3, 3], |_| 0.1),
        ] {
            let e = save_filters_png(&w, &path).unwrap_err().to_string();
            assert!(e.contains("save_filters_png"), "{e}");
        }
        let e = save_filters_png(
            &tensor(&[2, 1, 3, 3], |i| if i == 4 { f32::NAN } else { 0.1 }),
            &path,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("non-finite"), "{e}");
        assert!(entries(&dir).is_empty());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn feature_maps_png_is_a_valid_png() {
        let dir = super::super::test_dir("maps");
        let path = dir.join("maps.png");
        let image: Vec<f32> = (0..784).map(|i| (i % 28) as f32 / 27.0).collect();
        let mut maps = tensor(&[16, 26, 26], |i| (i % 26) as f32 * 0.1);
        save_feature_maps_png(&image, &maps, 7, &path).unwrap();
        let img = image::open(&path).unwrap();
        let c = render_feature_maps(&image, &maps, 7).unwrap();
        assert_eq!((img.width(), img.height()), (c.width, c.height));
        assert!(img.width() >= 300);
        // A batch of one, a dead map, one map.
        maps = tensor(&[1, 3, 28, 28], |i| if i < 784 { 0.0 } else { 1.0 });
        save_feature_maps_png(&image, &maps, 3, &path).unwrap();
        save_feature_maps_png(&image, &tensor(&[1, 5, 5], |_| 1.0), 0, &path).unwrap();
        assert_eq!(entries(&dir), vec!["maps.png"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn feature_maps_refuse_bad_input() {
        let image = vec![0.5f32; 784];
        let maps = tensor(&[4, 26, 26], |_| 1.0);
        assert!(render_feature_maps(&image[..700], &maps, 1).is_err());
        assert!(render_feature_maps(&[], &maps, 1).is_err());
        assert!(render_feature_maps(&image, &tensor(&[2, 4, 26, 26], |_| 1.0), 1).is_err());
        assert!(render_feature_maps(&image, &tensor(&[26, 26], |_| 1.0), 1).is_err());
        let mut nan_image = image.clone();
        nan_image[3] = f32::NAN;
        assert!(render_feature_maps(&nan_image, &maps, 1).is_err());
        assert!(render_feature_maps(&image, &tensor(&[4, 26, 26], |_| f32::INFINITY), 1).is_err());
    }

    #[test]
    fn curves_png_is_valid_for_one_and_many_epochs() {
        let dir = super::super::test_dir("curves");
        let path = dir.join("curves.png");
        for n in [1, 2, 5, 40] {
            save_curves_png(&history(n), &path).unwrap();
            let img = image::open(&path).unwrap();
            assert_eq!((img.width(), img.height()), (1100, 460));
        }
        // Epoch 0 alone, unsorted epochs, equal values, non-finite values: no panic.
        let mut h = history(4);
        h.swap(0, 3);
        h[1].train_loss = f64::NAN;
        h[2].test_accuracy = f64::INFINITY;
        save_curves_png(&h, &path).unwrap();
        let flat = EpochStats {
            epoch: 0,
            train_loss: 0.0,
            train_accuracy: 1.0,
            test_accuracy: 1.0,
        };
        save_curves_png(&[flat], &path).unwrap();
        let all_nan = EpochStats {
            epoch: 3,
            train_loss: f64::NAN,
            train_accuracy: f64::NAN,
            test_accuracy: f64::NAN,
        };
        save_curves_png(&[all_nan], &path).unwrap();
        assert!(
            save_curves_png(&[], &path)
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        assert_eq!(entries(&dir), vec!["curves.png"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn atomic_write_replaces_the_file_and_leaves_no_temporary_file() {
        let dir = super::super::test_dir("atomic");
        let path = dir.join("sub").join("out.png");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(entries(&dir.join("sub")), vec!["out.png"]);
        // A destination that cannot be written (a directory in the way): an error naming it,
        // and still no temporary file.
        let blocked = dir.join("sub").join("blocked.png");
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("x"), b"x").unwrap();
        let e = write_atomic(&blocked, b"data").unwrap_err().to_string();
        assert!(e.contains("blocked.png"), "{e}");
        assert_eq!(entries(&dir.join("sub")), vec!["blocked.png", "out.png"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn text_is_drawn_with_the_bundled_font() {
        let mut c = Canvas::new(200, 60).unwrap();
        let w = c.text_width("conv1 filters", 20.0);
        assert!((80.0..160.0).contains(&w), "{w}");
        c.text("conv1 filters", (100, 10), 20.0, TEXT, Anchor::MIDDLE_TOP);
        c.text_vertical("loss", (10, 30), 14.0, TEXT);
        let dark = |x0: usize, x1: usize| {
            (0..60)
                .flat_map(|y| (x0..x1).map(move |x| (y * 200 + x) * 3))
                .filter(|&i| c.rgb[i] < 128)
                .count()
        };
        assert!(dark(30, 170) > 100, "no title drawn");
        assert!(dark(0, 20) > 20, "no vertical text drawn");
        assert_eq!(dark(180, 200), 0, "text drawn off its place");
    }

    #[test]
    fn padded_ranges_are_never_empty() {
        let r = |v: &[f64], floor, ceil, min| padded_range(v.iter().copied(), floor, ceil, min);
        let (lo, hi) = r(&[0.5], Some(0.0), None, 1e-3);
        assert!(lo < 0.5 && hi > 0.5);
        assert_eq!(
            r(&[100.0, 100.0], Some(0.0), Some(100.0), 2.0),
            (98.0, 100.0)
        );
        assert_eq!(r(&[0.0], Some(0.0), Some(100.0), 2.0), (0.0, 2.0));
        assert_eq!(r(&[], Some(0.0), None, 1e-3), (0.0, 1e-3));
        let (lo, hi) = r(&[f64::NAN, 2.0, 4.0], None, None, 1e-3);
        assert!(lo < 2.0 && hi > 4.0);
        // Values beyond a bound (accuracies given in % instead of fractions, a negative
        // loss) are still inside the range.
        let (lo, hi) = r(&[9000.0, 9700.0], Some(0.0), Some(100.0), 2.0);
        assert!(lo < 9000.0 && hi > 9700.0);
        let (lo, _) = r(&[-0.5, 1.0], Some(0.0), None, 1e-3);
        assert!(lo < -0.5);
    }

    #[test]
    fn helpers() {
        assert_eq!(grid_dims(16), (4, 4));
        assert_eq!(grid_dims(10), (4, 3));
        assert_eq!(grid_dims(1), (1, 1));
        assert_eq!(grid_dims(32), (6, 6));
        assert_eq!(epoch_ticks([3, 1, 2].into_iter()), vec![1.0, 2.0, 3.0]);
        let t = epoch_ticks(1..=40);
        assert_eq!(t, vec![1.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0]);
        assert_eq!(epoch_ticks(0..=100).len(), 6);
        assert_eq!(epoch_ticks(3..=15), vec![4.0, 6.0, 8.0, 10.0, 12.0, 14.0]);
        assert_eq!(
            epoch_ticks(std::iter::once(usize::MAX)),
            vec![usize::MAX as f64]
        );
        assert_eq!(diverging(-1.0), [5, 48, 97]);
        assert_eq!(diverging(0.0), [247, 247, 247]);
        assert_eq!(diverging(1.0), [103, 0, 31]);
        assert_eq!(viridis(f32::NAN), viridis(0.0));
        assert_eq!(
            nice_ticks(0.0, 0.54, 6),
            (vec![0.0, 0.1, 0.2, 0.3, 0.4, 0.5], 1)
        );
        assert_eq!(
            nice_ticks(89.3, 98.7, 6).0,
            vec![90.0, 92.0, 94.0, 96.0, 98.0]
        );
        assert_eq!(
            nice_ticks(0.0, 10.0, 4),
            (vec![0.0, 2.5, 5.0, 7.5, 10.0], 1)
        );
        assert_eq!(nice_ticks(1.0, 1.0, 6).0, vec![1.0]);
        assert_eq!(short_number(0.0457), "0.0457");
        assert_eq!(short_number(1.234), "1.23");
    }
}
