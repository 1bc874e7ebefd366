//! Unit tests of the mnist example's figures (`cargo test --release --example mnist`).

use super::text::{TextLine, font};
use super::*;

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
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

fn decode(png: &[u8]) -> image::RgbImage {
    image::load_from_memory(png).unwrap().to_rgb8()
}

fn count(img: &image::RgbImage, x: Range<u32>, color: RGBColor) -> usize {
    let rgb = image::Rgb([color.0, color.1, color.2]);
    img.enumerate_pixels()
        .filter(|&(px, _, p)| x.contains(&px) && *p == rgb)
        .count()
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
fn filters_png_shows_each_weight_in_its_colour() {
    let dir = super::super::test_dir("filters");
    let path = dir.join("filters.png");
    // Filter 0 starts with the largest weight (dark red), filter 1 with the most negative
    // (dark blue).
    let w = tensor(&[16, 1, 3, 3], |i| match i {
        0 => 2.0,
        9 => -2.0,
        _ => ((i * 37) % 17) as f32 / 17.0 - 0.5,
    });
    save_filters_png(&w, &path).unwrap();
    let img = image::open(&path).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (480, 658));
    // 4x4 tiles of 3x3 cells of 32 px, 16 px apart, from (24, 90).
    assert_eq!(img.get_pixel(24 + 16, 90 + 16).0, [103, 0, 31]);
    assert_eq!(img.get_pixel(24 + 112 + 16, 90 + 16).0, [5, 48, 97]);
    assert_eq!(img.get_pixel(23, 90 + 16).0, [170, 170, 170], "tile frame");
    // One filter, other kernel sizes, all-zero weights: still drawn, in white.
    let png = filters_png(&tensor(&[1, 1, 5, 5], |_| 0.0)).unwrap();
    let img = decode(&png);
    assert!(img.width() >= 380);
    assert!(count(&img, 0..img.width(), RGBColor(247, 247, 247)) >= 95 * 95);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn filters_refuse_bad_shapes_and_nan_without_writing() {
    let dir = super::super::test_dir("filters-bad");
    let path = dir.join("f.png");
    for w in [
        tensor(&[16, 3, 3, 3], |_| 0.1),
        tensor(&[16, 9], |_| 0.1),
        tensor(&[0, 1, 3, 3], |_| 0.1),
        tensor(&[5000, 1, 1, 1], |_| 0.1),
    ] {
        let e = save_filters_png(&w, &path).unwrap_err().to_string();
        assert!(e.contains("save_filters_png"), "{e}");
    }
    let nan = tensor(&[2, 1, 3, 3], |i| if i == 4 { f32::NAN } else { 0.1 });
    let e = save_filters_png(&nan, &path).unwrap_err().to_string();
    assert!(e.contains("non-finite"), "{e}");
    assert!(entries(&dir).is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn feature_maps_png_shows_the_digit_and_the_maps() {
    let dir = super::super::test_dir("maps");
    let path = dir.join("maps.png");
    let image: Vec<f32> = (0..784).map(|i| (i % 28) as f32 / 27.0).collect();
    let maps = tensor(&[16, 26, 26], |i| (i % 26) as f32 * 0.1);
    save_feature_maps_png(&image, &maps, 7, &path).unwrap();
    let img = image::open(&path).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (744, 639));
    // The digit in 6 px cells from (35, 90): black on the left, white on the right.
    assert_eq!(img.get_pixel(35 + 2, 90 + 2).0, [0, 0, 0]);
    assert_eq!(img.get_pixel(35 + 27 * 6 + 2, 90 + 2).0, [255, 255, 255]);
    // A batch of one with a dead map (all zero: viridis' dark purple), one map.
    let maps = tensor(&[1, 3, 28, 28], |i| if i < 784 { 0.0 } else { 1.0 });
    let img = decode(&feature_maps_png(&image, &maps, 3).unwrap());
    assert!(count(&img, 260..img.width(), RGBColor(68, 1, 84)) >= 112 * 112);
    save_feature_maps_png(&image, &tensor(&[1, 5, 5], |_| 1.0), 0, &path).unwrap();
    assert_eq!(entries(&dir), vec!["maps.png"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn feature_maps_refuse_bad_input() {
    let image = vec![0.5f32; 784];
    let maps = tensor(&[4, 26, 26], |_| 1.0);
    assert!(feature_maps_png(&image[..700], &maps, 1).is_err());
    assert!(feature_maps_png(&[], &maps, 1).is_err());
    assert!(feature_maps_png(&image, &tensor(&[2, 4, 26, 26], |_| 1.0), 1).is_err());
    assert!(feature_maps_png(&image, &tensor(&[26, 26], |_| 1.0), 1).is_err());
    let mut nan_image = image.clone();
    nan_image[3] = f32::NAN;
    assert!(feature_maps_png(&nan_image, &maps, 1).is_err());
    let inf = tensor(&[4, 26, 26], |_| f32::INFINITY);
    assert!(feature_maps_png(&image, &inf, 1).is_err());
}

#[test]
fn curves_png_draws_each_curve_in_its_panel() {
    for n in [1, 2, 5, 40] {
        let img = decode(&curves_png(&history(n)).unwrap());
        assert_eq!(img.dimensions(), (1100, 460));
        // The loss (left) has only the training colour, the accuracy (right) both.
        assert!(count(&img, 0..550, TRAIN_COLOR) > 100, "{n} epochs");
        assert_eq!(count(&img, 0..550, TEST_COLOR), 0, "{n} epochs");
        assert!(count(&img, 550..1100, TRAIN_COLOR) > 100, "{n} epochs");
        assert!(count(&img, 550..1100, TEST_COLOR) > 100, "{n} epochs");
    }
}

#[test]
fn curves_survive_odd_histories() {
    let dir = super::super::test_dir("curves");
    let path = dir.join("curves.png");
    // Unsorted epochs, equal values, non-finite values, epoch 0, a huge epoch: no panic.
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
    let nan = f64::NAN;
    let all_nan = EpochStats {
        epoch: 3,
        train_loss: nan,
        train_accuracy: nan,
        test_accuracy: nan,
    };
    save_curves_png(&[all_nan], &path).unwrap();
    save_curves_png(
        &[EpochStats {
            epoch: usize::MAX,
            ..flat
        }],
        &path,
    )
    .unwrap();
    let e = save_curves_png(&[], &path).unwrap_err().to_string();
    assert!(e.contains("empty"), "{e}");
    assert_eq!(entries(&dir), vec!["curves.png"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn save_creates_the_directory_replaces_the_file_and_names_failures() {
    let dir = super::super::test_dir("save");
    let path = dir.join("sub").join("out.png");
    save(&path, b"first").unwrap();
    save(&path, b"second").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"second");
    assert_eq!(entries(&dir.join("sub")), vec!["out.png"]);
    // A directory in the way: an error naming the file, and no temporary file left.
    let blocked = dir.join("sub").join("blocked.png");
    std::fs::create_dir(&blocked).unwrap();
    std::fs::write(blocked.join("x"), b"x").unwrap();
    let e = save(&blocked, b"data").unwrap_err().to_string();
    assert!(e.contains("blocked.png"), "{e}");
    assert_eq!(entries(&dir.join("sub")), vec!["blocked.png", "out.png"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn text_is_laid_out_with_side_bearings_and_drawn_where_anchored() {
    let font = font().unwrap();
    let line = TextLine::new(font, "conv1 filters", 20.0);
    assert!((80..160).contains(&line.width), "{}", line.width);
    assert_eq!(line.height, 20);
    // 'l' starts ~1.6 px right of its origin (its left side bearing), which plotters 0.3.7
    // drops.
    let ink_left = |text| {
        TextLine::new(font, text, 20.0)
            .coverage
            .keys()
            .map(|k| k.0)
            .min()
    };
    assert_eq!(ink_left("l"), Some(1));
    let png = render_png(200, 60, |root| {
        let centred = style(20.0, TEXT, CENTRE);
        root.draw_text("conv1 filters", &centred, (100, 10))?;
        let turned = style(14.0, TEXT, CENTRE);
        let turned = turned.transform(FontTransform::Rotate270);
        root.draw_text("loss", &turned, (2, 30))?;
        Ok(())
    })
    .unwrap();
    let img = decode(&png);
    let dark = |x: Range<u32>, y: Range<u32>| {
        img.enumerate_pixels()
            .filter(|&(px, py, p)| x.contains(&px) && y.contains(&py) && p.0[0] < 128)
            .count()
    };
    assert!(dark(30..170, 10..30) > 100, "no title drawn");
    assert_eq!(dark(0..200, 0..10), 0, "title drawn above its anchor");
    assert!(dark(0..20, 15..45) > 20, "no turned text drawn");
    assert_eq!(dark(180..200, 0..60), 0, "text drawn off its place");
}

#[test]
fn helpers() {
    let dims = grid_dims;
    assert_eq!(dims(16), (4, 4));
    assert_eq!(dims(10), (4, 3));
    assert_eq!(dims(1), (1, 1));
    assert_eq!(dims(32), (6, 6));
    // plotters' x ticks are whole epochs, all of them up to 10.
    for (first, last, expected) in [(1, 1, 1), (1, 5, 5), (3, 15, 6), (1, 40, 9), (0, 100, 6)] {
        let axis = epoch_axis(first, last);
        let ticks = RangedCoordf64::from(axis.clone()).key_points(epoch_ticks(&axis));
        assert_eq!(ticks.len(), expected, "{first}..={last}: {ticks:?}");
        assert!(ticks.iter().all(|t| t.fract() == 0.0), "{ticks:?}");
    }
    assert_eq!(decimals(0.2), 1);
    assert_eq!(decimals(0.1 * 3.0), 1);
    assert_eq!(decimals(95.0), 0);
    assert_eq!(decimals(2.5e-3), 4);
    assert_eq!(short_number(0.0457), "0.0457");
    assert_eq!(short_number(1.234), "1.23");
    assert_eq!(short_number(123.4), "123");
    assert_eq!(short_number(2e6), "2.0e6");
    assert_eq!(short_number(-0.623), "-0.623");
    assert_eq!(short_number(0.1), "0.100");
    assert_eq!(short_number(0.0999), "0.0999");
    assert_eq!(short_number(10.0), "10.0");
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
fn history_survives_a_checkpoint_round_trip() {
    let history = vec![
        EpochStats {
            epoch: 1,
            train_loss: 0.4321,
            train_accuracy: 0.875,
            test_accuracy: 0.9,
        },
        EpochStats {
            epoch: 2,
            train_loss: 0.1 + 0.2,
            train_accuracy: 0.96,
            test_accuracy: 0.97,
        },
    ];
    let text = EpochStats::format_history(&history);
    assert_eq!(EpochStats::parse_history(&text).unwrap(), history);
    assert!(EpochStats::parse_history("").unwrap().is_empty());
    let err = EpochStats::parse_history("1,0.5,0.9")
        .unwrap_err()
        .to_string();
    assert!(err.contains("'1,0.5,0.9' is malformed"), "{err}");
    let err = EpochStats::parse_history("1,x,0.9,0.9")
        .unwrap_err()
        .to_string();
    assert!(err.contains("'1,x,0.9,0.9' is malformed"), "{err}");
}
