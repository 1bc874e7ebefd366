//! PNG figures of the mnist example: the learned conv1 filters ([`save_filters_png`]), the
//! conv1 feature maps of one digit ([`save_feature_maps_png`]) and the training curves
//! ([`save_curves_png`]).
//!
//! * Pure Rust, nothing to install: plotters' bitmap backend draws charts, tiles and text in
//!   memory, the text in the DejaVu Sans font compiled into the binary
//!   (`assets/DejaVuSans.ttf`, read by `ab_glyph`: no fontconfig or FreeType), and the
//!   `image` crate encodes the PNG.
//! * Files are written atomically by ferrite's `write_atomic` (a temporary file renamed over
//!   the destination): a reader or a crash never sees half a file, and a failed write leaves
//!   the previous figure in place. The destination's directory is created if missing.
//! * Bad input (wrong shapes, NaN weights, an empty history) is an error naming the problem,
//!   never a panic.

use std::error::Error;
use std::ops::Range;
use std::path::Path;

use ferrite::nn::checkpoint::write_atomic;
use ferrite::prelude::Tensor;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use text::{Backend, FONT_NAME};

#[cfg(test)]
mod tests;
mod text;

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

impl EpochStats {
    /// `history` as one line of text for a checkpoint's metadata: `epoch,loss,train,test`
    /// per epoch, separated by `;` (read back by [`EpochStats::parse_history`]).
    pub fn format_history(history: &[EpochStats]) -> String {
        history
            .iter()
            .map(|s| {
                format!(
                    "{},{},{},{}",
                    s.epoch, s.train_loss, s.train_accuracy, s.test_accuracy
                )
            })
            .collect::<Vec<_>>()
            .join(";")
    }

    /// The history written by [`EpochStats::format_history`]; an error names the entry that
    /// does not parse.
    pub fn parse_history(text: &str) -> Result<Vec<EpochStats>, PlotError> {
        let mut out = Vec::new();
        for item in text.split(';').filter(|s| !s.is_empty()) {
            let malformed = || format!("checkpoint history entry '{item}' is malformed");
            let f: Vec<&str> = item.split(',').collect();
            if f.len() != 4 {
                return Err(malformed().into());
            }
            let number = |s: &str| {
                s.parse::<f64>()
                    .map_err(|e| format!("{}: {e}", malformed()))
            };
            out.push(EpochStats {
                epoch: f[0].parse().map_err(|e| format!("{}: {e}", malformed()))?,
                train_loss: number(f[1])?,
                train_accuracy: number(f[2])?,
                test_accuracy: number(f[3])?,
            });
        }
        Ok(out)
    }
}

const TEXT: RGBColor = RGBColor(30, 30, 30);
const MUTED: RGBColor = RGBColor(100, 100, 100);
const FRAME: RGBColor = RGBColor(170, 170, 170);
const TRAIN_COLOR: RGBColor = RGBColor(31, 119, 180);
const TEST_COLOR: RGBColor = RGBColor(230, 110, 20);
/// ColorBrewer's RdBu, blue (-1) to white (0) to red (+1): the filters' colour map.
const RED_BLUE: [RGBColor; 7] = [
    RGBColor(5, 48, 97),
    RGBColor(67, 147, 195),
    RGBColor(209, 229, 240),
    RGBColor(247, 247, 247),
    RGBColor(253, 219, 199),
    RGBColor(214, 96, 77),
    RGBColor(103, 0, 31),
];

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
    save(path, &filters_png(weights)?)
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
    save(path, &feature_maps_png(image, maps, label)?)
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
    save(path, &curves_png(history)?)
}

fn save(path: &Path, png: &[u8]) -> Result<(), PlotError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("{}: cannot create the directory: {e}", dir.display()))?;
    }
    Ok(write_atomic(path, png)?)
}

// ---------------------------------------------------------------------------------------------
// The three figures.

