//! Tests of `pad` and `pad_backward` against hand-computed paddings, an independent
//! reference of every mode, the adjoint identity and the expected refusals.

use rand::Rng as _;

use super::*;
use crate::seeded_rng;

const MODES: [PadMode; 4] = [
    PadMode::Constant(0.0),
    PadMode::Reflect,
    PadMode::Replicate,
    PadMode::Circular,
];

/// Where coordinate `i` (relative to the unpadded input, may be negative) reads from,
/// written independently of the kernel code: reflection bounces until it lands inside.
fn reference_source(i: isize, size: usize, mode: PadMode) -> Option<usize> {
    let n = size as isize;
    if (0..n).contains(&i) {
        return Some(i as usize);
    }
    match mode {
        PadMode::Constant(_) => None,
        PadMode::Reflect => {
            let mut j = i;
            while !(0..n).contains(&j) {
                if j < 0 {
                    j = -j;
                }
                if j >= n {
                    j = 2 * (n - 1) - j;
                }
            }
            Some(j as usize)
        }
        PadMode::Replicate => Some(i.clamp(0, n - 1) as usize),
        PadMode::Circular => Some(i.rem_euclid(n) as usize),
    }
}

#[test]
fn hand_examples() {
    // [a b c d] by 2 left, 3 right (reflect needs pad < 4, circular pad <= 4).
    let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 1, 1, 4]).unwrap();
    let cases = [
        (
            PadMode::Reflect,
            vec![3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0, 1.0],
        ),
        (
            PadMode::Replicate,
            vec![1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 4.0, 4.0, 4.0],
        ),
        (
            PadMode::Circular,
            vec![3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0],
        ),
    ];
    for (mode, want) in cases {
        assert_eq!(
            x.pad(&[2, 3, 0, 0], mode).unwrap().to_vec(),
            want,
            "{mode:?}"
        );
    }
    // 2-D: a 2x2 image [[1 2] [3 4]] padded by 1 on top and on the right.
    let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]).unwrap();
    let cases = [
        (
            PadMode::Constant(0.0),
            [0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 3.0, 4.0, 0.0],
        ),
        (
            PadMode::Reflect,
            [3.0, 4.0, 3.0, 1.0, 2.0, 1.0, 3.0, 4.0, 3.0],
        ),
        (
            PadMode::Replicate,
            [1.0, 2.0, 2.0, 1.0, 2.0, 2.0, 3.0, 4.0, 4.0],
        ),
        (
            PadMode::Circular,
            [3.0, 4.0, 3.0, 1.0, 2.0, 1.0, 3.0, 4.0, 3.0],
        ),
    ];
    for (mode, want) in cases {
        let y = x.pad(&[0, 1, 1, 0], mode).unwrap();
        assert_eq!(y.shape(), &[1, 1, 3, 3]);
        assert_eq!(y.to_vec(), want, "{mode:?}");
    }
    // Several planes keep their own values.
    let x = Tensor::<f64>::from_vec((0..8).map(f64::from).collect(), &[2, 2, 1, 2]).unwrap();
    let y = x.pad(&[1, 0, 0, 0], PadMode::Replicate).unwrap();
    assert_eq!(
        y.to_vec(),
        vec![0.0, 0.0, 1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 5.0, 6.0, 6.0, 7.0]
    );
    // Constant padding of three dimensions with a value, and cropping.
    let x = Tensor::<f64>::ones(&[2, 1, 1]);
    let y = x.pad(&[1, 0, 0, 1, 0, -1], PadMode::Constant(5.0)).unwrap();
    assert_eq!(y.shape(), &[1, 2, 2]);
    assert_eq!(y.to_vec(), vec![5.0, 1.0, 5.0, 5.0]);
    // Circular with a crop: [1 2 3 4] cropped to [2 3 4], then wrapped by 2 on the right.
    let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 4]).unwrap();
    let y = x.pad(&[-1, 2], PadMode::Circular).unwrap();
    assert_eq!(y.to_vec(), vec![2.0, 3.0, 4.0, 2.0, 3.0]);
}

#[test]
fn matches_reference_and_backward_is_its_adjoint() {
    let mut rng = seeded_rng(21);
    for mode in MODES {
        for _ in 0..20 {
            let h = rng.random_range(1..=5);
            let w = rng.random_range(1..=5);
            let limit = |s: usize| match mode {
                PadMode::Reflect => s - 1,
                PadMode::Circular => s,
                _ => 4,
            };
            let [top, bottom] = [0, 1].map(|_| rng.random_range(0..=limit(h)));
            let [left, right] = [0, 1].map(|_| rng.random_range(0..=limit(w)));
            let pad = [left, right, top, bottom].map(|v| v as isize);
            let x = Tensor::<f64>::randn(&[2, 3, h, w], &mut rng);
            let y = x.pad(&pad, mode).unwrap();
            let (hp, wp) = (h + top + bottom, w + left + right);
            assert_eq!(y.shape(), &[2, 3, hp, wp]);
            let (xa, ya) = (x.as_array(), y.as_array());
            for n in 0..2 {
                for c in 0..3 {
                    for i in 0..hp {
                        for j in 0..wp {
                            let sy = reference_source(i as isize - top as isize, h, mode);
                            let sx = reference_source(j as isize - left as isize, w, mode);
                            let want = match (sy, sx) {
                                (Some(a), Some(b)) => xa[[n, c, a, b]],
                                _ => 0.0,
                            };
                            assert_eq!(ya[[n, c, i, j]], want, "{mode:?} {pad:?}");
                        }
                    }
                }
            }
            // <pad(x), g> == <x, pad_backward(g)>
            let g = Tensor::<f64>::randn(y.shape(), &mut rng);
            let back = pad_backward(&g, x.shape(), &pad, mode).unwrap();
            assert_eq!(back.shape(), x.shape());
            let lhs: f64 = y.to_vec().iter().zip(g.to_vec()).map(|(a, b)| a * b).sum();
            let rhs: f64 = x
                .to_vec()
                .iter()
                .zip(back.to_vec())
                .map(|(a, b)| a * b)
                .sum();
            assert!(
                (lhs - rhs).abs() < 1e-10 * lhs.abs().max(1.0),
                "{mode:?} {pad:?}"
            );
        }
    }
}

