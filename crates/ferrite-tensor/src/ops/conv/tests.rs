//! Tests of the convolution kernels against a naive direct convolution, finite differences,
//! hand-computed paddings and the expected error messages.

use rand::Rng as _;

use super::backward::{MAX_CHUNKS, WEIGHT_PARTIALS_BUDGET, weight_grad_chunks};
use super::*;
use crate::{PadMode, Rng, Tensor, pad_backward, seeded_rng};

/// The parameters of a `Conv2d` layer: the kernel's and the padding mode, which the layer
/// implements as `pad` followed by a convolution without padding (as PyTorch does).
#[derive(Debug, Clone, Copy, PartialEq)]
struct LayerParams {
    conv: Conv2dParams,
    padding_mode: PaddingMode,
}

impl std::ops::Deref for LayerParams {
    type Target = Conv2dParams;
    fn deref(&self) -> &Conv2dParams {
        &self.conv
    }
}

trait WithPaddingMode {
    fn with_padding_mode(self, padding_mode: PaddingMode) -> LayerParams;
}

impl WithPaddingMode for Conv2dParams {
    fn with_padding_mode(self, padding_mode: PaddingMode) -> LayerParams {
        LayerParams {
            conv: self,
            padding_mode,
        }
    }
}

/// The `F.pad` pads `[left, right, top, bottom]` and the unpadded convolution that a layer
/// with a non-zero padding mode uses, or `None` for zeros.
fn split_padding(
    p: &LayerParams,
    kernel: [usize; 2],
) -> Result<Option<([isize; 4], Conv2dParams)>> {
    if p.padding_mode == PaddingMode::Zeros {
        return Ok(None);
    }
    let [t, b, l, r] = p.conv.resolve_padding(kernel)?;
    let pads = [l, r, t, b].map(|v| v as isize);
    Ok(Some((pads, p.conv.with_padding(Padding::Valid))))
}

/// The layer's forward.
fn conv_layer<T: Float>(
    x: &Tensor<T>,
    w: &Tensor<T>,
    b: Option<&Tensor<T>>,
    p: &LayerParams,
) -> Result<Tensor<T>> {
    let kernel = [w.shape()[2], w.shape()[3]];
    match split_padding(p, kernel)? {
        None => x.conv2d(w, b, &p.conv),
        Some((pads, valid)) => x.pad(&pads, p.padding_mode.into())?.conv2d(w, b, &valid),
    }
}

/// The layer's backward: the convolution's gradients, the input's folded back through `pad`.
fn layer_backward<T: Float>(
    g: &Tensor<T>,
    x: &Tensor<T>,
    w: &Tensor<T>,
    p: &LayerParams,
    needs: [bool; 3],
) -> Result<Conv2dGrads<T>> {
    let kernel = [w.shape()[2], w.shape()[3]];
    let Some((pads, valid)) = split_padding(p, kernel)? else {
        return conv2d_backward(g, x, w, &p.conv, needs);
    };
    let mode: PadMode = p.padding_mode.into();
    let mut grads = conv2d_backward(g, &x.pad(&pads, mode)?, w, &valid, needs)?;
    grads.input = match grads.input {
        Some(gi) => Some(pad_backward(&gi, x.shape(), &pads, mode)?),
        None => None,
    };
    Ok(grads)
}

const MODES: [PaddingMode; 4] = [
    PaddingMode::Zeros,
    PaddingMode::Reflect,
    PaddingMode::Replicate,
    PaddingMode::Circular,
];