/// The filters' count and size (`[count, kh, kw]`) and their weights, or why they cannot be
/// drawn.
fn check_filters(weights: &Tensor<f32>) -> Result<([usize; 3], Vec<f32>), PlotError> {
    const OP: &str = "save_filters_png";
    let shape = weights.shape();
    let &[count, 1, kh, kw] = shape else {
        return Err(format!(
            "{OP}: expected weights of shape [out_channels, 1, kh, kw] \
             (the filters of a convolution with one input channel), found {shape:?}"
        )
        .into());
    };
    let msg = format!("{OP}: no filters to draw in weights of shape {shape:?}");
    ensure(count > 0 && kh > 0 && kw > 0, msg)?;
    let msg = format!("{OP}: {count} filters of {kh}x{kw} are too many or too big to draw");
    ensure(count <= 4096 && kh <= 64 && kw <= 64, msg)?;
    let values = weights.to_vec();
    check_finite(OP, "weights", &values)?;
    Ok(([count, kh, kw], values))
}

fn filters_png(weights: &Tensor<f32>) -> Result<Vec<u8>, PlotError> {
    let ([count, kh, kw], values) = check_filters(weights)?;
    let max_abs = values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let scale = if max_abs > 0.0 { max_abs } else { 1.0 };
    let red_blue = DerivedColorMap::new(&RED_BLUE);
    let color = |v: f32| red_blue.get_color_normalized(v, -scale, scale);
    let subtitle = if max_abs > 0.0 {
        format!("{count} filters of {kh}\u{d7}{kw}, on one colour scale: blue < 0 < red")
    } else {
        format!("{count} filters of {kh}\u{d7}{kw}: every weight is zero")
    };
    let cell = (96 / kh.max(kw)).max(2) as i32;
    let (tile_w, tile_h, (cols, rows)) = (kw as i32 * cell, kh as i32 * cell, grid_dims(count));
    let (grid_w, grid_h) = (cols * (tile_w + 16) - 16, rows * (tile_h + 30) - 10);
    let width = (grid_w + 48).max(380);
    render_png(width, 90 + grid_h + 74, |root| {
        draw_header(root, width, "conv1 filters", &subtitle)?;
        let caption = style(13.0, MUTED, CENTRE);
        for (i, filter) in values.chunks(kh * kw).enumerate() {
            let x = (width - grid_w) / 2 + i as i32 % cols * (tile_w + 16);
            let y = 90 + i as i32 / cols * (tile_h + 30);
            let colors: Vec<RGBColor> = filter.iter().map(|&v| color(v)).collect();
            draw_tile(root, (x, y), kw, (cell, cell), &colors)?;
            root.draw_text(&i.to_string(), &caption, (x + tile_w / 2, y + tile_h + 4))?;
        }
        let bar_w = (width - 48).min(320);
        let at = ((width - bar_w) / 2, 90 + grid_h + 14);
        let key = short_number(scale);
        let labels = [&format!("\u{2212}{key}"), "0", &format!("+{key}")];
        let text = style(13.0, TEXT, CENTRE);
        draw_colour_bar(
            root,
            at,
            bar_w,
            |t| color(scale * (2.0 * t - 1.0)),
            labels,
            &text,
        )
    })
}

/// The image's side, the maps' count and size (`[count, mh, mw]`) and their values, or why
/// they cannot be drawn.
fn check_feature_maps(
    image: &[f32],
    maps: &Tensor<f32>,
) -> Result<(usize, [usize; 3], Vec<f32>), PlotError> {
    const OP: &str = "save_feature_maps_png";
    let side = (image.len() as f64).sqrt().round() as usize;
    let msg = format!(
        "{OP}: expected a square image (28x28 = 784 pixels for MNIST), found {} pixels",
        image.len()
    );
    ensure(side > 0 && side * side == image.len() && side <= 512, msg)?;
    check_finite(OP, "the image", image)?;
    let shape = maps.shape();
    let (&[count, mh, mw] | &[1, count, mh, mw]) = shape else {
        return Err(format!(
            "{OP}: expected feature maps of shape [channels, H, W] or [1, channels, H, W], \
             found {shape:?}"
        )
        .into());
    };
    let msg = format!("{OP}: no feature maps to draw in a tensor of shape {shape:?}");
    ensure(count > 0 && mh > 0 && mw > 0, msg)?;
    let msg = format!("{OP}: {count} maps of {mh}x{mw} are too many or too big to draw");
    ensure(count <= 1024 && mh <= 512 && mw <= 512, msg)?;
    let values = maps.to_vec();
    check_finite(OP, "the feature maps", &values)?;
    Ok((side, [count, mh, mw], values))
}