#[test]
fn errors() {
    let x = Tensor::<f32>::zeros(&[1, 1, 3, 4]);
    let pad = |p: [isize; 4], mode| x.pad(&p, mode);
    let err = pad([0, 0, 3, 0], PadMode::Reflect).unwrap_err();
    assert_eq!(err.op(), "pad");
    assert_eq!(
        err.to_string(),
        "pad: reflect padding must be smaller than the input dimension, but got padding \
         (3, 0) of dimension 2 of size 3 (input [1, 1, 3, 4])"
    );
    assert!(pad([3, 3, 2, 2], PadMode::Reflect).is_ok());
    assert!(pad([0, 4, 0, 0], PadMode::Reflect).is_err());
    assert!(pad([4, 4, 3, 3], PadMode::Circular).is_ok());
    let err = pad([5, 0, 0, 0], PadMode::Circular).unwrap_err();
    assert!(err.to_string().contains("circular"), "{err}");
    assert!(pad([9, 9, 9, 9], PadMode::Replicate).is_ok());
    let empty = Tensor::<f32>::zeros(&[1, 1, 0, 2]);
    assert!(empty.pad(&[0, 0, 1, 0], PadMode::Replicate).is_err());
    assert!(empty.pad(&[0, 0, 1, 0], PadMode::Constant(0.0)).is_ok());
    // Non-constant modes pad 1 to 3 dimensions of an input with 1 or 2 more.
    let err = Tensor::<f32>::zeros(&[3, 4])
        .pad(&[1, 1, 1, 1], PadMode::Reflect)
        .unwrap_err();
    assert!(
        err.to_string().contains("needs a 3-D or 4-D input"),
        "{err}"
    );
    assert!(
        Tensor::<f32>::zeros(&[3, 4])
            .pad(&[1, 1, 1, 1], PadMode::Constant(0.0))
            .is_ok()
    );
    assert!(x.pad(&[1, 1, 1], PadMode::Constant(0.0)).is_err());
    assert!(x.pad(&[1; 10], PadMode::Constant(0.0)).is_err());
    assert!(pad([-3, -2, 0, 0], PadMode::Constant(0.0)).is_err()); // width 4 - 5 < 0
    assert!(pad([isize::MAX, 1, 0, 0], PadMode::Constant(0.0)).is_err());
    let g = Tensor::<f32>::zeros(&[1, 1, 5, 6]);
    assert!(pad_backward(&g, &[1, 1, 3, 4], &[1, 1, 1, 1], PadMode::Reflect).is_ok());
    assert!(pad_backward(&g, &[1, 1, 3, 4], &[1, 1, 1, 0], PadMode::Reflect).is_err());
    assert!(pad_backward(&g, &[1, 1, 1, 4], &[1, 1, 2, 2], PadMode::Reflect).is_err());
    let err = pad_backward(
        &Tensor::<f32>::zeros(&[5, 6]),
        &[1, 1, 3, 4],
        &[1; 4],
        PadMode::Reflect,
    )
    .unwrap_err();
    assert_eq!(err.op(), "pad_backward");
}

#[test]
fn padding_beyond_memory_is_refused() {
    // Replicate padding 2^59 per side of a 1x1 input: the result cannot exist.
    let x = Tensor::<f32>::from_vec(vec![7.0], &[1, 1, 1, 1]).unwrap();
    let huge = 1 << 59;
    let err = x
        .pad(&[huge, huge, huge, huge], PadMode::Replicate)
        .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "pad: shape [1, 1, 1152921504606846977, 1152921504606846977] has more elements"
        ),
        "{err}"
    );
}

#[test]
fn padding_an_empty_batch_builds_no_index_maps() {
    // 2^61 + 1 padded rows: the row map alone would need 2^65 bytes.
    let x = Tensor::<f32>::zeros(&[0, 1, 1, 1]);
    let pad = [0, 0, 1 << 60, 1 << 60];
    let y = x.pad(&pad, PadMode::Replicate).unwrap();
    assert_eq!(y.shape(), &[0, 1, (1 << 61) + 1, 1]);
    let g = pad_backward(&y, x.shape(), &pad, PadMode::Replicate).unwrap();
    assert_eq!(g.shape(), &[0, 1, 1, 1]);
}
