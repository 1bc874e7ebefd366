//! Your own digit for the model: [`load_digit`] turns a PNG or JPEG of a handwritten digit
//! (a photo or a scan of any size, dark ink on light paper or light on dark) into a 28x28
//! grayscale image prepared the way the MNIST digits were: a white digit on a black
//! background, scaled to fit a 20x20 box and centred by its centre of mass.
//!
//! To feed it to the model, scale and normalise each pixel like the training data, e.g.
//! `Normalize::MNIST.apply(pixel) as f32`, into a tensor of shape `[1, 1, 28, 28]`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use image::{DynamicImage, GrayImage, ImageBuffer, ImageDecoder as _, ImageReader, Luma};

/// The side of an MNIST image.
pub const SIDE: usize = 28;
/// The side of the box an MNIST digit is scaled to fit, before centring in the 28x28 field.
const BOX: usize = 20;
/// Images are first reduced to at most this many pixels per side: plenty for a 20-px digit,
/// and it keeps the work of a 12-megapixel photo small.
const WORK_SIDE: u32 = 512;
/// Strokes thinner than this fraction of the digit's longer side (1.2 px of MNIST's 20-px box,
/// measured at half intensity) are thickened to about [`TYPICAL_STROKE`] (1.8 px).
const THINNEST_STROKE: f32 = 0.06;
const TYPICAL_STROKE: f32 = 0.09;
/// The least difference in grey levels (of 255) between ink and paper that counts as a digit.
const MIN_CONTRAST: f32 = 32.0;

/// Why a digit image could not be loaded. Every message names the file.
#[derive(Debug)]
pub enum DigitError {
    /// The file could not be opened or read.
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file is not a PNG or JPEG image that can be decoded.
    Decode {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        message: String,
    },
    /// The image is blank, or has too little contrast for a digit to be found.
    NoDigit {
        /// The file.
        path: PathBuf,
    },
}

impl fmt::Display for DigitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DigitError::Read { path, source } => {
                write!(f, "{}: cannot read the file: {source}", path.display())
            }
            DigitError::Decode { path, message } => write!(
                f,
                "{}: not a readable image (PNG and JPEG are supported): {message}",
                path.display()
            ),
            DigitError::NoDigit { path } => write!(
                f,
                "{}: no digit found (the image is blank or its ink has too little contrast)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for DigitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DigitError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Loads the PNG or JPEG at `path` (the format is told by the content, not the extension;
/// JPEG EXIF rotation is applied) and returns its digit as 28x28 = 784 row-major grayscale
/// pixels, white digit on black, like an MNIST image. See [`digit_from_image`] for the steps.
///
/// # Errors
/// [`DigitError::Read`] when the file cannot be read, [`DigitError::Decode`] when it is not a
/// PNG or JPEG that decodes, [`DigitError::NoDigit`] when no digit is found in it.
pub fn load_digit(path: &Path) -> Result<Vec<u8>, DigitError> {
    let read = |source| DigitError::Read {
        path: path.to_path_buf(),
        source,
    };
    let decode = |e: image::ImageError| match e {
        image::ImageError::IoError(source) => read(source),
        other => DigitError::Decode {
            path: path.to_path_buf(),
            message: other.to_string(),
        },
    };
    let reader = ImageReader::open(path)
        .map_err(read)?
        .with_guessed_format()
        .map_err(read)?;
    let mut decoder = reader.into_decoder().map_err(decode)?;
    let orientation = decoder.orientation().map_err(decode)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode)?;
    image.apply_orientation(orientation);
    digit_from_image(&image).ok_or_else(|| DigitError::NoDigit {
        path: path.to_path_buf(),
    })
}