fn feature_maps_png(image: &[f32], maps: &Tensor<f32>, label: usize) -> Result<Vec<u8>, PlotError> {
    let (side, [count, mh, mw], values) = check_feature_maps(image, maps)?;
    let in_cell = (168 / side).max(1) as i32;
    let in_side = side as i32 * in_cell;
    let cell = (112 / mh.max(mw)).max(1) as i32;
    let (tile_w, tile_h, (cols, rows)) = (mw as i32 * cell, mh as i32 * cell, grid_dims(count));
    let (grid_w, grid_h) = (cols * (tile_w + 14) - 14, rows * (tile_h + 29) - 7);
    let left_w = in_side.max(190);
    let content_h = grid_h.max(in_side + 86);
    let width = (left_w + grid_w + 96).max(560);
    render_png(width, 90 + content_h + 24, |root| {
        let title = format!("conv1 feature maps of a digit labelled {label}");
        let subtitle = format!(
            "{count} maps of {mh}\u{d7}{mw} (after ReLU), each coloured from 0 to its own maximum"
        );
        draw_header(root, width, &title, &subtitle)?;
        // The input digit, grey on black like MNIST, and the colour key of the maps under it.
        let mid = 24 + left_w / 2;
        let digit: Vec<RGBColor> = image.iter().map(|&v| BlackWhite::get_color(v)).collect();
        draw_tile(
            root,
            (mid - in_side / 2, 90),
            side,
            (in_cell, in_cell),
            &digit,
        )?;
        let caption = format!("input ({side}\u{d7}{side}), label {label}");
        root.draw_text(
            &caption,
            &style(14.0, TEXT, CENTRE),
            (mid, 90 + in_side + 6),
        )?;
        let (bar_w, labels) = (left_w.min(180), ["0", "", "map's maximum"]);
        let at = (mid - bar_w / 2, 90 + in_side + 48);
        let text = style(12.0, MUTED, CENTRE);
        draw_colour_bar(root, at, bar_w, ViridisRGB::get_color, labels, &text)?;
        // A thin separator between the digit and the maps, then the maps.
        let sep_x = left_w + 48;
        let separator = [(sep_x, 90), (sep_x, 90 + content_h)];
        root.draw(&PathElement::new(separator, RGBColor(225, 225, 225)))?;
        let caption = style(12.0, MUTED, CENTRE);
        for (i, map) in values.chunks(mh * mw).enumerate() {
            let x = sep_x + 24 + i as i32 % cols * (tile_w + 14);
            let y = 90 + i as i32 / cols * (tile_h + 29);
            let lo = map.iter().fold(0.0f32, |m, &v| m.min(v));
            let hi = map.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let t = |v| if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
            let colors: Vec<RGBColor> = map.iter().map(|&v| ViridisRGB::get_color(t(v))).collect();
            draw_tile(root, (x, y), mw, (cell, cell), &colors)?;
            let text = if hi > lo {
                format!("{i}: max {}", short_number(hi))
            } else {
                format!("{i}: all {} (dead)", short_number(hi))
            };
            root.draw_text(&text, &caption, (x + tile_w / 2, y + tile_h + 5))?;
        }
        Ok(())
    })
}

/// One curve of a panel of [`curves_png`]: its runs of consecutive finite points (a value
/// that is not finite breaks the line), and its legend with the last value.
struct Series {
    color: RGBColor,
    runs: Vec<Vec<(f64, f64)>>,
    legend: String,
}