/// Where padded coordinate `i` (relative to the unpadded input, may be negative) reads from,
/// written independently of the kernel code: reflection bounces until it lands inside.
fn reference_source(i: isize, size: usize, mode: PaddingMode) -> Option<usize> {
    let n = size as isize;
    if (0..n).contains(&i) {
        return Some(i as usize);
    }
    match mode {
        PaddingMode::Zeros => None,
        PaddingMode::Reflect => {
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
        PaddingMode::Replicate => Some(i.clamp(0, n - 1) as usize),
        PaddingMode::Circular => Some(i.rem_euclid(n) as usize),
    }
}

/// The padding `[top, bottom, left, right]` PyTorch uses, computed independently.
fn reference_padding(p: &Conv2dParams, kh: usize, kw: usize) -> [usize; 4] {
    match p.padding {
        Padding::Explicit([ph, pw]) => [ph, ph, pw, pw],
        Padding::Valid => [0; 4],
        Padding::Same => {
            let th = p.dilation[0] * (kh - 1);
            let tw = p.dilation[1] * (kw - 1);
            [th / 2, th - th / 2, tw / 2, tw - tw / 2]
        }
    }
}

/// Whether PyTorch accepts the configuration (independent of the kernel code).
fn reference_valid(x: &[usize], w: &[usize], p: &LayerParams) -> bool {
    let (c, h, wd) = (x[1], x[2], x[3]);
    let (o, wc, kh, kw) = (w[0], w[1], w[2], w[3]);
    if p.groups == 0 || o % p.groups != 0 || c != wc * p.groups {
        return false;
    }
    if matches!(p.padding, Padding::Same) && p.stride != [1, 1] {
        return false;
    }
    let [pt, pb, pl, pr] = reference_padding(p, kh, kw);
    if (h + pt + pb) < p.dilation[0] * (kh - 1) + 1 || (wd + pl + pr) < p.dilation[1] * (kw - 1) + 1
    {
        return false;
    }
    match p.padding_mode {
        PaddingMode::Reflect => pt.max(pb) < h && pl.max(pr) < wd,
        PaddingMode::Circular => pt.max(pb) <= h && pl.max(pr) <= wd,
        _ => true,
    }
}

/// Direct convolution with nested loops in f64: the definition, nothing clever.
fn reference_conv(
    x: &Tensor<f64>,
    w: &Tensor<f64>,
    b: Option<&Tensor<f64>>,
    p: &LayerParams,
) -> (Vec<usize>, Vec<f64>) {
    let xa = x.as_array();
    let wa = w.as_array();
    let (n, h, wd) = (x.shape()[0], x.shape()[2], x.shape()[3]);
    let (o, cg, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
    let og = o / p.groups;
    let [pt, pb, pl, pr] = reference_padding(p, kh, kw);
    let oh = (h + pt + pb - p.dilation[0] * (kh - 1) - 1) / p.stride[0] + 1;
    let ow = (wd + pl + pr - p.dilation[1] * (kw - 1) - 1) / p.stride[1] + 1;
    let mut out = Vec::with_capacity(n * o * oh * ow);
    for ni in 0..n {
        for oc in 0..o {
            let grp = oc / og;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = b.map_or(0.0, |b| b.as_array()[[oc]]);
                    for ci in 0..cg {
                        let c = grp * cg + ci;
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let iy =
                                    (oy * p.stride[0] + ki * p.dilation[0]) as isize - pt as isize;
                                let ix =
                                    (ox * p.stride[1] + kj * p.dilation[1]) as isize - pl as isize;
                                let sy = reference_source(iy, h, p.padding_mode);
                                let sx = reference_source(ix, wd, p.padding_mode);
                                if let (Some(sy), Some(sx)) = (sy, sx) {
                                    s += wa[[oc, ci, ki, kj]] * xa[[ni, c, sy, sx]];
                                }
                            }
                        }
                    }
                    out.push(s);
                }
            }
        }
    }
    (vec![n, o, oh, ow], out)
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= tol * b.abs().max(1.0),
            "{what}: element {i}: got {a}, want {b}"
        );
    }
}

/// A random configuration (possibly invalid) with small sizes.
fn random_config(rng: &mut Rng) -> (Vec<usize>, Vec<usize>, bool, LayerParams) {
    let groups = rng.random_range(1..=3);
    let cg = rng.random_range(1..=3);
    let og = rng.random_range(1..=3);
    let n = rng.random_range(1..=3);
    let kh = rng.random_range(1..=4);
    let kw = rng.random_range(1..=4);
    let h = rng.random_range(1..=9);
    let w = rng.random_range(1..=9);
    let padding = match rng.random_range(0..4) {
        0 => Padding::Same,
        1 => Padding::Valid,
        _ => Padding::Explicit([rng.random_range(0..=3), rng.random_range(0..=3)]),
    };
    let stride = if matches!(padding, Padding::Same) && rng.random_bool(0.8) {
        [1, 1]
    } else {
        [rng.random_range(1..=3), rng.random_range(1..=3)]
    };
    let params = Conv2dParams::default()
        .with_stride(stride)
        .with_padding(padding)
        .with_dilation([rng.random_range(1..=3), rng.random_range(1..=2)])
        .with_groups(groups)
        .with_padding_mode(MODES[rng.random_range(0..4)]);
    (
        vec![n, cg * groups, h, w],
        vec![og * groups, cg, kh, kw],
        rng.random_bool(0.5),
        params,
    )
}