/// The digit of `image` as 28x28 row-major grayscale pixels, white on black; `None` when the
/// image holds no digit (blank, or too little contrast). The steps, as for MNIST:
///
/// 1. luminance, with transparent pixels composited onto white paper;
/// 2. reduced to at most 512 px per side (area-averaging);
/// 3. polarity: when the border is bright (dark ink on light paper) the image is inverted, so
///    the digit is bright;
/// 4. ink and paper are told apart by Otsu's threshold; the paper becomes black and the ink
///    is stretched to white (a blank or low-contrast image has no digit);
/// 5. cropped to the bounding box of the ink (ignoring stray specks at the edges);
/// 6. strokes much thinner than MNIST's pen (under 6% of the digit's longer side) are
///    thickened to about 9%, so a thin pen on a big photo does not become a faint digit;
/// 7. scaled, keeping the aspect ratio, so the longer side is 20 px (Catmull-Rom filter,
///    widened by the shrink factor so that it averages over the source pixels: crisper than
///    a triangle, with less ringing than Lanczos), brightest pixel stretched to white;
/// 8. pasted into a black 28x28 field so that the centre of mass of the pixels is at the
///    centre of the field (pixel (14, 14), where it is in MNIST); rounded and clamped to
///    `0..=255`.
pub fn digit_from_image(image: &DynamicImage) -> Option<Vec<u8>> {
    let gray = luma_on_white(image);
    let gray = if gray.width().max(gray.height()) > WORK_SIDE {
        let (w, h) = fit_within(
            gray.width() as usize,
            gray.height() as usize,
            WORK_SIDE as usize,
        );
        imageops::resize(&gray, w as u32, h as u32, FilterType::Triangle)
    } else {
        gray
    };
    let (w, h) = (gray.width() as usize, gray.height() as usize);
    let mut pixels: Vec<f32> = gray.as_raw().iter().map(|&v| v as f32).collect();
    if border_mean(&pixels, w, h) > 127.5 {
        pixels.iter_mut().for_each(|v| *v = 255.0 - *v);
    }
    let ink = separate_ink(&pixels)?;
    let (x0, y0, x1, y1) = ink_bounds(&ink, w, h)?;
    let (mut cw, mut ch) = (x1 - x0, y1 - y0);
    let mut crop: Vec<f32> = (y0..y1)
        .flat_map(|y| ink[y * w + x0..y * w + x1].iter().copied())
        .collect();
    let long = cw.max(ch) as f32;
    let stroke = stroke_width(&crop, cw, ch);
    if stroke < THINNEST_STROKE * long {
        let r = (((TYPICAL_STROKE * long - stroke) / 2.0).round() as usize).max(1);
        (crop, cw, ch) = pad(&crop, cw, ch, r);
        crop = dilate(&crop, cw, ch, r);
    }
    let boxed = scale_to_box(&crop, cw, ch)?;
    Some(center_by_mass(&boxed.0, boxed.1, boxed.2))
}

/// The luminance of `image`, with transparency composited onto white.
fn luma_on_white(image: &DynamicImage) -> GrayImage {
    if !image.color().has_alpha() {
        return image.to_luma8();
    }
    let la = image.to_luma_alpha8();
    GrayImage::from_fn(la.width(), la.height(), |x, y| {
        let [l, a] = la.get_pixel(x, y).0;
        let (l, a) = (l as f32, a as f32 / 255.0);
        Luma([(l * a + 255.0 * (1.0 - a)).round() as u8])
    })
}

/// `(w, h)` scaled so that the longer side is `side` (each side at least 1).
fn fit_within(w: usize, h: usize, side: usize) -> (usize, usize) {
    let long = w.max(h).max(1) as f64;
    let f = side as f64 / long;
    (
        ((w as f64 * f).round() as usize).max(1),
        ((h as f64 * f).round() as usize).max(1),
    )
}

/// The mean of the pixels in a border about 5% of the image's shorter side thick.
fn border_mean(pixels: &[f32], w: usize, h: usize) -> f32 {
    let b = (w.min(h) / 20).max(1);
    let (mut sum, mut n) = (0.0f64, 0usize);
    for y in 0..h {
        for x in 0..w {
            if x < b || y < b || x + b >= w || y + b >= h {
                sum += pixels[y * w + x] as f64;
                n += 1;
            }
        }
    }
    if n == 0 { 0.0 } else { (sum / n as f64) as f32 }
}