impl Series {
    /// `name`'s curve of `y` over `epochs`; its last value printed in `unit` (% with 2
    /// decimals, none with 4).
    fn new(
        name: &str,
        unit: &str,
        color: RGBColor,
        epochs: &[EpochStats],
        y: fn(&EpochStats) -> f64,
    ) -> Self {
        let mut runs = vec![Vec::new()];
        for e in epochs {
            match runs.last_mut() {
                Some(run) if y(e).is_finite() => run.push((e.epoch as f64, y(e))),
                Some(run) if !run.is_empty() => runs.push(Vec::new()),
                _ => {}
            }
        }
        runs.retain(|run| !run.is_empty());
        let digits = if unit == "%" { 2 } else { 4 };
        let legend = match runs.last().and_then(|run| run.last()) {
            Some(&(_, y)) => format!("{name} (last {y:.digits$}{unit})"),
            None => format!("{name} (no finite values)"),
        };
        Self {
            color,
            runs,
            legend,
        }
    }
}

/// One panel of [`curves_png`].
struct Panel {
    title: &'static str,
    y_desc: &'static str,
    y_range: (f64, f64),
    series: Vec<Series>,
    legend: SeriesLabelPosition,
}

fn curves_png(history: &[EpochStats]) -> Result<Vec<u8>, PlotError> {
    if history.is_empty() {
        return Err("save_curves_png: the history is empty: no epochs to plot".into());
    }
    let mut epochs: Vec<EpochStats> = history.to_vec();
    epochs.sort_by_key(|e| e.epoch);
    let loss = Series::new("train", "", TRAIN_COLOR, &epochs, |e| e.train_loss);
    let train = Series::new("train", "%", TRAIN_COLOR, &epochs, |e| {
        100.0 * e.train_accuracy
    });
    let test = Series::new("test", "%", TEST_COLOR, &epochs, |e| {
        100.0 * e.test_accuracy
    });
    // The loss axis starts at 0 (a loss is never negative), so one epoch looks like one too.
    let values = |s: &[&Series]| {
        s.iter()
            .flat_map(|s| s.runs.concat())
            .map(|p| p.1)
            .collect()
    };
    let loss_values: Vec<f64> = values(&[&loss]);
    let acc_values: Vec<f64> = values(&[&train, &test]);
    let loss_range = padded_range(loss_values.into_iter().chain([0.0]), Some(0.0), None, 1e-3);
    let panels = [
        Panel {
            title: "loss",
            y_desc: "mean training loss",
            y_range: loss_range,
            series: vec![loss],
            legend: SeriesLabelPosition::UpperRight,
        },
        Panel {
            title: "accuracy",
            y_desc: "accuracy (%)",
            y_range: padded_range(acc_values.into_iter(), Some(0.0), Some(100.0), 2.0),
            series: vec![train, test],
            legend: SeriesLabelPosition::LowerRight,
        },
    ];
    let x_axis = epoch_axis(epochs[0].epoch, epochs[epochs.len() - 1].epoch);
    // A marker on every epoch, smaller (then none) as they crowd.
    let marker = match epochs.len() {
        0..=15 => 4,
        16..=50 => 3,
        _ => 0,
    };
    let n = epochs.len();
    let title = format!(
        "training curves, {n} epoch{}",
        if n == 1 { "" } else { "s" }
    );
    render_png(1100, 460, |root| {
        let root = root
            .margin(10, 8, 8, 8)
            .titled(&title, style(22.0, TEXT, CENTRE))?;
        let areas = root.margin(22, 0, 0, 0).split_evenly((1, 2));
        for (panel, area) in panels.iter().zip(areas) {
            draw_panel(&area, panel, &x_axis, marker)?;
        }
        Ok(())
    })
}

