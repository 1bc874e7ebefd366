use super::*;
use crate::data::{DataLoader, Mnist, Normalize as Pixels, Split, Subset};

fn ramp(c: usize, h: usize, w: usize) -> Tensor<f32> {
    let v: Vec<f32> = (0..c * h * w).map(|i| i as f32 + 1.0).collect();
    Tensor::from_vec(v, &[c, h, w]).unwrap()
}

fn bits(t: &Tensor<f32>) -> Vec<u32> {
    t.to_vec().iter().map(|x| x.to_bits()).collect()
}

#[test]
fn random_crop_picks_every_window_and_pads_with_zeros() {
    let x = ramp(1, 3, 3);
    let crop = RandomCrop::new([3, 3]).with_padding(1);
    let mut seen = std::collections::HashSet::new();
    for i in 0..200 {
        let y = crop
            .apply_to(&x, &mut sample_rng(0, 0, i))
            .unwrap()
            .to_vec();
        // The window is the padded image shifted by (dy, dx) in -1..=1: recover the shift.
        let centre = y[4];
        seen.insert(centre as i32);
        assert!(y.iter().all(|v| *v == 0.0 || (1.0..=9.0).contains(v)));
    }
    assert_eq!(seen.len(), 9, "{seen:?}"); // all 3x3 offsets
    let y = RandomCrop::new([2, 2])
        .apply_to(&ramp(2, 2, 2), &mut sample_rng(0, 0, 0))
        .unwrap();
    assert_eq!(y.to_vec(), ramp(2, 2, 2).to_vec());
    assert!(RandomCrop::new([0, 2]).output_shape(&[1, 2, 2]).is_err());
    assert!(RandomCrop::new([2, 2]).output_shape(&[2, 2]).is_err());
}

#[test]
fn flip_frequency_follows_p() {
    let x = ramp(2, 2, 3);
    let flip = RandomHorizontalFlip::new(0.3);
    let flipped = (0..2000)
        .filter(|&i| {
            flip.apply_to(&x, &mut sample_rng(1, 0, i))
                .unwrap()
                .to_vec()
                != x.to_vec()
        })
        .count();
    assert!((500..700).contains(&flipped), "{flipped}");
    let y = RandomHorizontalFlip::new(1.0)
        .apply_to(&x, &mut sample_rng(0, 0, 0))
        .unwrap();
    assert_eq!(
        y.to_vec(),
        vec![3., 2., 1., 6., 5., 4., 9., 8., 7., 12., 11., 10.]
    );
}

#[test]
fn affine_rotates_counter_clockwise_about_the_centre() {
    // A 90-degree turn (degrees range [90, 90] is not expressible; draw until close).
    let x = ramp(1, 3, 3);
    let t = RandomAffine::new(0.0)
        .unwrap()
        .with_translate([0.34, 0.0])
        .unwrap();
    // Shifts of up to 1.02 pixels round to -1, 0 or 1 whole pixels.
    let mut shifts = std::collections::HashSet::new();
    for i in 0..100 {
        let y = t.apply_to(&x, &mut sample_rng(0, 0, i)).unwrap().to_vec();
        shifts.insert(y.iter().map(|v| *v as i32).collect::<Vec<_>>());
    }
    assert_eq!(shifts.len(), 3);
    assert!(shifts.contains(&vec![0, 1, 2, 0, 4, 5, 0, 7, 8])); // moved right by one
    // Rotation: the pixel below the centre goes to the right of it for angles near +90.
    let t = RandomAffine::new(90.0).unwrap();
    for i in 0..200 {
        let mut rng = sample_rng(2, 0, i);
        let angle = uniform(&mut rng.clone(), -90.0, 90.0);
        if angle > 80.0 {
            let y = t.apply_to(&x, &mut rng).unwrap().to_vec();
            assert_eq!(y[5], 8.0, "angle {angle}: {y:?}");
            return;
        }
    }
    panic!("no angle above 80 degrees drawn");
}