/// Bright ink on dark paper (`0..=255`) -> ink in `[0, 1]` on exactly 0: Otsu's threshold
/// splits the levels into paper and ink; paper (and its noise up to halfway to the
/// threshold) becomes 0 and the ink's mean level 1. `None` when ink and paper differ by less
/// than [`MIN_CONTRAST`] or there is almost no ink.
fn separate_ink(pixels: &[f32]) -> Option<Vec<f32>> {
    let mut hist = [0usize; 256];
    for &v in pixels {
        hist[v.clamp(0.0, 255.0).round() as usize] += 1;
    }
    let t = otsu_threshold(&hist)?;
    let (mut n0, mut s0, mut n1, mut s1) = (0usize, 0.0f64, 0usize, 0.0f64);
    for (level, &count) in hist.iter().enumerate() {
        if level <= t {
            (n0, s0) = (n0 + count, s0 + (level * count) as f64);
        } else {
            (n1, s1) = (n1 + count, s1 + (level * count) as f64);
        }
    }
    if n0 == 0 || n1 == 0 {
        return None;
    }
    let (paper, ink) = ((s0 / n0 as f64) as f32, (s1 / n1 as f64) as f32);
    let min_ink = (pixels.len() / 2000).max(2);
    if ink - paper < MIN_CONTRAST || n1 < min_ink {
        return None;
    }
    let zero = (paper + t as f32) / 2.0;
    let span = (ink - zero).max(1.0);
    Some(
        pixels
            .iter()
            .map(|&v| ((v - zero) / span).clamp(0.0, 1.0))
            .collect(),
    )
}

/// Otsu's threshold of a histogram: the level `t` that maximises the between-class variance
/// of `..=t` and `t+1..`; `None` when all pixels have one level.
fn otsu_threshold(hist: &[usize; 256]) -> Option<usize> {
    let total: usize = hist.iter().sum();
    let sum_all: f64 = hist.iter().enumerate().map(|(l, &c)| (l * c) as f64).sum();
    let (mut n0, mut s0) = (0usize, 0.0f64);
    let mut best: Option<(f64, usize)> = None;
    for (t, &count) in hist.iter().enumerate().take(255) {
        n0 += count;
        s0 += (t * count) as f64;
        let n1 = total - n0;
        if n0 == 0 || n1 == 0 {
            continue;
        }
        let (m0, m1) = (s0 / n0 as f64, (sum_all - s0) / n1 as f64);
        let between = n0 as f64 * n1 as f64 * (m0 - m1) * (m0 - m1);
        if best.is_none_or(|(b, _)| between > b) {
            best = Some((between, t));
        }
    }
    best.map(|(_, t)| t)
}

/// The bounding box `(x0, y0, x1, y1)` (exclusive ends) of the ink, leaving out rows and
/// columns at the edges that together hold at most 0.2% of the ink (stray specks, dust).
fn ink_bounds(ink: &[f32], w: usize, h: usize) -> Option<(usize, usize, usize, usize)> {
    let mut rows = vec![0.0f64; h];
    let mut cols = vec![0.0f64; w];
    for y in 0..h {
        for x in 0..w {
            let v = ink[y * w + x] as f64;
            rows[y] += v;
            cols[x] += v;
        }
    }
    let total: f64 = rows.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let (x0, x1) = trimmed_span(&cols, total * 0.002)?;
    let (y0, y1) = trimmed_span(&rows, total * 0.002)?;
    Some((x0, y0, x1, y1))
}