/// One chart of [`curves_png`]: grid, axes and their labels, the curves and the legend.
fn draw_panel(
    area: &Area,
    panel: &Panel,
    x_axis: &Range<f64>,
    marker: u32,
) -> Result<(), PlotError> {
    let y_axis = panel.y_range.0..panel.y_range.1;
    let y_ticks = RangedCoordf64::from(y_axis.clone()).key_points(6);
    let y_digits = y_ticks.iter().map(|&t| decimals(t)).max().unwrap_or(0);
    let mut chart = ChartBuilder::on(area)
        .caption(panel.title, style(17.0, TEXT, CENTRE))
        .margin_right(28)
        .margin_left(30)
        .x_label_area_size(46)
        .y_label_area_size(58)
        .build_cartesian_2d(x_axis.clone(), y_axis)?;
    chart
        .configure_mesh()
        .max_light_lines(0)
        .x_labels(epoch_ticks(x_axis))
        .y_labels(6)
        .bold_line_style(RGBColor(228, 228, 228))
        .axis_style(RGBColor(110, 110, 110))
        .label_style(style(13.0, TEXT, TOP_LEFT))
        .axis_desc_style(style(14.0, TEXT, TOP_LEFT))
        .x_desc("epoch")
        .y_desc(panel.y_desc)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.y_digits$}"))
        .draw()?;
    for s in &panel.series {
        let line = |run: &Vec<(f64, f64)>| {
            LineSeries::new(run.iter().copied(), s.color.filled().stroke_width(2))
                .point_size(marker)
        };
        for run in &s.runs {
            chart.draw_series(line(run))?;
        }
        // An empty series carries the legend entry (also of a curve with no finite value).
        let color = s.color;
        let drawn = chart.draw_series(line(&Vec::new()))?;
        drawn.label(&s.legend).legend(move |(x, y)| {
            EmptyElement::at((x, y))
                + PathElement::new([(0, 0), (24, 0)], color.stroke_width(3))
                + Circle::new((12, 0), 4, color.filled())
        });
    }
    chart
        .configure_series_labels()
        .position(panel.legend.clone())
        .margin(8)
        .legend_area_size(30)
        .background_style(WHITE)
        .border_style(RGBColor(190, 190, 190))
        .label_font(style(13.0, TEXT, TOP_LEFT))
        .draw()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Drawing helpers.

type Area<'a> = DrawingArea<Backend<'a>, Shift>;

/// A white `width` x `height` picture drawn by `draw`, encoded as PNG.
fn render_png(
    width: i32,
    height: i32,
    draw: impl FnOnce(&Area) -> Result<(), PlotError>,
) -> Result<Vec<u8>, PlotError> {
    if !(1..=MAX_SIDE as i32).contains(&width) || !(1..=MAX_SIDE as i32).contains(&height) {
        return Err(format!(
            "a figure of {width}x{height} pixels is too big to draw (at most {MAX_SIDE} per side)"
        )
        .into());
    }
    let (width, height) = (width as u32, height as u32);
    let mut rgb = vec![255u8; width as usize * height as usize * 3];
    let root = Backend::new(BitMapBackend::with_buffer(&mut rgb, (width, height)))?;
    let root = root.into_drawing_area();
    draw(&root)?;
    root.present()?;
    drop(root);
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        &rgb,
        width,
        height,
        image::ExtendedColorType::Rgb8,
    )?;
    Ok(png)
}

/// Text anchored at the middle of its top edge, and at its top left corner.
const CENTRE: Pos = Pos {
    h_pos: HPos::Center,
    v_pos: VPos::Top,
};
const TOP_LEFT: Pos = Pos {
    h_pos: HPos::Left,
    v_pos: VPos::Top,
};

/// The bundled font at `size` pixels (ab_glyph's scale: from the lowest descender to the
/// highest ascender) in `color`, placed by `pos` relative to the point it is drawn at.
fn style(size: f64, color: RGBColor, pos: Pos) -> TextStyle<'static> {
    let font = (FONT_NAME, size).into_font();
    TextStyle {
        font,
        color: color.to_backend_color(),
        pos,
    }
}

/// A figure's title (24 px) and subtitle (14 px), centred at the top.
fn draw_header(root: &Area, width: i32, title: &str, subtitle: &str) -> Result<(), PlotError> {
    root.draw_text(title, &style(24.0, TEXT, CENTRE), (width / 2, 24))?;
    root.draw_text(subtitle, &style(14.0, MUTED, CENTRE), (width / 2, 58))?;
    Ok(())
}

