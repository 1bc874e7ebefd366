//! Tests of the pooling kernels against a tap-by-tap reference, finite differences, PyTorch's
//! choices on ties and NaN, and the expected error messages.

use super::*;
use crate::{Indices, seeded_rng};
use rand::Rng as _;
use rand::seq::SliceRandom;

#[test]
fn parameters_above_isize_max_are_refused() {
    // Before: (kernel - 1) * dilation wrapped when cast to isize and the only window
    // came out empty (-inf).
    let x = Tensor::<f32>::from_vec(vec![5.0], &[1, 1, 1, 1]).unwrap();
    let p = Pool2dParams::new([usize::MAX, 1]).with_padding([usize::MAX / 2, 0]);
    assert_eq!(
        x.max_pool2d(&p).unwrap_err().to_string(),
        "max_pool2d: kernel_size should be at most isize::MAX (9223372036854775807), \
         found [18446744073709551615, 1]"
    );
    let p = Pool2dParams::new([1, 1]).with_stride([1, usize::MAX]);
    assert!(x.avg_pool2d(&p).unwrap_err().to_string().contains("stride"));
    // The largest accepted kernel still finds the one element.
    let big = isize::MAX as usize;
    let p = Pool2dParams::new([big, 1]).with_padding([big / 2, 0]);
    assert_eq!(x.max_pool2d(&p).unwrap().to_vec(), vec![5.0]);
}

#[test]
fn backward_refuses_an_input_shape_beyond_memory() {
    let g = Tensor::<f32>::zeros(&[1, 1, 1, 1]);
    let shape = [1, 1, 1 << 31, 1 << 31];
    let err = max_pool2d_backward(&g, &[0], &shape).unwrap_err();
    assert!(
        err.to_string().contains("[1, 1, 2147483648, 2147483648]"),
        "{err}"
    );
    let p = Pool2dParams::new([1 << 31, 1 << 31]);
    let err = avg_pool2d_backward(&g, &shape, &p).unwrap_err();
    assert!(
        err.to_string().contains("[1, 1, 2147483648, 2147483648]"),
        "{err}"
    );
}

/// Number of windows along one axis, counted one window at a time: in floor mode a window
/// must lie inside the padded input; in ceil mode it may hang over the end by less than a
/// stride, but must start inside the input or the left padding.
fn naive_len(n: usize, k: usize, s: usize, p: usize, d: usize, ceil: bool) -> usize {
    let (n, k, s, p, d) = (n as i64, k as i64, s as i64, p as i64, d as i64);
    let span = d * (k - 1) + 1;
    let padded = n + 2 * p;
    let mut count = 0;
    loop {
        let start = count * s; // in padded coordinates
        let fits = if ceil {
            start + span < padded + s && start < n + p
        } else {
            start + span <= padded
        };
        if !fits {
            return count as usize;
        }
        count += 1;
    }
}

/// A tap-by-tap reference: every window tap is checked against the input bounds.
fn naive_pool(
    x: &[f64],
    shape: &[usize],
    p: &Pool2dParams,
    max: bool,
) -> (Vec<f64>, Vec<usize>, [usize; 2]) {
    let (h, w) = (shape[shape.len() - 2], shape[shape.len() - 1]);
    let planes: usize = shape[..shape.len() - 2].iter().product();
    let d = if max { p.dilation } else { [1, 1] };
    let oh = naive_len(
        h,
        p.kernel_size[0],
        p.stride[0],
        p.padding[0],
        d[0],
        p.ceil_mode,
    );
    let ow = naive_len(
        w,
        p.kernel_size[1],
        p.stride[1],
        p.padding[1],
        d[1],
        p.ceil_mode,
    );
    let (mut out, mut idx) = (Vec::new(), Vec::new());
    for plane in 0..planes {
        let xp = &x[plane * h * w..(plane + 1) * h * w];
        for r in 0..oh {
            for c in 0..ow {
                let y0 = (r * p.stride[0]) as i64 - p.padding[0] as i64;
                let x0 = (c * p.stride[1]) as i64 - p.padding[1] as i64;
                let (mut best, mut arg) = (f64::NEG_INFINITY, None::<usize>);
                let (mut sum, mut real, mut padded) = (0.0, 0usize, 0usize);
                for i in 0..p.kernel_size[0] {
                    for j in 0..p.kernel_size[1] {
                        let y = y0 + (i * d[0]) as i64;
                        let xx = x0 + (j * d[1]) as i64;
                        let pad = [p.padding[0] as i64, p.padding[1] as i64];
                        if y >= -pad[0]
                            && y < h as i64 + pad[0]
                            && xx >= -pad[1]
                            && xx < w as i64 + pad[1]
                        {
                            padded += 1;
                        }
                        if y < 0 || xx < 0 || y >= h as i64 || xx >= w as i64 {
                            continue;
                        }
                        let at = y as usize * w + xx as usize;
                        let v = xp[at];
                        real += 1;
                        sum += v;
                        if arg.is_none() {
                            arg = Some(at); // the first real tap, even if it is -inf
                        }
                        if v > best || v.is_nan() {
                            best = v;
                            arg = Some(at);
                        }
                    }
                }
                if max {
                    let fallback = || {
                        let (mut y, mut xx) = (y0, x0);
                        while y < 0 {
                            y += d[0] as i64;
                        }
                        while xx < 0 {
                            xx += d[1] as i64;
                        }
                        (y as usize).min(h - 1) * w + (xx as usize).min(w - 1)
                    };
                    out.push(best);
                    idx.push(arg.unwrap_or_else(fallback));
                } else {
                    let divisor = match p.divisor_override {
                        Some(d) => d as f64,
                        None if p.count_include_pad => padded as f64,
                        None => real as f64,
                    };
                    out.push(if real == 0 { 0.0 } else { sum / divisor });
                }
            }
        }
    }
    (out, idx, [oh, ow])
}

