//! TEMPORARY test driver of the `plots` and `images` modules, kept minimal on purpose: the
//! real mnist training program replaces this file. It trains nothing. It builds hand-made
//! 3x3 "filters", convolves a digit of the embedded MNIST test set with them (conv1 + ReLU),
//! makes up a training history, writes the three figures into `runs/plots-demo/`, and loads a
//! digit back from a made-up "photo" (the MNIST digit 10x bigger, as dark ink on light, noisy
//! paper) with `images::load_digit`, drawing its feature maps too.
//!
//! Run with `cargo run --release --example mnist`.

mod images;
mod plots;

use std::path::Path;

use ferrite::nn::data::{Mnist, Split};
use ferrite::prelude::*;

use plots::EpochStats;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = Path::new("runs/plots-demo");

    // 16 made-up 3x3 filters: edges and lines in a few directions, and random ones.
    let mut rng = seeded_rng(0);
    let mut w: Vec<f32> = vec![
        -1., 0., 1., -2., 0., 2., -1., 0., 1., // vertical edge
        -1., -2., -1., 0., 0., 0., 1., 2., 1., // horizontal edge
        0., 1., 2., -1., 0., 1., -2., -1., 0., // diagonal edge
        2., 1., 0., 1., 0., -1., 0., -1., -2., // other diagonal
        -1., 2., -1., -1., 2., -1., -1., 2., -1., // vertical line
        -1., -1., -1., 2., 2., 2., -1., -1., -1., // horizontal line
        0., -1., 0., -1., 4., -1., 0., -1., 0., // spot
        1., 1., 1., 1., 1., 1., 1., 1., 1., // blur
    ];
    w.iter_mut().for_each(|v| *v *= 0.15);
    w.extend(
        Tensor::<f32>::randn(&[8 * 9], &mut rng)
            .to_vec()
            .iter()
            .map(|v| v * 0.3),
    );
    let weights = Tensor::from_vec(w, &[16, 1, 3, 3])?;

    // One test digit through "conv1" + ReLU.
    let test = Mnist::embedded(Split::Test)?;
    let index = 0;
    let digit: Vec<f32> = test
        .image(index)
        .ok_or("no test digit")?
        .iter()
        .map(|&p| p as f32 / 255.0)
        .collect();
    let label = test.labels()[index] as usize;
    let x = Tensor::from_vec(digit.clone(), &[1, 1, 28, 28])?;
    let maps = x.conv2d(&weights, None, &Conv2dParams::default())?.relu();

    // A made-up history of 8 epochs.
    let history: Vec<EpochStats> = (1..=8)
        .map(|e| {
            let t = e as f64;
            EpochStats {
                epoch: e,
                train_loss: 0.05 + 0.45 / t,
                train_accuracy: 0.99 - 0.08 / t,
                test_accuracy: 0.985 - 0.07 / t - 0.004 * (t - 5.0).max(0.0),
            }
        })
        .collect();

    let paths = [
        out.join("filters.png"),
        out.join("feature_maps.png"),
        out.join("curves.png"),
    ];
    plots::save_filters_png(&weights, &paths[0])?;
    plots::save_feature_maps_png(&digit, &maps, label, &paths[1])?;
    plots::save_curves_png(&history, &paths[2])?;
    plots::save_curves_png(&history[..1], &out.join("curves-1-epoch.png"))?;
    for p in &paths {
        println!("wrote {}", p.display());
    }

    // The same digit as a "photo": 10x bigger, dark ink on light paper, with a little noise,
    // off-centre; load_digit must give back an MNIST-like digit.
    let photo_path = out.join("photo-of-digit.png");
    let photo = image::GrayImage::from_fn(360, 300, |px, py| {
        let (sx, sy) = (px as i64 / 10 - 4, py as i64 / 10 - 1);
        let ink = if (0..28).contains(&sx) && (0..28).contains(&sy) {
            digit[sy as usize * 28 + sx as usize]
        } else {
            0.0
        };
        let noise = ((px * 7919 + py * 104_729) % 23) as f32;
        image::Luma([(235.0 - noise - 200.0 * ink).clamp(0.0, 255.0) as u8])
    });
    photo.save(&photo_path)?;
    let loaded = images::load_digit(&photo_path)?;
    let original = test.image(index).ok_or("no test digit")?;
    let diff = loaded
        .iter()
        .zip(original)
        .map(|(&a, &b)| a.abs_diff(b) as f64)
        .sum::<f64>()
        / 784.0;
    println!(
        "loaded {}: mean |difference| to the MNIST original {diff:.1} of 255",
        photo_path.display()
    );
    let digit: Vec<f32> = loaded.iter().map(|&p| p as f32 / 255.0).collect();
    let maps = Tensor::from_vec(digit.clone(), &[1, 1, 28, 28])?
        .conv2d(&weights, None, &Conv2dParams::default())?
        .relu();
    let path = out.join("feature_maps_of_photo.png");
    plots::save_feature_maps_png(&digit, &maps, label, &path)?;
    println!("wrote {}", path.display());
    Ok(())
}