/// Draws row-major `colors` (`cols` per row) as cells of `cell` pixels from `at`, in a grey
/// one-pixel frame.
fn draw_tile(
    root: &Area,
    at: (i32, i32),
    cols: usize,
    cell: (i32, i32),
    colors: &[RGBColor],
) -> Result<(), PlotError> {
    for (i, color) in colors.iter().enumerate() {
        let x = at.0 + (i % cols) as i32 * cell.0;
        let y = at.1 + (i / cols) as i32 * cell.1;
        root.draw(&Rectangle::new(
            [(x, y), (x + cell.0, y + cell.1)],
            color.filled(),
        ))?;
    }
    let w = cols as i32 * cell.0;
    let h = colors.len().div_ceil(cols) as i32 * cell.1;
    root.draw(&Rectangle::new(
        [(at.0 - 1, at.1 - 1), (at.0 + w, at.1 + h)],
        FRAME,
    ))?;
    Ok(())
}

/// A colour bar `width` px wide at `at`, `color(t)` from t = 0 (left) to 1 (right), with
/// `labels` under its left end, middle and right end.
fn draw_colour_bar(
    root: &Area,
    at: (i32, i32),
    width: i32,
    color: impl Fn(f32) -> RGBColor,
    labels: [&str; 3],
    text: &TextStyle,
) -> Result<(), PlotError> {
    let ramp: Vec<RGBColor> = (0..width)
        .map(|i| color(i as f32 / (width - 1) as f32))
        .collect();
    draw_tile(root, at, ramp.len(), (1, 12), &ramp)?;
    for (k, h) in [HPos::Left, HPos::Center, HPos::Right]
        .into_iter()
        .enumerate()
    {
        let x = at.0 + k as i32 * width / 2;
        root.draw_text(labels[k], &text.pos(Pos::new(h, VPos::Top)), (x, at.1 + 18))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Small pure helpers.

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

/// The x axis from epoch `first` to `last`, padded so that the first and last markers are
/// inside (half an epoch on each side of a single epoch).
fn epoch_axis(first: usize, last: usize) -> Range<f64> {
    let (first, last) = (first as f64, last as f64);
    let pad = if last > first {
        ((last - first) * 0.04).max(0.3)
    } else {
        0.5
    };
    first - pad..last + pad
}

/// How many x ticks to ask plotters for: as many as there are whole epochs in `x_axis`, at
/// most 10. plotters picks the finest step of 1, 2 or 5 times a power of ten that gives no more
/// ticks than asked for, so a step below one epoch (with more ticks) is never taken.
fn epoch_ticks(x_axis: &Range<f64>) -> usize {
    let whole = x_axis.end.floor() - x_axis.start.ceil() + 1.0;
    whole.clamp(1.0, 10.0) as usize
}

/// The fewest decimals (at most 6) that print `v` exactly enough: 0.2 -> 1, 95.0 -> 0.
fn decimals(v: f64) -> usize {
    (0..6)
        .find(|&d| {
            let scaled = v * 10f64.powi(d as i32);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.abs().max(1.0)
        })
        .unwrap_or(6)
}

/// A number in three significant digits (at most 4 decimals): `1.23`, `0.0457`, `123`, `1.2e5`.
fn short_number(v: f32) -> String {
    let a = v.abs();
    if a == 0.0 {
        return "0".to_string();
    }
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.1e}");
    }
    let decimals = (2 - a.log10().floor() as i32).clamp(0, 4) as usize;
    format!("{v:.decimals$}")
}

/// Columns and rows of a near-square grid of `n` tiles (columns first): 16 -> 4x4, 10 -> 4x3.
fn grid_dims(n: usize) -> (i32, i32) {
    let cols = (1..=n.max(1)).find(|c| c * c >= n).unwrap_or(1);
    (cols as i32, n.max(1).div_ceil(cols) as i32)
}

fn ensure(ok: bool, message: String) -> Result<(), PlotError> {
    if ok { Ok(()) } else { Err(message.into()) }
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