#[test]
fn affine_bilinear_blends_and_fills() {
    let x = Tensor::from_vec(vec![1.0f32; 16], &[1, 4, 4]).unwrap();
    let t = RandomAffine::new(45.0)
        .unwrap()
        .with_interpolation(Interpolation::Bilinear)
        .with_fill(0.0);
    let y = t.apply_to(&x, &mut sample_rng(3, 0, 0)).unwrap().to_vec();
    assert!(y.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(y.iter().any(|v| *v > 0.0 && *v < 1.0), "{y:?}");
    let centre = [y[5], y[6], y[9], y[10]];
    assert!(centre.iter().all(|v| (*v - 1.0).abs() < 1e-6), "{centre:?}");
}

#[test]
fn normalize_per_channel_and_checks() {
    let t = Normalize::new(vec![1.0, 2.0], vec![2.0, 4.0]).unwrap();
    let y = t
        .apply_to(&ramp(2, 1, 2), &mut sample_rng(0, 0, 0))
        .unwrap();
    assert_eq!(y.to_vec(), vec![0.0, 0.5, 0.25, 0.5]);
    assert!(t.output_shape(&[3, 1, 1]).is_err());
    assert!(Normalize::new(vec![], vec![]).is_err());
}

fn augmented_loader(data: &Mnist) -> DataLoader<&Mnist> {
    let t = Compose::new()
        .then(RandomCrop::new([28, 28]).with_padding(2))
        .then(RandomHorizontalFlip::new(0.5))
        .then(
            RandomAffine::new(15.0)
                .unwrap()
                .with_translate([0.1, 0.1])
                .unwrap()
                .with_scale([0.9, 1.1])
                .unwrap()
                .with_interpolation(Interpolation::Bilinear),
        )
        .then(Normalize::new(vec![0.1307], vec![0.3081]).unwrap());
    DataLoader::new(data)
        .with_batch_size(50)
        .with_shuffle(true)
        .with_seed(9)
        .with_transform(t)
}

fn epoch_bits(loader: &DataLoader<&Mnist>, epoch: u64) -> Vec<(Vec<usize>, Vec<u32>)> {
    loader
        .epoch(epoch)
        .map(|b| {
            let b = b.unwrap();
            (b.indices, bits(&b.images))
        })
        .collect()
}

#[test]
fn augmentation_is_a_function_of_seed_epoch_and_index() {
    let data = Mnist::embedded(Split::Test)
        .unwrap()
        .with_normalize(Pixels::NONE);
    let data = Mnist::new(
        data.pixels()[..200 * 784].to_vec(),
        data.labels()[..200].to_vec(),
        [28, 28],
    )
    .unwrap()
    .with_normalize(Pixels::NONE);
    let loader = augmented_loader(&data);
    let reference = epoch_bits(&loader, 1);
    // Same seed -> same bytes, also on 1 and 2 rayon threads, and with prefetching.
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        assert_eq!(
            pool.install(|| epoch_bits(&loader, 1)),
            reference,
            "{threads} threads"
        );
    }
    let prefetched: Vec<(Vec<usize>, Vec<u32>)> = std::thread::scope(|s| {
        loader
            .prefetch_epoch::<f32>(1, s)
            .map(|b| {
                let b = b.unwrap();
                (b.indices, bits(&b.images))
            })
            .collect()
    });
    assert_eq!(prefetched, reference);
    // Another epoch, another seed: other draws.
    assert_ne!(epoch_bits(&loader, 2)[0].1, reference[0].1);
    // A sample's augmentation does not depend on the batch it lands in.
    let single = augmented_loader(&data).with_batch_size(1);
    let index = reference[0].0[3];
    let alone = single
        .epoch(1)
        .map(Result::unwrap)
        .find(|b| b.indices == [index])
        .unwrap();
    assert_eq!(bits(&alone.images), reference[0].1[3 * 784..4 * 784]);
    // The same through a subset's indices is a different sample index, hence other draws:
    // augmentation keys on the index the loader sees.
    let sub = Subset::take(&data, 10);
    assert_eq!(sub.len(), 10);
}

#[test]
fn loader_reports_transform_shape_errors() {
    let data = Mnist::new(vec![0; 4], vec![1], [2, 2]).unwrap();
    let loader = DataLoader::new(&data).with_transform(RandomCrop::new([3, 3]));
    let err = loader.epoch(0).next().unwrap().unwrap_err().to_string();
    assert!(
        err.starts_with("RandomCrop: expected a non-empty crop size"),
        "{err}"
    );
}