/// The span `start..end` of `mass` left after dropping, from each end, the leading entries
/// whose running sum stays within `slack`, and then any empty entries.
fn trimmed_span(mass: &[f64], slack: f64) -> Option<(usize, usize)> {
    fn cut<'a>(mut iter: impl Iterator<Item = (usize, &'a f64)>, slack: f64) -> Option<usize> {
        let mut acc = 0.0;
        iter.find(|&(_, &m)| {
            acc += m;
            acc > slack && m > 0.0
        })
        .map(|(i, _)| i)
    }
    let start = cut(mass.iter().enumerate(), slack)?;
    let end = cut(mass.iter().enumerate().rev(), slack)?;
    (start <= end).then_some((start, end + 1))
}

/// The mean width of the strokes in pixels, from the ink's area and its boundary: a stroke of
/// width `w` and length `L` has an area of about `w L` and about `2 L` boundary pixels.
fn stroke_width(ink: &[f32], w: usize, h: usize) -> f32 {
    let on = |x: isize, y: isize| {
        x >= 0
            && y >= 0
            && (x as usize) < w
            && (y as usize) < h
            && ink[y as usize * w + x as usize] > 0.5
    };
    let (mut area, mut boundary) = (0usize, 0usize);
    for y in 0..h as isize {
        for x in 0..w as isize {
            if on(x, y) {
                area += 1;
                if !(on(x - 1, y) && on(x + 1, y) && on(x, y - 1) && on(x, y + 1)) {
                    boundary += 1;
                }
            }
        }
    }
    if boundary == 0 {
        0.0
    } else {
        2.0 * area as f32 / boundary as f32
    }
}

/// `image` with a black margin of `r` pixels on every side.
fn pad(image: &[f32], w: usize, h: usize, r: usize) -> (Vec<f32>, usize, usize) {
    let (pw, ph) = (w + 2 * r, h + 2 * r);
    let mut out = vec![0.0; pw * ph];
    for y in 0..h {
        out[(y + r) * pw + r..(y + r) * pw + r + w].copy_from_slice(&image[y * w..(y + 1) * w]);
    }
    (out, pw, ph)
}

/// Grey-level dilation with a (2r+1)-square: each pixel becomes the maximum of its
/// neighbourhood (separable: rows, then columns).
fn dilate(image: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let mut rows = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let (a, b) = (x.saturating_sub(r), (x + r + 1).min(w));
            rows[y * w + x] = image[y * w + a..y * w + b]
                .iter()
                .fold(0.0, |m, &v| m.max(v));
        }
    }
    let mut out = vec![0.0f32; w * h];
    for y in 0..h {
        let (a, b) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            out[y * w + x] = (a..b).fold(0.0, |m, yy| m.max(rows[yy * w + x]));
        }
    }
    out
}

/// `ink` scaled so that its longer side is 20 px, keeping the aspect ratio, with its brightest
/// pixel stretched to 1: `(pixels, width, height)`.
fn scale_to_box(ink: &[f32], w: usize, h: usize) -> Option<(Vec<f32>, usize, usize)> {
    let (bw, bh) = fit_within(w, h, BOX);
    let src: ImageBuffer<Luma<f32>, Vec<f32>> =
        ImageBuffer::from_raw(w as u32, h as u32, ink.to_vec())?;
    let scaled = imageops::resize(&src, bw as u32, bh as u32, FilterType::CatmullRom).into_raw();
    let max = scaled.iter().fold(0.0f32, |m, &v| m.max(v));
    if max <= 0.0 {
        return None;
    }
    Some((
        scaled.iter().map(|&v| (v / max).clamp(0.0, 1.0)).collect(),
        bw,
        bh,
    ))
}

