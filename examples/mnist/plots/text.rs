//! plotters' bitmap backend with text laid out by ab_glyph in the bundled font.
//!
//! plotters 0.3.7 (the newest 0.3) places each ab_glyph glyph without its left side bearing,
//! which spaces letters unevenly ("con v1", "0. 5"). [`Backend`] passes everything to the
//! bitmap backend but text, which it lays out itself, so all of plotters' text (titles, tick
//! labels, axis descriptions, legends) comes out evenly spaced. Delete this file once plotters
//! draws ab_glyph text correctly.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use ab_glyph::{Font as _, FontRef, PxScale, ScaleFont as _, point};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendTextStyle, DrawingErrorKind};

use super::PlotError;

/// The font family name the bundled font is registered under (plotters' default family).
pub const FONT_NAME: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The bundled font, parsed once, and registered with plotters as its "sans-serif" family
/// (plotters' own text layout measures legends with it).
pub(super) fn font() -> Result<&'static FontRef<'static>, PlotError> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| {
        plotters::style::register_font(FONT_NAME, FontStyle::Normal, FONT_BYTES).ok()?;
        FontRef::try_from_slice(FONT_BYTES).ok()
    })
    .as_ref()
    .ok_or_else(|| "the bundled font assets/DejaVuSans.ttf could not be loaded".into())
}

/// plotters' bitmap backend, except that text is laid out here (see the module's note).
pub(super) struct Backend<'a> {
    bitmap: BitMapBackend<'a>,
    font: &'static FontRef<'static>,
}

impl<'a> Backend<'a> {
    /// Draws on `bitmap`, text in the bundled font.
    pub(super) fn new(bitmap: BitMapBackend<'a>) -> Result<Self, PlotError> {
        Ok(Self {
            bitmap,
            font: font()?,
        })
    }
}

type BackendResult<T = ()> =
    Result<T, DrawingErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>>;

impl DrawingBackend for Backend<'_> {
    type ErrorType = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.bitmap.get_size()
    }
    fn ensure_prepared(&mut self) -> BackendResult {
        self.bitmap.ensure_prepared()
    }
    fn present(&mut self) -> BackendResult {
        self.bitmap.present()
    }
    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> BackendResult {
        self.bitmap.draw_pixel(point, color)
    }
    // Lines and rectangles take the bitmap backend's fast paths (plotters' generic ones would
    // also fill a rectangle's right and bottom edges, one pixel more).
    fn draw_line<S: plotters_backend::BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> BackendResult {
        self.bitmap.draw_line(from, to, style)
    }
    fn draw_rect<S: plotters_backend::BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> BackendResult {
        self.bitmap.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> BackendResult<(u32, u32)> {
        let line = TextLine::new(self.font, text, style.size() as f32);
        Ok((line.width as u32, line.height as u32))
    }

    /// The text's box (advance width x line height) is placed by the style's anchor, then
    /// turned by its transform about the anchor point, as plotters' own text drawing does.
    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        at: BackendCoord,
    ) -> BackendResult {
        let line = TextLine::new(self.font, text, style.size() as f32);
        let (w, h) = (line.width, line.height);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Center => -w / 2,
            HPos::Right => -w,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -h / 2,
            VPos::Bottom => -h,
        };
        let (color, turn, size) = (style.color(), style.transform(), self.get_size());
        for ((x, y), coverage) in line.coverage {
            let (x, y) = turn.transform(x + dx, y + dy);
            let (x, y) = (at.0 + x, at.1 + y);
            if x >= 0 && y >= 0 && x < size.0 as i32 && y < size.1 as i32 {
                let color = color.mix(f64::from(coverage.min(1.0)));
                self.bitmap.draw_pixel((x, y), color)?;
            }
        }
        Ok(())
    }
}

/// One line of text rasterised: the coverage (`0..=1`) of each pixel, relative to the top
/// left of its box (the advance width by the line height, the baseline at the ascent).
pub(super) struct TextLine {
    pub(super) width: i32,
    pub(super) height: i32,
    pub(super) coverage: BTreeMap<(i32, i32), f32>,
}

impl TextLine {
    /// Lays out `text` at `size` with kerning and each glyph at its own side bearing.
    pub(super) fn new(font: &FontRef<'static>, text: &str, size: f32) -> Self {
        let scaled = font.as_scaled(PxScale::from(size));
        let mut coverage = BTreeMap::new();
        let (mut caret, mut prev) = (0.0f32, None);
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            caret += prev.map_or(0.0, |p| scaled.kern(p, id));
            let glyph = id.with_scale_and_position(size, point(caret, scaled.ascent()));
            if let Some(outline) = font.outline_glyph(glyph) {
                let min = outline.px_bounds().min;
                outline.draw(|x, y, c| {
                    let at = (min.x as i32 + x as i32, min.y as i32 + y as i32);
                    *coverage.entry(at).or_insert(0.0) += c;
                });
            }
            caret += scaled.h_advance(id);
            prev = Some(id);
        }
        let height = (scaled.ascent() - scaled.descent()).ceil() as i32;
        Self {
            width: caret.ceil() as i32,
            height,
            coverage,
        }
    }
}