#[test]
fn forward_matches_direct_convolution_on_random_configs() {
    let mut rng = seeded_rng(7);
    let (mut valid, mut invalid) = (0, 0);
    let mut modes_seen = [0usize; 4];
    for case in 0..400 {
        let (xs, ws, with_bias, p) = random_config(&mut rng);
        let x = Tensor::<f64>::randn(&xs, &mut rng);
        let w = Tensor::<f64>::randn(&ws, &mut rng);
        let b = Tensor::<f64>::randn(&[ws[0]], &mut rng);
        let b = with_bias.then_some(&b);
        let got = conv_layer(&x, &w, b, &p);
        if !reference_valid(&xs, &ws, &p) {
            assert!(got.is_err(), "case {case}: {xs:?} {ws:?} {p:?} should fail");
            invalid += 1;
            continue;
        }
        let got = got.unwrap_or_else(|e| panic!("case {case}: {xs:?} {ws:?} {p:?}: {e}"));
        let (shape, want) = reference_conv(&x, &w, b, &p);
        assert_eq!(got.shape(), &shape[..], "case {case}: {p:?}");
        assert_close(
            &got.to_vec(),
            &want,
            1e-12,
            &format!("case {case}: {xs:?} {ws:?} {p:?}"),
        );
        // f32 agrees within f32 precision.
        let got32 = conv_layer(
            &x.cast::<f32>(),
            &w.cast(),
            b.map(|b| b.cast()).as_ref(),
            &p,
        )
        .unwrap();
        let got32: Vec<f64> = got32.to_vec().iter().map(|v| f64::from(*v)).collect();
        assert_close(&got32, &want, 1e-4, &format!("f32 case {case}"));
        valid += 1;
        modes_seen[MODES.iter().position(|m| *m == p.padding_mode).unwrap()] += 1;
    }
    assert!(
        valid > 200 && invalid > 20,
        "{valid} valid, {invalid} invalid"
    );
    assert!(modes_seen.iter().all(|&m| m > 20), "{modes_seen:?}");
}