/// `digit` (at most 28x28, values in `[0, 1]`) pasted into a black 28x28 field with its
/// centre of mass at the field's centre (as near as whole pixels and the field's edges allow),
/// as `0..=255` pixels.
fn center_by_mass(digit: &[f32], w: usize, h: usize) -> Vec<u8> {
    let (mut m, mut mx, mut my) = (0.0f64, 0.0f64, 0.0f64);
    for y in 0..h {
        for x in 0..w {
            let v = digit[y * w + x] as f64;
            (m, mx, my) = (m + v, mx + v * x as f64, my + v * y as f64);
        }
    }
    let (cx, cy) = if m > 0.0 {
        (mx / m, my / m)
    } else {
        ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0)
    };
    // Pixel (14, 14): where the centre of mass of MNIST's digits is on average (in pixel
    // indices: 14.00 and 14.01 over the embedded test set).
    let center = SIDE as f64 / 2.0;
    let offset =
        |c: f64, len: usize| ((center - c).round().max(0.0) as usize).min(SIDE.saturating_sub(len));
    let (ox, oy) = (offset(cx, w), offset(cy, h));
    let mut out = vec![0u8; SIDE * SIDE];
    for y in 0..h.min(SIDE) {
        for x in 0..w.min(SIDE) {
            out[(y + oy) * SIDE + x + ox] =
                (digit[y * w + x].clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    /// A black "1" (a vertical bar, off-centre) on white paper, 100 wide and 60 tall.
    fn one_bar(ink: [u8; 3], paper: [u8; 3]) -> RgbImage {
        RgbImage::from_fn(100, 60, |x, y| {
            if (20..28).contains(&x) && (10..50).contains(&y) {
                Rgb(ink)
            } else {
                Rgb(paper)
            }
        })
    }

    fn mean(pixels: &[u8], xs: std::ops::Range<usize>, ys: std::ops::Range<usize>) -> f64 {
        let (mut s, mut n) = (0.0, 0.0);
        for y in ys {
            for x in xs.clone() {
                s += pixels[y * SIDE + x] as f64;
                n += 1.0;
            }
        }
        s / n
    }

    fn assert_mnist_like_one(d: &[u8]) {
        assert_eq!(d.len(), SIDE * SIDE);
        // A bright vertical stroke through the centre.
        assert!(
            (6..22).all(|y| (12..16).any(|x| d[y * SIDE + x] > 200)),
            "{d:?}"
        );
        for (xs, ys) in [
            (0..5, 0..5),
            (23..28, 0..5),
            (0..5, 23..28),
            (23..28, 23..28),
        ] {
            assert_eq!(mean(d, xs, ys), 0.0);
        }
        // MNIST's box: the bar is scaled to 20 px tall.
        let rows_with_ink = (0..SIDE)
            .filter(|&y| (0..SIDE).any(|x| d[y * SIDE + x] > 0))
            .count();
        assert!((19..=21).contains(&rows_with_ink), "{rows_with_ink} rows");
        // Centred by mass.
        let (m, my, mx) = (0..SIDE * SIDE).fold((0.0, 0.0, 0.0), |(m, my, mx), i| {
            let v = d[i] as f64;
            (
                m + v,
                my + v * (i / SIDE) as f64,
                mx + v * (i % SIDE) as f64,
            )
        });
        assert!(
            (mx / m - 14.0).abs() <= 1.0 && (my / m - 14.0).abs() <= 1.0,
            "{} {}",
            mx / m,
            my / m
        );
    }

    #[test]
    fn a_black_on_white_png_bar_loads_as_an_mnist_one() {
        let dir = super::super::test_dir("bar");
        let path = dir.join("one.png");
        one_bar([0, 0, 0], [255, 255, 255]).save(&path).unwrap();
        assert_mnist_like_one(&load_digit(&path).unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn polarity_jpeg_alpha_and_grey_paper_all_work() {
        let dir = super::super::test_dir("variants");
        // White on black needs no inversion.
        let path = dir.join("inverse.png");
        one_bar([255, 255, 255], [0, 0, 0]).save(&path).unwrap();
        assert_mnist_like_one(&load_digit(&path).unwrap());
        // A JPEG (lossy, named .dat: the content tells the format) of blue ink on grey paper.
        let path = dir.join("photo.dat");
        let img = one_bar([20, 30, 120], [200, 195, 185]);
        image::DynamicImage::ImageRgb8(img)
            .save_with_format(&path, image::ImageFormat::Jpeg)
            .unwrap();
        assert_mnist_like_one(&load_digit(&path).unwrap());
        // A transparent background counts as white paper.
        let path = dir.join("alpha.png");
        RgbaImage::from_fn(60, 100, |x, y| {
            if (30..36).contains(&x) && (20..80).contains(&y) {
                Rgba([0, 0, 0, 255])
            } else {
                Rgba([0, 0, 0, 0])
            }
        })
        .save(&path)
        .unwrap();
        assert_mnist_like_one(&load_digit(&path).unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_thin_stroke_on_a_big_image_is_thickened() {
        // A 1-px diagonal line in a 600x600 image would vanish when shrunk 30 times.
        let img = GrayImage::from_fn(600, 600, |x, y| {
            if x == y && (100..500).contains(&x) {
                Luma([0])
            } else {
                Luma([255])
            }
        });
        let d = digit_from_image(&DynamicImage::ImageLuma8(img)).unwrap();
        let max = *d.iter().max().unwrap();
        let bright = d.iter().filter(|&&v| v > 128).count();
        assert_eq!(max, 255);
        assert!(bright >= 20, "{bright} bright pixels");
    }

    #[test]
    fn a_blank_image_has_no_digit() {
        let dir = super::super::test_dir("blank");
        for (name, level) in [("white.png", 255u8), ("black.png", 0), ("grey.png", 128)] {
            let path = dir.join(name);
            GrayImage::from_pixel(50, 40, Luma([level]))
                .save(&path)
                .unwrap();
            let e = load_digit(&path).unwrap_err();
            assert!(matches!(e, DigitError::NoDigit { .. }), "{e}");
            assert!(
                e.to_string().contains(name) && e.to_string().contains("no digit found"),
                "{e}"
            );
        }
        // Faint noise on paper is not a digit either.
        let noisy = GrayImage::from_fn(64, 64, |x, y| Luma([240 + ((x * 7 + y * 13) % 11) as u8]));
        assert!(digit_from_image(&DynamicImage::ImageLuma8(noisy)).is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_non_image_or_missing_file_is_an_error_naming_it() {
        let dir = super::super::test_dir("junk");
        let path = dir.join("notes.png");
        std::fs::write(&path, b"this is not an image at all").unwrap();
        let e = load_digit(&path).unwrap_err();
        assert!(matches!(e, DigitError::Decode { .. }), "{e}");
        assert!(e.to_string().contains("notes.png"), "{e}");
        // A truncated PNG.
        let path = dir.join("cut.png");
        let mut bytes = Vec::new();
        one_bar([0; 3], [255; 3])
            .write_to(&mut io::Cursor::new(&mut bytes), image::ImageFormat::Png)
            .unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let e = load_digit(&path).unwrap_err();
        assert!(e.to_string().contains("cut.png"), "{e}");
        let missing = dir.join("missing.jpg");
        let e = load_digit(&missing).unwrap_err();
        assert!(
            matches!(e, DigitError::Read { .. }) && e.to_string().contains("missing.jpg"),
            "{e}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn helpers() {
        assert_eq!(fit_within(100, 60, 20), (20, 12));
        assert_eq!(fit_within(3, 200, 20), (1, 20));
        let mut hist = [0usize; 256];
        (hist[10], hist[200]) = (50, 50);
        let t = otsu_threshold(&hist).unwrap();
        assert!((10..200).contains(&t));
        hist[200] = 0;
        assert_eq!(otsu_threshold(&hist), None);
        // A speck at the edge holding < 0.2% of the ink is ignored.
        let mut mass = vec![0.0; 10];
        mass[0] = 0.001;
        mass[4..8].iter_mut().for_each(|m| *m = 1.0);
        assert_eq!(trimmed_span(&mass, 4.001 * 0.002), Some((4, 8)));
        assert_eq!(trimmed_span(&[0.0; 5], 0.0), None);
        let d = center_by_mass(&[1.0], 1, 1);
        assert_eq!(d.iter().position(|&v| v == 255), Some(14 * SIDE + 14));
    }
}