const SPECIAL: [f64; 5] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0];

/// The bit patterns of a tensor's elements (NaN equals NaN, -0.0 differs from 0.0).
fn bits<T: Float>(t: &Tensor<T>) -> Vec<u64> {
    t.to_vec().iter().map(|v| v.as_f64().to_bits()).collect()
}

fn bits64(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn random_params(rng: &mut crate::Rng, max: bool) -> Pool2dParams {
    if rng.random_range(0..5) == 0 {
        return Pool2dParams::new([2, 2]).with_ceil_mode(rng.random());
    }
    let k = [rng.random_range(1..=4), rng.random_range(1..=4)];
    let s = [rng.random_range(1..=3), rng.random_range(1..=3)];
    let pad = [
        rng.random_range(0..=k[0] / 2),
        rng.random_range(0..=k[1] / 2),
    ];
    let d = if max {
        [rng.random_range(1..=3), rng.random_range(1..=3)]
    } else {
        [1, 1]
    };
    let p = Pool2dParams::new(k)
        .with_stride(s)
        .with_padding(pad)
        .with_dilation(d)
        .with_ceil_mode(rng.random())
        .with_count_include_pad(rng.random());
    match rng.random_range(-3..=3) {
        0 => p,
        divisor => p.with_divisor_override(divisor),
    }
}

fn random_shape(rng: &mut crate::Rng) -> Vec<usize> {
    let (h, w) = (rng.random_range(1..=9), rng.random_range(1..=9));
    if rng.random_range(0..4) == 0 {
        vec![rng.random_range(1..=3), h, w]
    } else {
        vec![rng.random_range(1..=2), rng.random_range(1..=3), h, w]
    }
}

#[test]
fn forward_matches_the_tap_by_tap_reference() {
    let mut rng = seeded_rng(7);
    let mut checked = [0usize; 2];
    for case in 0..3000 {
        let max = case % 2 == 0;
        let p = random_params(&mut rng, max);
        let shape = random_shape(&mut rng);
        // Integer-valued inputs make ties common; some inputs get NaN, infinities and
        // signed zeros.
        let mut v = Tensor::<f64>::randn(&shape, &mut rng).to_vec();
        if rng.random() {
            v.iter_mut().for_each(|e| *e = (*e * 2.0).round());
        }
        if rng.random_range(0..3) == 0 {
            for _ in 0..rng.random_range(1..=3) {
                let at = rng.random_range(0..v.len());
                v[at] = SPECIAL[rng.random_range(0..SPECIAL.len())];
            }
        }
        let x = Tensor::from_vec(v, &shape).unwrap();
        let (want, want_idx, [oh, ow]) = naive_pool(&x.to_vec(), &shape, &p, max);
        let hw = [shape[shape.len() - 2], shape[shape.len() - 1]];
        let ctx = format!("{p:?} on {shape:?}");
        if oh == 0 || ow == 0 {
            assert!(p.output_size(hw).is_err(), "{ctx}");
            let got = if max {
                x.max_pool2d(&p)
            } else {
                x.avg_pool2d(&p)
            };
            assert!(got.is_err(), "{ctx}");
            continue;
        }
        assert_eq!(p.output_size(hw).unwrap(), [oh, ow], "{ctx}");
        let mut out_shape = shape[..shape.len() - 2].to_vec();
        out_shape.extend([oh, ow]);
        if max {
            let (y, idx) = x.max_pool2d_with_indices(&p).unwrap();
            assert_eq!(y.shape(), out_shape.as_slice(), "{ctx}");
            assert_eq!(bits(&y), bits64(&want), "{ctx}");
            assert_eq!(idx, want_idx, "{ctx}");
            assert_eq!(bits(&x.max_pool2d(&p).unwrap()), bits(&y), "{ctx}");
            // f32 takes the same path: same values, same indices.
            let (y32, idx32) = x.cast::<f32>().max_pool2d_with_indices(&p).unwrap();
            assert_eq!(bits(&y32), bits(&y.cast::<f32>()), "{ctx}");
            assert_eq!(idx32, idx, "{ctx}");
        } else {
            let y = x.avg_pool2d(&p).unwrap();
            assert_eq!(y.shape(), out_shape.as_slice(), "{ctx}");
            // Same summation order as the reference: bit-identical.
            assert_eq!(bits(&y), bits64(&want), "{ctx}");
        }
        checked[usize::from(max)] += 1;
    }
    assert!(checked[0] > 900 && checked[1] > 900, "{checked:?}");
}

/// `<f(x), g> = <x, f'(g)>` for the linear map of average pooling and for max pooling
/// with its argmax fixed.
#[test]
fn backward_is_the_adjoint_of_forward() {
    let mut rng = seeded_rng(11);
    for case in 0..2000 {
        let max = case % 2 == 0;
        let p = random_params(&mut rng, max);
        let shape = random_shape(&mut rng);
        let x = Tensor::<f64>::randn(&shape, &mut rng);
        let (y, gx, g) = if max {
            let Ok((y, idx)) = x.max_pool2d_with_indices(&p) else {
                continue;
            };
            if !y.all_finite() {
                continue; // a window without input elements
            }
            let g = Tensor::<f64>::randn(y.shape(), &mut rng);
            (y, max_pool2d_backward(&g, &idx, &shape).unwrap(), g)
        } else {
            let Ok(y) = x.avg_pool2d(&p) else { continue };
            let g = Tensor::<f64>::randn(y.shape(), &mut rng);
            (y, avg_pool2d_backward(&g, &shape, &p).unwrap(), g)
        };
        assert_eq!(gx.shape(), shape.as_slice());
        let lhs: f64 = y.to_vec().iter().zip(g.to_vec()).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.to_vec().iter().zip(gx.to_vec()).map(|(a, b)| a * b).sum();
        assert!(
            (lhs - rhs).abs() <= 1e-10 * (1.0 + lhs.abs()),
            "{p:?} {shape:?}: {lhs} vs {rhs}"
        );
    }
}

/// Central differences of `sum(pool(x) * g)` against the backward kernels.
fn check_finite_differences(x: &Tensor<f64>, p: &Pool2dParams, max: bool, seed: u64) {
    let forward = |t: &Tensor<f64>| {
        if max {
            t.max_pool2d(p).unwrap()
        } else {
            t.avg_pool2d(p).unwrap()
        }
    };
    let y = forward(x);
    let g = Tensor::<f64>::randn(y.shape(), &mut seeded_rng(seed));
    let analytic = if max {
        let (_, idx) = x.max_pool2d_with_indices(p).unwrap();
        max_pool2d_backward(&g, &idx, x.shape()).unwrap()
    } else {
        avg_pool2d_backward(&g, x.shape(), p).unwrap()
    };
    let loss = |t: &Tensor<f64>| -> f64 {
        forward(t)
            .to_vec()
            .iter()
            .zip(g.to_vec())
            .map(|(a, b)| a * b)
            .sum()
    };
    let eps = 1e-6;
    let base = x.to_vec();
    for (i, &want) in analytic.to_vec().iter().enumerate() {
        let mut plus = base.clone();
        plus[i] += eps;
        let mut minus = base.clone();
        minus[i] -= eps;
        let fp = loss(&Tensor::from_vec(plus, x.shape()).unwrap());
        let fm = loss(&Tensor::from_vec(minus, x.shape()).unwrap());
        let numeric = (fp - fm) / (2.0 * eps);
        assert!(
            (numeric - want).abs() < 1e-6,
            "{p:?} element {i}: numeric {numeric} vs analytic {want}"
        );
    }
}

#[test]
fn avg_backward_matches_finite_differences() {
    let configs = [
        Pool2dParams::new([2, 2]),
        Pool2dParams::new([3, 3])
            .with_stride([1, 1])
            .with_padding([1, 1]),
        Pool2dParams::new([3, 3])
            .with_stride([2, 2])
            .with_padding([1, 1])
            .with_ceil_mode(true),
        Pool2dParams::new([3, 3])
            .with_stride([2, 2])
            .with_padding([1, 1])
            .with_ceil_mode(true)
            .with_count_include_pad(false),
        Pool2dParams::new([3, 2])
            .with_stride([2, 1])
            .with_padding([1, 0]),
    ];
    for (i, p) in configs.iter().enumerate() {
        let x = Tensor::<f64>::randn(&[2, 2, 6, 7], &mut seeded_rng(i as u64));
        check_finite_differences(&x, p, false, 100 + i as u64);
    }
}

#[test]
fn max_backward_matches_finite_differences_without_ties() {
    let configs = [
        Pool2dParams::new([2, 2]),
        Pool2dParams::new([3, 3])
            .with_stride([1, 1])
            .with_padding([1, 1]),
        Pool2dParams::new([3, 3])
            .with_stride([2, 2])
            .with_padding([1, 1])
            .with_ceil_mode(true),
        Pool2dParams::new([2, 3])
            .with_stride([1, 2])
            .with_dilation([2, 2]),
        Pool2dParams::new([2, 2]).with_ceil_mode(true),
    ];
    for (i, p) in configs.iter().enumerate() {
        // Distinct values 0.1 apart: no ties, and eps never changes the argmax.
        let mut v: Vec<f64> = (0..2 * 2 * 7 * 7).map(|k| k as f64 * 0.1 - 5.0).collect();
        v.shuffle(&mut seeded_rng(i as u64));
        let x = Tensor::from_vec(v, &[2, 2, 7, 7]).unwrap();
        check_finite_differences(&x, p, true, 200 + i as u64);
    }
}

#[test]
fn ties_go_to_the_first_maximum() {
    let x = Tensor::<f64>::from_vec(
        vec![
            1.0, 3.0, 3.0, 3.0, //
            3.0, 3.0, 0.0, 3.0, //
            2.0, 2.0, 5.0, 5.0, //
            2.0, 2.0, 5.0, 5.0,
        ],
        &[1, 1, 4, 4],
    )
    .unwrap();
    // Fast path (2x2, stride 2) and general path (3x3, stride 1) both keep the first.
    let (y, idx) = x
        .max_pool2d_with_indices(&Pool2dParams::new([2, 2]))
        .unwrap();
    assert_eq!(y.to_vec(), vec![3.0, 3.0, 2.0, 5.0]);
    assert_eq!(idx, vec![1, 2, 8, 10]);
    let g = Tensor::<f64>::ones(&[1, 1, 2, 2]);
    let gx = max_pool2d_backward(&g, &idx, x.shape()).unwrap();
    assert_eq!(
        gx.to_vec(),
        vec![
            0., 1., 1., 0., 0., 0., 0., 0., 1., 0., 1., 0., 0., 0., 0., 0.
        ]
    );
    let p = Pool2dParams::new([3, 3]).with_stride([1, 1]);
    let (_, idx) = x.max_pool2d_with_indices(&p).unwrap();
    assert_eq!(idx, vec![10, 10, 10, 10]);
    // A constant input with padding: every window answers its first real tap.
    let c = Tensor::<f32>::full(&[1, 3, 3], -2.0);
    let p = Pool2dParams::new([3, 3])
        .with_stride([1, 1])
        .with_padding([1, 1]);
    let (y, idx) = c.max_pool2d_with_indices(&p).unwrap();
    assert_eq!(y.shape(), &[1, 3, 3]);
    assert_eq!(y.to_vec(), vec![-2.0; 9]);
    assert_eq!(idx, vec![0, 0, 1, 0, 0, 1, 3, 3, 4]);
    // All -inf: the first tap too.
    let m = Tensor::<f32>::full(&[1, 1, 2, 2], f32::NEG_INFINITY);
    let (y, idx) = m
        .max_pool2d_with_indices(&Pool2dParams::new([2, 2]))
        .unwrap();
    assert_eq!((y.to_vec(), idx), (vec![f32::NEG_INFINITY], vec![0]));
}

#[test]
fn nan_propagates_like_pytorch() {
    let x = Tensor::<f32>::from_vec(
        vec![1.0, f32::NAN, f32::NAN, 2.0, 0.0, 0.0, 0.0, 7.0],
        &[1, 2, 4],
    )
    .unwrap();
    for p in [
        Pool2dParams::new([2, 2]),
        Pool2dParams::new([2, 2]).with_padding([1, 1]),
    ] {
        let (y, idx) = x.max_pool2d_with_indices(&p).unwrap();
        let y = y.to_vec();
        assert!(y[0].is_nan() || y[1].is_nan(), "{p:?}: {y:?}");
        for (v, &i) in y.iter().zip(&idx) {
            if v.is_nan() {
                assert!(i == 1 || i == 2, "{p:?}");
            }
        }
    }
    // Within one window, the last NaN is recorded (PyTorch's `val > max || isnan(val)`).
    let (y, idx) = x
        .max_pool2d_with_indices(&Pool2dParams::new([2, 4]))
        .unwrap();
    assert!(y.to_vec()[0].is_nan());
    assert_eq!(idx, vec![2]);
    assert!(x.avg_pool2d(&Pool2dParams::new([2, 2])).unwrap().to_vec()[0].is_nan());
}

#[test]
fn windows_without_input_elements_do_not_panic() {
    // Taps at -1 and 1 of a 1-pixel input: PyTorch answers -inf.
    let x = Tensor::<f64>::full(&[1, 1, 1, 1], 3.0);
    let p = Pool2dParams::new([2, 2])
        .with_padding([1, 1])
        .with_dilation([2, 2]);
    let (y, idx) = x.max_pool2d_with_indices(&p).unwrap();
    assert_eq!(y.to_vec(), vec![f64::NEG_INFINITY]);
    assert_eq!(idx, vec![0]);
    let gx = max_pool2d_backward(&Tensor::<f64>::ones(&[1, 1, 1, 1]), &idx, &[1, 1, 1, 1]).unwrap();
    assert_eq!(gx.shape(), &[1, 1, 1, 1]);
}

#[test]
fn strided_inputs_and_empty_batches() {
    let x = Tensor::<f64>::randn(&[2, 3, 6, 5], &mut seeded_rng(3));
    // [2, 3, 5, 6] with swapped strides: not row-major.
    let t = Tensor::from_array(x.into_array().permuted_axes(ndarray::IxDyn(&[0, 1, 3, 2])));
    assert!(t.as_slice().is_none());
    let p = Pool2dParams::new([3, 2])
        .with_stride([1, 2])
        .with_padding([1, 1]);
    assert_eq!(
        t.max_pool2d(&p).unwrap(),
        t.contiguous().max_pool2d(&p).unwrap()
    );
    assert_eq!(
        t.avg_pool2d(&p).unwrap(),
        t.contiguous().avg_pool2d(&p).unwrap()
    );
    let e = Tensor::<f32>::zeros(&[0, 3, 4, 4]);
    let (y, idx) = e
        .max_pool2d_with_indices(&Pool2dParams::new([2, 2]))
        .unwrap();
    assert_eq!((y.shape(), idx.len()), (&[0, 3, 2, 2][..], 0));
    assert_eq!(
        e.avg_pool2d(&Pool2dParams::new([2, 2])).unwrap().shape(),
        &[0, 3, 2, 2]
    );
    let g = max_pool2d_backward(&y, &idx, &[0, 3, 4, 4]).unwrap();
    assert_eq!(g.shape(), &[0, 3, 4, 4]);
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let mut v = Tensor::<f32>::randn(&[4, 16, 32, 31], &mut seeded_rng(5)).to_vec();
    for at in [7, 4000, 4001, 20_000] {
        v[at] = f32::NAN; // exercises the NaN fallbacks inside the parallel kernels
    }
    let x = Tensor::from_vec(v, &[4, 16, 32, 31]).unwrap();
    for p in [
        Pool2dParams::new([2, 2]),
        Pool2dParams::new([3, 3])
            .with_stride([2, 2])
            .with_padding([1, 1])
            .with_ceil_mode(true),
    ] {
        let run = || {
            let (y, idx) = x.max_pool2d_with_indices(&p).unwrap();
            let gy = y.map(|v| v * 0.5 + 0.25);
            let gmax = max_pool2d_backward(&gy, &idx, x.shape()).unwrap();
            let a = x.avg_pool2d(&p).unwrap();
            let gavg = avg_pool2d_backward(&a, x.shape(), &p).unwrap();
            (bits(&y), idx, bits(&gmax), bits(&a), bits(&gavg))
        };
        let one = crate::parallel::with_threads(1, run);
        let four = crate::parallel::with_threads(4, run);
        assert!(one == four, "{p:?}");
        // And the parallel result is the reference's.
        let (want, want_idx, _) = naive_pool(&x.cast::<f64>().to_vec(), x.shape(), &p, true);
        let want: Vec<u64> = want
            .iter()
            .map(|&v| (v as f32).as_f64().to_bits())
            .collect();
        assert!(four.0 == want && four.1 == want_idx, "{p:?}");
    }
}

fn message<T>(r: Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn refuses_bad_inputs_and_parameters() {
    let x = Tensor::<f32>::zeros(&[1, 1, 4, 4]);
    let p = Pool2dParams::new([2, 2]);
    let m = message(Tensor::<f32>::zeros(&[4, 4]).max_pool2d(&p));
    assert!(
        m.starts_with("max_pool2d: expected a 3-D") && m.contains("[4, 4]"),
        "{m}"
    );
    let m = message(Tensor::<f32>::zeros(&[1, 1, 1, 4, 4]).avg_pool2d(&p));
    assert!(
        m.starts_with("avg_pool2d: expected a 3-D") && m.contains("[1, 1, 1, 4, 4]"),
        "{m}"
    );
    let m = message(Tensor::<f32>::zeros(&[1, 0, 4, 4]).max_pool2d(&p));
    assert!(m.contains("[1, 0, 4, 4]"), "{m}");
    let m = message(x.max_pool2d(&Pool2dParams::new([0, 2])));
    assert_eq!(m, "max_pool2d: kernel_size must be positive, found [0, 2]");
    let m = message(x.avg_pool2d(&p.with_stride([2, 0])));
    assert_eq!(m, "avg_pool2d: stride must be positive, found [2, 0]");
    let m = message(x.max_pool2d(&p.with_dilation([0, 1])));
    assert_eq!(m, "max_pool2d: dilation must be positive, found [0, 1]");
    let m = message(x.max_pool2d(&Pool2dParams::new([3, 3]).with_padding([2, 1])));
    assert!(
        m.starts_with("max_pool2d: pad should be at most half of effective kernel size"),
        "{m}"
    );
    assert!(m.contains("[2, 1]") && m.contains("[1, 1])"), "{m}");
    // Dilation does not relax the limit (PyTorch checks pad <= kernel / 2).
    assert!(
        x.max_pool2d(&p.with_padding([2, 0]).with_dilation([3, 1]))
            .is_err()
    );
    let m = message(x.max_pool2d(&Pool2dParams::new([5, 2])));
    assert!(
        m.starts_with("max_pool2d: kernel [5, 2]")
            && m.contains("is larger than the padded input [4, 4]"),
        "{m}"
    );
    let m = message(x.avg_pool2d(&p.with_dilation([2, 2])));
    assert!(
        m.starts_with("avg_pool2d: average pooling has no dilation"),
        "{m}"
    );
    let m = message(p.output_size([0, 3]));
    assert!(m.contains("[0, 3]"), "{m}");

    let (y, idx) = x.max_pool2d_with_indices(&p).unwrap();
    let m = message(max_pool2d_backward(&y, &idx[..3], x.shape()));
    assert!(
        m.starts_with("max_pool2d_backward: expected one index per element")
            && m.contains("found 3"),
        "{m}"
    );
    let mut bad = idx.clone();
    bad[2] = 16;
    let m = message(max_pool2d_backward(&y, &bad, x.shape()));
    assert!(
        m.starts_with("max_pool2d_backward: index 16 at position 2"),
        "{m}"
    );
    let m = message(max_pool2d_backward(&y, &idx, &[1, 2, 4, 4]));
    assert!(
        m.starts_with("max_pool2d_backward: grad_output of shape [1, 1, 2, 2]"),
        "{m}"
    );
    let m = message(max_pool2d_backward(&y, &idx, &[1, 4, 4]));
    assert!(m.contains("expected 3-D [1, oh, ow]"), "{m}");
    assert!(max_pool2d_backward(&y, &idx, &[4, 4]).is_err());
    let m = message(avg_pool2d_backward(&y, &[1, 1, 6, 6], &p));
    assert!(
        m.starts_with("avg_pool2d_backward: expected grad_output of shape [1, 1, 3, 3]")
            && m.ends_with("found [1, 1, 2, 2]"),
        "{m}"
    );
    assert!(avg_pool2d_backward(&y, &[1, 1, 4, 4], &p.with_stride([0, 1])).is_err());
    assert!(avg_pool2d_backward(&y, &[1, 1, 4, 4], &p).is_ok());
}

#[test]
fn output_size_follows_pytorch() {
    let size = |p: Pool2dParams, hw| p.output_size(hw).unwrap();
    assert_eq!(size(Pool2dParams::new([2, 2]), [28, 27]), [14, 13]);
    assert_eq!(
        size(Pool2dParams::new([2, 2]).with_ceil_mode(true), [28, 27]),
        [14, 14]
    );
    // ceil_mode may give one window even when the kernel overhangs the input...
    let p = Pool2dParams::new([4, 4])
        .with_stride([2, 2])
        .with_ceil_mode(true);
    assert_eq!(size(p, [3, 3]), [1, 1]);
    assert!(p.with_ceil_mode(false).output_size([3, 3]).is_err());
    // ...but the last window must start inside the input or the left padding.
    let p = Pool2dParams::new([2, 2])
        .with_padding([1, 1])
        .with_ceil_mode(true);
    assert_eq!(size(p, [5, 4]), [3, 3]);
    let p = Pool2dParams::new([3, 3])
        .with_stride([2, 2])
        .with_dilation([2, 1]);
    assert_eq!(size(p, [9, 9]), [3, 4]);
}

#[test]
fn divisor_override_replaces_the_count_and_zero_is_refused() {
    let x = Tensor::<f64>::ones(&[1, 3, 3]);
    let p = Pool2dParams::new([2, 2]).with_stride(1).with_padding(1);
    let y = x.avg_pool2d(&p.with_divisor_override(-3)).unwrap();
    assert_eq!(y.to_vec()[0], -1.0 / 3.0); // one real element in the corner window
    let g = Tensor::<f64>::ones(y.shape());
    let gx = avg_pool2d_backward(&g, x.shape(), &p.with_divisor_override(2)).unwrap();
    assert_eq!(gx.to_vec(), vec![2.0; 9]); // every element is in 4 windows, each / 2
    let m = message(x.avg_pool2d(&p.with_divisor_override(0)));
    assert_eq!(m, "avg_pool2d: divisor_override must not be zero, found 0");
    // The 2x2 fast path honours it too.
    let q = Pool2dParams::new(2).with_divisor_override(2);
    let y = Tensor::<f64>::ones(&[1, 4, 4]).avg_pool2d(&q).unwrap();
    assert_eq!(y.to_vec(), vec![2.0; 4]);
}

/// Adaptive pooling one output at a time, from the window formula.
fn naive_adaptive(x: &[f64], [h, w]: [usize; 2], [oh, ow]: [usize; 2], max: bool) -> Vec<f64> {
    let mut out = Vec::new();
    for r in 0..oh {
        for c in 0..ow {
            let ceil = |a: usize, b: usize| (a as f64 / b as f64).ceil() as usize;
            let (h0, h1) = ((r * h) / oh, ceil((r + 1) * h, oh));
            let (w0, w1) = ((c * w) / ow, ceil((c + 1) * w, ow));
            let vals: Vec<f64> = (h0..h1)
                .flat_map(|i| (w0..w1).map(move |j| (i, j)))
                .map(|(i, j)| x[i * w + j])
                .collect();
            out.push(if max {
                vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
            } else {
                vals.iter().sum::<f64>() / vals.len() as f64
            });
        }
    }
    out
}

#[test]
fn adaptive_pools_match_the_window_formula() {
    let mut rng = seeded_rng(21);
    for _ in 0..200 {
        let (h, w) = (rng.random_range(1..=8), rng.random_range(1..=8));
        let (oh, ow) = (rng.random_range(1..=10), rng.random_range(1..=10));
        let x = Tensor::<f64>::randn(&[2, h, w], &mut rng);
        let avg = x.adaptive_avg_pool2d([oh, ow]).unwrap();
        let (mx, idx) = x.adaptive_max_pool2d_with_indices([oh, ow]).unwrap();
        assert_eq!(avg.shape(), &[2, oh, ow]);
        let xs = x.to_vec();
        for plane in 0..2 {
            let xp = &xs[plane * h * w..(plane + 1) * h * w];
            let range = plane * oh * ow..(plane + 1) * oh * ow;
            for (got, want) in
                avg.to_vec()[range.clone()]
                    .iter()
                    .zip(naive_adaptive(xp, [h, w], [oh, ow], false))
            {
                assert!((got - want).abs() < 1e-12);
            }
            let want = naive_adaptive(xp, [h, w], [oh, ow], true);
            assert_eq!(mx.to_vec()[range.clone()], want[..]);
            for (&i, m) in idx[range].iter().zip(&want) {
                assert_eq!(xp[i], *m);
            }
        }
    }
}

#[test]
fn adaptive_backward_matches_finite_differences_and_ties_go_first() {
    let x = Tensor::<f64>::randn(&[1, 2, 5, 4], &mut seeded_rng(22));
    let g = Tensor::<f64>::randn(&[1, 2, 3, 6], &mut seeded_rng(23));
    let gx = adaptive_avg_pool2d_backward(&g, x.shape()).unwrap();
    // The op is linear: <g, f(x)> = <gx, x>.
    let lhs = x
        .adaptive_avg_pool2d([3, 6])
        .unwrap()
        .mul(&g)
        .unwrap()
        .sum(&[], false)
        .unwrap();
    let rhs = gx.mul(&x).unwrap().sum(&[], false).unwrap();
    assert!((lhs.item().unwrap() - rhs.item().unwrap()).abs() < 1e-12);
    // Ties: the first in row-major window order.
    let x = Tensor::<f64>::from_vec(vec![1.0, 3.0, 3.0, 3.0], &[1, 2, 2]).unwrap();
    let (_, idx) = x.adaptive_max_pool2d_with_indices(1).unwrap();
    assert_eq!(idx, vec![1]);
    let x = Tensor::<f64>::from_vec(vec![1.0, f64::NAN, 3.0, f64::NAN], &[1, 2, 2]).unwrap();
    let (y, idx) = x.adaptive_max_pool2d_with_indices(1).unwrap();
    assert!(y.to_vec()[0].is_nan() && idx == vec![3]);
}

#[test]
fn adaptive_refusals_and_none_sizes() {
    let x = Tensor::<f32>::zeros(&[2, 3, 5]);
    assert_eq!(
        x.adaptive_avg_pool2d([None, Some(2)]).unwrap().shape(),
        &[2, 3, 2]
    );
    assert_eq!(
        x.adaptive_max_pool2d([Some(0), None]).unwrap().shape(),
        &[2, 0, 5]
    );
    let m = message(Tensor::<f32>::zeros(&[4, 4]).adaptive_avg_pool2d(2));
    assert!(m.starts_with("adaptive_avg_pool2d: expected a 3-D"), "{m}");
    let m = message(Tensor::<f32>::zeros(&[1, 0, 4, 4]).adaptive_max_pool2d(2));
    assert!(
        m.starts_with("adaptive_max_pool2d: expected a 3-D") && m.contains("[1, 0, 4, 4]"),
        "{m}"
    );
    assert_eq!(
        Tensor::<f32>::zeros(&[0, 2, 4, 4])
            .adaptive_avg_pool2d(2)
            .unwrap()
            .shape(),
        &[0, 2, 2, 2]
    );
    let g = Tensor::<f32>::zeros(&[2, 2]);
    assert!(adaptive_avg_pool2d_backward(&g, &[2, 2]).is_err());
    assert!(adaptive_avg_pool2d_backward(&Tensor::<f32>::zeros(&[3, 2, 2]), &[2, 3, 5]).is_err());
}

#[test]
fn max_unpool_inverts_max_pool_and_gathers_back() {
    let x = Tensor::<f64>::randn(&[2, 3, 5, 7], &mut seeded_rng(24));
    let p = Pool2dParams::new(3).with_stride(2).with_padding(1);
    let (y, idx) = x.max_pool2d_with_indices(&p).unwrap();
    let idx = Indices::from_vec(idx.iter().map(|&i| i as i64).collect(), y.shape()).unwrap();
    let u = Unpool2dParams::new(3)
        .with_stride(2)
        .with_padding(1)
        .with_output_size([5, 7]);
    let back = y.max_unpool2d(&idx, &u).unwrap();
    assert_eq!(back.shape(), &[2, 3, 5, 7]);
    // Every non-zero output is the input at that place.
    for (b, v) in back.to_vec().iter().zip(x.to_vec()) {
        assert!(*b == 0.0 || *b == v);
    }
    let g = Tensor::<f64>::randn(back.shape(), &mut seeded_rng(25));
    let gy = max_unpool2d_backward(&g, &idx).unwrap();
    let lhs = back
        .mul(&g)
        .unwrap()
        .sum(&[], false)
        .unwrap()
        .item()
        .unwrap();
    let rhs = gy.mul(&y).unwrap().sum(&[], false).unwrap().item().unwrap();
    // Windows overlap: a repeated index is written once but gathered twice.
    let distinct: std::collections::HashSet<(usize, i64)> = idx
        .to_vec()
        .iter()
        .enumerate()
        .map(|(k, &i)| (k / 9, i))
        .collect();
    if distinct.len() == idx.numel() {
        assert!((lhs - rhs).abs() < 1e-9);
    }
    assert_eq!(gy.shape(), y.shape());
}

#[test]
fn max_unpool_refusals() {
    let x = Tensor::<f32>::ones(&[1, 2, 2]);
    let idx = Indices::from_vec(vec![0, 1, 2, 16], &[1, 2, 2]).unwrap();
    let m = message(x.max_unpool2d(&idx, &Unpool2dParams::new(2)));
    assert!(m.starts_with("max_unpool2d: index 16 at position 3"), "{m}");
    let small = Indices::from_vec(vec![0, 1], &[1, 1, 2]).unwrap();
    let m = message(x.max_unpool2d(&small, &Unpool2dParams::new(2)));
    assert!(
        m.contains("expected indices of the input's shape [1, 2, 2], found [1, 1, 2]"),
        "{m}"
    );
    let m = message(Tensor::<f32>::ones(&[2, 2]).max_unpool2d(&idx, &Unpool2dParams::new(2)));
    assert!(m.starts_with("max_unpool2d: expected a 3-D"), "{m}");
    let m = message(
        Unpool2dParams::new(2)
            .with_output_size([6, 4])
            .output_size([2, 2]),
    );
    assert!(
        m.starts_with("max_unpool2d: invalid output_size [6, 4]"),
        "{m}"
    );
    let m = message(Unpool2dParams::new(1).with_padding(3).output_size([2, 2]));
    assert!(m.contains("negative"), "{m}");
    let g = Tensor::<f32>::ones(&[1, 4, 4]);
    assert!(max_unpool2d_backward(&g, &Indices::from_vec(vec![0], &[1]).unwrap()).is_err());
    assert!(max_unpool2d_backward(&g, &Indices::from_vec(vec![16], &[1, 1, 1]).unwrap()).is_err());
}

#[test]
fn max_pool2d_backward_names_the_first_index_outside_its_plane_on_any_thread() {
    // 128 planes of 16x16 (2^15 elements: enough work to run in parallel); two bad indices
    // in late planes: the error names the first, whichever task finds a bad plane first.
    let g = Tensor::<f64>::ones(&[8, 16, 8, 8]);
    let mut idx = vec![0usize; g.numel()];
    idx[100 * 64 + 5] = 256;
    idx[120 * 64 + 1] = 300;
    let m = message(max_pool2d_backward(&g, &idx, &[8, 16, 16, 16]));
    assert!(
        m.starts_with("max_pool2d_backward: index 256 at position 6405 is outside the 16x16"),
        "{m}"
    );
}