/// The gradients of `sum(conv(x, w, b) * g)` by direct loops over the definition: every
/// product `w[o, ci, ki, kj] * x[n, c, sy, sx]` of the forward pass sends `g * x` to the
/// weight and `g * w` to the input position it read.
fn reference_backward(
    x: &Tensor<f64>,
    w: &Tensor<f64>,
    g: &Tensor<f64>,
    p: &LayerParams,
) -> [Vec<f64>; 3] {
    let (xa, wa, ga) = (x.as_array(), w.as_array(), g.as_array());
    let (h, wd) = (x.shape()[2], x.shape()[3]);
    let (o, cg, kh, kw) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
    let og = o / p.groups;
    let [pt, _, pl, _] = reference_padding(p, kh, kw);
    let mut gx = ndarray::ArrayD::<f64>::zeros(x.shape());
    let mut gw = ndarray::ArrayD::<f64>::zeros(w.shape());
    let mut gb = vec![0.0; o];
    let gs = g.shape();
    for n in 0..gs[0] {
        for oc in 0..o {
            for oy in 0..gs[2] {
                for ox in 0..gs[3] {
                    let gv = ga[[n, oc, oy, ox]];
                    gb[oc] += gv;
                    for ci in 0..cg {
                        let c = (oc / og) * cg + ci;
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let iy =
                                    (oy * p.stride[0] + ki * p.dilation[0]) as isize - pt as isize;
                                let ix =
                                    (ox * p.stride[1] + kj * p.dilation[1]) as isize - pl as isize;
                                let sy = reference_source(iy, h, p.padding_mode);
                                let sx = reference_source(ix, wd, p.padding_mode);
                                if let (Some(sy), Some(sx)) = (sy, sx) {
                                    gw[[oc, ci, ki, kj]] += gv * xa[[n, c, sy, sx]];
                                    gx[[n, c, sy, sx]] += gv * wa[[oc, ci, ki, kj]];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    [
        gx.iter().copied().collect(),
        gw.iter().copied().collect(),
        gb,
    ]
}

#[test]
fn backward_matches_direct_adjoint_on_random_configs() {
    let mut rng = seeded_rng(17);
    let mut checked = 0;
    while checked < 150 {
        let (xs, ws, _, p) = random_config(&mut rng);
        if !reference_valid(&xs, &ws, &p) {
            continue;
        }
        let x = Tensor::<f64>::randn(&xs, &mut rng);
        let w = Tensor::<f64>::randn(&ws, &mut rng);
        let y = conv_layer(&x, &w, None, &p).unwrap();
        let g = Tensor::<f64>::randn(y.shape(), &mut rng);
        let got = layer_backward(&g, &x, &w, &p, [true, true, true]).unwrap();
        let want = reference_backward(&x, &w, &g, &p);
        let what = format!("{xs:?} {ws:?} {p:?}");
        assert_close(
            &got.input.unwrap().to_vec(),
            &want[0],
            1e-12,
            &format!("input {what}"),
        );
        assert_close(
            &got.weight.unwrap().to_vec(),
            &want[1],
            1e-12,
            &format!("weight {what}"),
        );
        assert_close(
            &got.bias.unwrap().to_vec(),
            &want[2],
            1e-12,
            &format!("bias {what}"),
        );
        checked += 1;
    }
}

/// `sum(conv2d(x, w, b) * g)`: the function whose gradients conv2d_backward computes.
fn loss(x: &Tensor<f64>, w: &Tensor<f64>, b: &Tensor<f64>, g: &[f64], p: &LayerParams) -> f64 {
    let y = conv_layer(x, w, Some(b), p).unwrap().to_vec();
    y.iter().zip(g).map(|(a, b)| a * b).sum()
}

/// Central finite differences of `loss` with respect to each element of `which` (0: x,
/// 1: w, 2: b).
fn finite_differences(
    x: &Tensor<f64>,
    w: &Tensor<f64>,
    b: &Tensor<f64>,
    g: &[f64],
    p: &LayerParams,
    which: usize,
) -> Vec<f64> {
    let eps = 1e-6;
    let target = [x, w, b][which];
    let base = target.to_vec();
    let shape = target.shape().to_vec();
    (0..base.len())
        .map(|i| {
            let bump = |delta: f64| {
                let mut v = base.clone();
                v[i] += delta;
                let t = Tensor::from_vec(v, &shape).unwrap();
                match which {
                    0 => loss(&t, w, b, g, p),
                    1 => loss(x, &t, b, g, p),
                    _ => loss(x, w, &t, g, p),
                }
            };
            (bump(eps) - bump(-eps)) / (2.0 * eps)
        })
        .collect()
}

fn gradient_configs() -> Vec<(Vec<usize>, Vec<usize>, LayerParams)> {
    let d = Conv2dParams::default();
    let configs = vec![
        (vec![2, 2, 5, 6], vec![3, 2, 3, 3], d),
        (
            vec![2, 3, 7, 6],
            vec![2, 3, 3, 2],
            d.with_stride([2, 3])
                .with_padding(Padding::Explicit([1, 2])),
        ),
        (
            vec![1, 4, 8, 7],
            vec![4, 2, 2, 3],
            d.with_dilation([2, 1])
                .with_groups(2)
                .with_padding(Padding::Explicit([2, 1])),
        ),
        (
            vec![2, 3, 5, 4],
            vec![6, 1, 3, 3],
            d.with_groups(3).with_padding(Padding::Same),
        ),
        (
            vec![2, 2, 6, 5],
            vec![2, 2, 4, 2],
            d.with_padding(Padding::Same).with_dilation([1, 2]),
        ),
        (vec![3, 4, 3, 5], vec![5, 4, 1, 1], d), // pointwise: no im2col
        (
            vec![2, 2, 6, 6],
            vec![4, 1, 1, 1],
            d.with_groups(2).with_stride([2, 2]),
        ),
    ];
    let mut configs: Vec<_> = configs
        .into_iter()
        .map(|(x, w, p)| (x, w, p.with_padding_mode(PaddingMode::Zeros)))
        .collect();
    for (i, mode) in MODES.into_iter().enumerate().skip(1) {
        configs.push((
            vec![2, 2, 5, 6],
            vec![3, 2, 3, 3],
            d.with_padding(Padding::Explicit([1 + i % 2, 2]))
                .with_stride([1 + i % 2, 1])
                .with_padding_mode(mode),
        ));
        configs.push((
            vec![1, 2, 4, 5],
            vec![2, 1, 2, 3],
            d.with_padding(Padding::Same)
                .with_groups(2)
                .with_padding_mode(mode),
        ));
    }
    configs
}

#[test]
fn backward_matches_finite_differences() {
    let mut rng = seeded_rng(11);
    for (xs, ws, p) in gradient_configs() {
        let x = Tensor::<f64>::randn(&xs, &mut rng);
        let w = Tensor::<f64>::randn(&ws, &mut rng);
        let b = Tensor::<f64>::randn(&[ws[0]], &mut rng);
        let y = conv_layer(&x, &w, Some(&b), &p).unwrap();
        let g = Tensor::<f64>::randn(y.shape(), &mut rng);
        let grads = layer_backward(&g, &x, &w, &p, [true, true, true]).unwrap();
        let gv = g.to_vec();
        let analytic = [grads.input, grads.weight, grads.bias].map(|t| t.unwrap());
        for (which, name) in ["input", "weight", "bias"].into_iter().enumerate() {
            assert_eq!(analytic[which].shape(), [&x, &w, &b][which].shape());
            let fd = finite_differences(&x, &w, &b, &gv, &p, which);
            assert_close(
                &analytic[which].to_vec(),
                &fd,
                1e-6,
                &format!("grad {name} of {xs:?} {ws:?} {p:?}"),
            );
        }
    }
}

#[test]
fn backward_computes_only_requested_gradients() {
    let mut rng = seeded_rng(3);
    let p = Conv2dParams::default()
        .with_padding(Padding::Explicit([1, 1]))
        .with_padding_mode(PaddingMode::Reflect);
    let x = Tensor::<f64>::randn(&[3, 2, 5, 5], &mut rng);
    let w = Tensor::<f64>::randn(&[4, 2, 3, 3], &mut rng);
    let g = Tensor::<f64>::randn(&[3, 4, 5, 5], &mut rng);
    let all = layer_backward(&g, &x, &w, &p, [true, true, true]).unwrap();
    for mask in 0..8 {
        let needs = [mask & 1 != 0, mask & 2 != 0, mask & 4 != 0];
        let some = layer_backward(&g, &x, &w, &p, needs).unwrap();
        assert_eq!(some.input.is_some(), needs[0]);
        assert_eq!(some.weight.is_some(), needs[1]);
        assert_eq!(some.bias.is_some(), needs[2]);
        if needs[0] {
            assert_eq!(some.input, all.input);
        }
        if needs[1] {
            assert_eq!(some.weight, all.weight);
        }
        if needs[2] {
            assert_eq!(some.bias, all.bias);
        }
    }
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    let mut rng = seeded_rng(5);
    let p = Conv2dParams::default()
        .with_padding(Padding::Explicit([1, 1]))
        .with_groups(2);
    let x = Tensor::<f32>::randn(&[9, 4, 12, 11], &mut rng);
    let w = Tensor::<f32>::randn(&[6, 2, 3, 3], &mut rng);
    let b = Tensor::<f32>::randn(&[6], &mut rng);
    let g = Tensor::<f32>::randn(&[9, 6, 12, 11], &mut rng);
    let run = |threads: usize| {
        crate::parallel::with_threads(threads, || {
            (
                x.conv2d(&w, Some(&b), &p).unwrap(),
                conv2d_backward(&g, &x, &w, &p, [true, true, true]).unwrap(),
            )
        })
    };
    let one = run(1);
    for threads in [2, 3, 8] {
        let many = run(threads);
        assert_eq!(one.0, many.0, "{threads} threads");
        assert_eq!(one.1, many.1, "{threads} threads");
    }
}

#[test]
fn weight_gradient_chunking_is_exact_for_many_images() {
    // More images than MAX_CHUNKS, so chunks hold several images each.
    let mut rng = seeded_rng(9);
    let p = Conv2dParams::default().with_stride([2, 1]);
    let x = Tensor::<f64>::randn(&[MAX_CHUNKS * 2 + 3, 2, 4, 3], &mut rng);
    let w = Tensor::<f64>::randn(&[3, 2, 2, 2], &mut rng);
    let y = x.conv2d(&w, None, &p).unwrap();
    let g = Tensor::<f64>::randn(y.shape(), &mut rng);
    let got = conv2d_backward(&g, &x, &w, &p, [false, true, false])
        .unwrap()
        .weight
        .unwrap();
    // grad_w[o, c, ki, kj] = sum over n, oy, ox of g[n, o, oy, ox] * x[n, c, 2 oy + ki, ox + kj]
    let (xa, ga) = (x.as_array(), g.as_array());
    let mut want = Vec::new();
    for o in 0..3 {
        for c in 0..2 {
            for ki in 0..2 {
                for kj in 0..2 {
                    let mut s = 0.0;
                    for n in 0..x.shape()[0] {
                        for oy in 0..y.shape()[2] {
                            for ox in 0..y.shape()[3] {
                                s += ga[[n, o, oy, ox]] * xa[[n, c, 2 * oy + ki, ox + kj]];
                            }
                        }
                    }
                    want.push(s);
                }
            }
        }
    }
    assert_close(&got.to_vec(), &want, 1e-12, "chunked weight gradient");
    assert_eq!(weight_grad_chunks(1000, 10), MAX_CHUNKS);
    assert_eq!(weight_grad_chunks(5, 10), 5);
    assert_eq!(weight_grad_chunks(1000, WEIGHT_PARTIALS_BUDGET / 4), 4);
    assert_eq!(weight_grad_chunks(1000, WEIGHT_PARTIALS_BUDGET * 2), 1);
    assert_eq!(weight_grad_chunks(0, 10), 0);
}

#[test]
fn seed_case_9x9_kernel3_stride2() {
    let x = Tensor::<f32>::randn(&[1, 1, 9, 9], &mut seeded_rng(0));
    let w = Tensor::<f32>::randn(&[1, 1, 3, 3], &mut seeded_rng(1));
    let p = Conv2dParams::default().with_stride([2, 2]);
    assert_eq!(p.output_size([9, 9], [3, 3]).unwrap(), [4, 4]);
    let y = x.conv2d(&w, None, &p).unwrap();
    assert_eq!(y.shape(), &[1, 1, 4, 4]);
    // Top-left output: the 3x3 top-left window.
    let (xa, wa) = (x.as_array(), w.as_array());
    let mut s = 0.0f32;
    for i in 0..3 {
        for j in 0..3 {
            s += xa[[0, 0, i, j]] * wa[[0, 0, i, j]];
        }
    }
    assert!((y.to_vec()[0] - s).abs() < 1e-5);
    // Bottom-right output: the window at rows/cols 6..9.
    let mut s = 0.0f32;
    for i in 0..3 {
        for j in 0..3 {
            s += xa[[0, 0, 6 + i, 6 + j]] * wa[[0, 0, i, j]];
        }
    }
    assert!((y.to_vec()[15] - s).abs() < 1e-5);
}

/// The same values as `t` stored with the last two axes swapped in memory.
fn non_contiguous(t: &Tensor<f64>) -> Tensor<f64> {
    let swap = ndarray::IxDyn(&[0, 1, 3, 2]);
    let stored = t
        .as_array()
        .permuted_axes(swap.clone())
        .as_standard_layout()
        .into_owned();
    Tensor::from_array(stored.permuted_axes(swap))
}

#[test]
fn non_contiguous_operands_are_accepted() {
    let mut rng = seeded_rng(4);
    let x = Tensor::<f64>::randn(&[2, 3, 6, 5], &mut rng);
    let w = Tensor::<f64>::randn(&[4, 3, 2, 3], &mut rng);
    let xt = non_contiguous(&x);
    assert!(xt.as_slice().is_none());
    let p = Conv2dParams::default().with_padding(Padding::Explicit([1, 0]));
    let wt = non_contiguous(&w);
    assert_eq!(
        x.conv2d(&w, None, &p).unwrap(),
        xt.conv2d(&wt, None, &p).unwrap()
    );
    let g = Tensor::<f64>::randn(&[2, 4, 7, 3], &mut rng);
    let gt = non_contiguous(&g);
    assert!(gt.as_slice().is_none());
    assert_eq!(
        conv2d_backward(&g, &x, &w, &p, [true; 3]).unwrap(),
        conv2d_backward(&gt, &xt, &w, &p, [true; 3]).unwrap()
    );
}

#[test]
fn empty_dimensions_give_empty_or_zero_results() {
    let p = Conv2dParams::default();
    // Empty batch.
    let x = Tensor::<f32>::zeros(&[0, 2, 5, 5]);
    let w = Tensor::<f32>::ones(&[3, 2, 3, 3]);
    let y = x.conv2d(&w, None, &p).unwrap();
    assert_eq!(y.shape(), &[0, 3, 3, 3]);
    let g = conv2d_backward(&y, &x, &w, &p, [true; 3]).unwrap();
    assert_eq!(g.input.unwrap().shape(), &[0, 2, 5, 5]);
    assert_eq!(g.weight.unwrap().to_vec(), vec![0.0; 54]);
    assert_eq!(g.bias.unwrap().to_vec(), vec![0.0; 3]);
    // No input channels: the output is the bias.
    let x = Tensor::<f32>::zeros(&[2, 0, 4, 4]);
    let w = Tensor::<f32>::zeros(&[2, 0, 3, 3]);
    let b = Tensor::<f32>::from_vec(vec![1.0, 2.0], &[2]).unwrap();
    let y = x.conv2d(&w, Some(&b), &p).unwrap();
    assert_eq!(y.shape(), &[2, 2, 2, 2]);
    assert_eq!(y.to_vec()[..4], [1.0; 4]);
    assert_eq!(y.to_vec()[4..8], [2.0; 4]);
    let g = conv2d_backward(&y, &x, &w, &p, [true; 3]).unwrap();
    assert_eq!(g.input.unwrap().shape(), &[2, 0, 4, 4]);
    assert_eq!(g.weight.unwrap().shape(), &[2, 0, 3, 3]);
    // No output channels.
    let x = Tensor::<f32>::ones(&[1, 2, 4, 4]);
    let w = Tensor::<f32>::zeros(&[0, 2, 3, 3]);
    let y = x.conv2d(&w, None, &p).unwrap();
    assert_eq!(y.shape(), &[1, 0, 2, 2]);
    let g = conv2d_backward(&y, &x, &w, &p, [true; 3]).unwrap();
    assert_eq!(g.input.unwrap().to_vec(), vec![0.0; 32]);
    // An empty spatial dimension that padding makes large enough: every tap reads padding.
    let x = Tensor::<f32>::ones(&[1, 1, 0, 3]);
    let w = Tensor::<f32>::ones(&[1, 1, 1, 1]);
    let b = Tensor::<f32>::ones(&[1]);
    let y = x
        .conv2d(&w, Some(&b), &p.with_padding(Padding::Explicit([1, 0])))
        .unwrap();
    assert_eq!(y.shape(), &[1, 1, 2, 3]);
    assert_eq!(y.to_vec(), vec![1.0; 6]);
}

fn conv_err(x: &[usize], w: &[usize], bias: Option<&[usize]>, p: Conv2dParams) -> TensorError {
    let x = Tensor::<f32>::zeros(x);
    let w = Tensor::<f32>::zeros(w);
    let b = bias.map(Tensor::<f32>::zeros);
    let err = x.conv2d(&w, b.as_ref(), &p).unwrap_err();
    assert_eq!(err.op(), "conv2d", "{err}");
    err
}

#[test]
fn channel_mismatch_message() {
    let err = conv_err(
        &[8, 3, 28, 28],
        &[16, 1, 3, 3],
        None,
        Conv2dParams::default(),
    );
    assert_eq!(
        err.to_string(),
        "conv2d: input has 3 channels but weight expects 1 (input [8, 3, 28, 28], weight [16, 1, 3, 3])"
    );
    assert!(matches!(err, TensorError::Shape { .. }));
    let err = conv_err(
        &[1, 4, 5, 5],
        &[6, 3, 3, 3],
        None,
        Conv2dParams::default().with_groups(2),
    );
    assert_eq!(
        err.to_string(),
        "conv2d: input has 4 channels but weight expects 6 (input [1, 4, 5, 5], weight [6, 3, 3, 3], groups=2)"
    );
}

#[test]
fn other_conv2d_errors() {
    // The refusals themselves are audited in tests/no_panics.rs; these are the cases it
    // does not hold.
    let p = Conv2dParams::default();
    // Padding makes the kernel fit; dilation makes it too large again.
    assert!(
        Tensor::<f32>::zeros(&[1, 1, 2, 2])
            .conv2d(&Tensor::zeros(&[1, 1, 3, 3]), None, &p.with_padding(1))
            .is_ok()
    );
    let err = conv_err(
        &[1, 1, 2, 2],
        &[1, 1, 3, 3],
        None,
        p.with_padding(1).with_dilation([2, 1]),
    );
    assert!(
        err.to_string()
            .contains("larger than the padded input [4, 4]"),
        "{err}"
    );
    conv_err(&[1, 1, 5, 5], &[2, 1, 3, 3], Some(&[1, 2]), p);
    let err = conv_err(&[1, 1, 5, 5], &[2, 1, 3], None, p);
    assert!(err.to_string().contains("expected a 4-D weight"), "{err}");
    // A layer's padding mode is checked by `pad`: reflect needs pad < size.
    let reflect = p
        .with_padding([0, 3])
        .with_padding_mode(PaddingMode::Reflect);
    let x = Tensor::<f32>::zeros(&[1, 1, 5, 3]);
    let err = conv_layer(&x, &Tensor::zeros(&[1, 1, 1, 1]), None, &reflect).unwrap_err();
    assert!(
        err.to_string().contains("reflect padding must be smaller"),
        "{err}"
    );
}

#[test]
fn output_size_and_padding_arithmetic() {
    let p = Conv2dParams::default();
    assert_eq!(p.output_size([9, 9], [3, 3]).unwrap(), [7, 7]);
    assert_eq!(
        p.with_stride([2, 3]).output_size([9, 10], [3, 3]).unwrap(),
        [4, 3]
    );
    let padded = p.with_padding(Padding::Explicit([1, 2]));
    assert_eq!(padded.output_size([4, 4], [3, 3]).unwrap(), [4, 6]);
    assert_eq!(padded.resolve_padding([3, 3]).unwrap(), [1, 1, 2, 2]);
    // floor((H + 2p - d (k - 1) - 1) / s) + 1 = floor((28 + 2 - 4 - 1) / 2) + 1 = 13
    let q = p
        .with_stride([2, 2])
        .with_padding(Padding::Explicit([1, 1]))
        .with_dilation([2, 2]);
    assert_eq!(q.output_size([28, 28], [3, 3]).unwrap(), [13, 13]);
    let same = p.with_padding(Padding::Same);
    assert_eq!(same.output_size([6, 7], [3, 4]).unwrap(), [6, 7]);
    assert_eq!(same.resolve_padding([3, 4]).unwrap(), [1, 1, 1, 2]);
    assert_eq!(
        same.with_dilation([3, 2]).resolve_padding([4, 2]).unwrap(),
        [4, 5, 1, 1]
    );
    assert_eq!(same.resolve_padding([1, 1]).unwrap(), [0; 4]);
    assert_eq!(
        p.with_padding(Padding::Valid)
            .resolve_padding([5, 5])
            .unwrap(),
        [0; 4]
    );
    assert_eq!(
        p.with_padding(Padding::Valid)
            .output_size([5, 6], [5, 5])
            .unwrap(),
        [1, 2]
    );
    // Errors, all naming conv2d.
    let errors = [
        p.output_size([2, 5], [3, 3]),
        p.with_dilation([1, 3]).output_size([5, 6], [3, 3]),
        p.with_stride([0, 1]).output_size([5, 5], [3, 3]),
        p.with_dilation([1, 0]).output_size([5, 5], [3, 3]),
        p.output_size([5, 5], [0, 3]),
        same.with_stride([2, 2]).output_size([5, 5], [3, 3]),
        p.with_padding(Padding::Explicit([usize::MAX, 0]))
            .output_size([5, 5], [3, 3]),
        p.with_dilation([usize::MAX, 1]).output_size([5, 5], [3, 3]),
    ];
    for (i, e) in errors.into_iter().enumerate() {
        let e = e.unwrap_err();
        assert_eq!(e.op(), "conv2d", "error {i}: {e}");
    }
    assert!(same.with_stride([2, 2]).resolve_padding([3, 3]).is_err());
    assert!(
        same.with_dilation([usize::MAX, 1])
            .resolve_padding([3, 3])
            .is_err()
    );
}

#[test]
fn same_padding_with_even_kernel_puts_the_extra_row_at_the_bottom() {
    // A 2x2 kernel of ones with "same": pad 0 above, 1 below (and left 0, right 1), so the
    // last row/column only sees the image's last row/column.
    let x = Tensor::<f64>::from_vec((1..=9).map(f64::from).collect(), &[1, 1, 3, 3]).unwrap();
    let w = Tensor::<f64>::ones(&[1, 1, 2, 2]);
    let y = x
        .conv2d(
            &w,
            None,
            &Conv2dParams::default().with_padding(Padding::Same),
        )
        .unwrap();
    assert_eq!(
        y.to_vec(),
        vec![12.0, 16.0, 9.0, 24.0, 28.0, 15.0, 15.0, 17.0, 9.0]
    );
}

/// The bits of every element, so that `-0.0` and `0.0` (equal as floats) count as different.
fn bits(t: &Tensor<f32>) -> Vec<u32> {
    t.to_vec().iter().map(|v| v.to_bits()).collect()
}

#[test]
fn forward_and_backward_are_bit_identical_with_1_2_and_4_threads() {
    // The shapes of SmallCnn's two convolutions (one input channel, then 16 -> 32), and a
    // strided, dilated, grouped one; batches larger than the weight-gradient chunk count.
    let cases = [
        (
            [70, 1, 28, 28],
            [16, 1, 3, 3],
            Conv2dParams::default().with_padding(Padding::Explicit([1, 1])),
        ),
        (
            [33, 16, 14, 14],
            [32, 16, 3, 3],
            Conv2dParams::default().with_padding(Padding::Explicit([1, 1])),
        ),
        (
            [9, 4, 13, 12],
            [6, 2, 3, 2],
            Conv2dParams::default()
                .with_stride([2, 1])
                .with_dilation([1, 2])
                .with_groups(2)
                .with_padding(Padding::Explicit([2, 1])),
        ),
    ];
    for (xs, ws, p) in cases {
        let mut rng = seeded_rng(11);
        let x = Tensor::<f32>::randn(&xs, &mut rng);
        let w = Tensor::<f32>::randn(&ws, &mut rng);
        let b = Tensor::<f32>::randn(&[ws[0]], &mut rng);
        let y_shape = x.conv2d(&w, Some(&b), &p).unwrap().shape().to_vec();
        let g = Tensor::<f32>::randn(&y_shape, &mut rng);
        let run = |threads: usize| {
            crate::parallel::with_threads(threads, || {
                let y = x.conv2d(&w, Some(&b), &p).unwrap();
                let grads = conv2d_backward(&g, &x, &w, &p, [true, true, true]).unwrap();
                [
                    bits(&y),
                    bits(&grads.input.unwrap()),
                    bits(&grads.weight.unwrap()),
                    bits(&grads.bias.unwrap()),
                ]
            })
        };
        let one = run(1);
        for threads in [2, 4] {
            let many = run(threads);
            for (what, (a, b)) in ["output", "input grad", "weight grad", "bias grad"]
                .iter()
                .zip(one.iter().zip(&many))
            {
                assert!(
                    a == b,
                    "conv {xs:?} * {ws:?}: {what} differs with {threads} threads"
                );
            }
        }
    }
}

#[test]
fn per_gradient_functions_match_the_combined_pass_bit_for_bit() {
    // Flipped (stride 1), col2im (stride 2), pointwise and grouped strategies, with batches
    // larger than a chunk so that chunks hold several images.
    let d = Conv2dParams::default();
    let cases = [
        ([20, 3, 9, 8], [4, 3, 3, 3], d.with_padding(1)),
        (
            [20, 3, 9, 8],
            [4, 3, 3, 2],
            d.with_stride(2).with_padding([1, 0]),
        ),
        ([20, 4, 5, 6], [6, 4, 1, 1], d),
        (
            [20, 4, 7, 7],
            [6, 2, 3, 3],
            d.with_groups(2).with_dilation(2),
        ),
    ];
    for (xs, ws, p) in cases {
        let mut rng = seeded_rng(4);
        let x = Tensor::<f32>::randn(&xs, &mut rng);
        let w = Tensor::<f32>::randn(&ws, &mut rng);
        let y = x.conv2d(&w, None, &p).unwrap();
        let g = Tensor::<f32>::randn(y.shape(), &mut rng);
        let all = conv2d_backward(&g, &x, &w, &p, [true; 3]).unwrap();
        let input = conv2d_input_grad(&g, &w, x.shape(), &p).unwrap();
        let weight = conv2d_weight_grad(&g, &x, w.shape(), &p).unwrap();
        let bias = conv2d_bias_grad(&g).unwrap();
        assert_eq!(bits(&all.input.unwrap()), bits(&input), "{xs:?} {ws:?}");
        assert_eq!(bits(&all.weight.unwrap()), bits(&weight), "{xs:?} {ws:?}");
        assert_eq!(bits(&all.bias.unwrap()), bits(&bias), "{xs:?} {ws:?}");
    }
}
