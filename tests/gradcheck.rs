//! Gradient checks in f64 for every differentiable op: the Jacobian from `backward` against
//! central finite differences (`gradcheck`, PyTorch's default tolerances).

use ferrite::nn::loss::{CrossEntropyOptions, Reduction, cross_entropy, mse_loss, nll_loss};
use ferrite::nn::{BatchNormOptions, batch_norm2d};
use ferrite::prelude::*;
use ferrite::tensor::{Conv2dParams, PadMode, Pool2dParams};

fn randn(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::randn(shape, &mut seeded_rng(seed))
}

/// Values bounded away from zero (for log, sqrt, div, pow, abs and relu's kink).
fn away_from_zero(shape: &[usize], seed: u64) -> Tensor<f64> {
    randn(shape, seed).map(|x| if x >= 0.0 { x + 0.5 } else { x - 0.5 })
}

fn check(
    name: &str,
    f: impl Fn(&[Var<f64>]) -> Result<Var<f64>, TensorError>,
    inputs: Vec<Tensor<f64>>,
) {
    match gradcheck(f, &inputs, &GradcheckOptions::default()) {
        Ok(report) => assert!(report.checked > 0, "{name}: nothing was checked"),
        Err(e) => panic!("{name}: {e}"),
    }
}

#[test]
fn elementwise_binary_ops_with_broadcasting() {
    let shapes: [(&[usize], &[usize]); 4] = [
        (&[2, 3], &[2, 3]),
        (&[2, 3], &[3]),
        (&[2, 1, 3], &[4, 1]),
        (&[3], &[]),
    ];
    for (i, (sa, sb)) in shapes.into_iter().enumerate() {
        let (a, b) = (randn(sa, i as u64), away_from_zero(sb, 100 + i as u64));
        check("add", |v| v[0].add(&v[1]), vec![a.clone(), b.clone()]);
        check("sub", |v| v[0].sub(&v[1]), vec![a.clone(), b.clone()]);
        check("mul", |v| v[0].mul(&v[1]), vec![a.clone(), b.clone()]);
        check("div", |v| v[0].div(&v[1]), vec![a.clone(), b.clone()]);
    }
}

#[test]
fn scalar_and_unary_ops() {
    let x = randn(&[2, 3], 1);
    let pos = away_from_zero(&[2, 3], 2).abs();
    let nz = away_from_zero(&[2, 3], 3);
    check("add_scalar", |v| v[0].add_scalar(1.5), vec![x.clone()]);
    check("sub_scalar", |v| v[0].sub_scalar(1.5), vec![x.clone()]);
    check("mul_scalar", |v| v[0].mul_scalar(-2.0), vec![x.clone()]);
    check("div_scalar", |v| v[0].div_scalar(4.0), vec![x.clone()]);
    check("neg", |v| v[0].neg(), vec![x.clone()]);
    check("exp", |v| v[0].exp(), vec![x.clone()]);
    check("log", |v| v[0].log(), vec![pos.clone()]);
    check("sqrt", |v| v[0].sqrt(), vec![pos.clone()]);
    check("powf", |v| v[0].powf(2.5), vec![pos.clone()]);
    check("abs", |v| v[0].abs(), vec![nz.clone()]);
    check("relu", |v| v[0].relu(), vec![nz.clone()]);
    check("sigmoid", |v| v[0].sigmoid(), vec![x.clone()]);
    check("tanh", |v| v[0].tanh(), vec![x.clone()]);
}

#[test]
fn activations_away_from_their_kinks() {
    use ferrite::tensor::GeluApproximate;
    let x = away_from_zero(&[2, 3], 60).mul_scalar(1.5);
    // Kinks at ±3 (hardswish, hardsigmoid) and at the clamp bounds: keep clear of them.
    let off = |k: f64| {
        x.map(move |v| {
            if (v.abs() - k).abs() < 0.1 {
                v + 0.3
            } else {
                v
            }
        })
    };
    check("leaky_relu", |v| v[0].leaky_relu(0.2), vec![x.clone()]);
    check(
        "leaky_relu negative slope",
        |v| v[0].leaky_relu(-0.5),
        vec![x.clone()],
    );
    check("elu", |v| v[0].elu(1.5), vec![x.clone()]);
    for a in [GeluApproximate::None, GeluApproximate::Tanh] {
        check(
            "gelu",
            |v| v[0].gelu(a),
            vec![randn(&[2, 3], 61).mul_scalar(2.0)],
        );
    }
    check(
        "silu",
        |v| v[0].silu(),
        vec![randn(&[2, 3], 62).mul_scalar(3.0)],
    );
    check("softplus", |v| v[0].softplus(1.0, 20.0), vec![x.clone()]);
    check(
        "softplus threshold",
        |v| v[0].softplus(2.0, 1.0),
        vec![x.clone()],
    );
    check("hardtanh", |v| v[0].hardtanh(-1.0, 1.0), vec![off(1.0)]);
    check("relu6", |v| v[0].relu6(), vec![off(0.0).mul_scalar(4.0)]);
    check(
        "hardswish",
        |v| v[0].hardswish(),
        vec![off(3.0).mul_scalar(2.0)],
    );
    check(
        "hardsigmoid",
        |v| v[0].hardsigmoid(),
        vec![off(3.0).mul_scalar(2.0)],
    );
}

#[test]
fn pow_clamp_maximum_minimum_where() {
    let pos = away_from_zero(&[2, 3], 70).abs();
    let nz = away_from_zero(&[2, 3], 71);
    for p in [2.0, 3.0, -1.0] {
        check("pow integral", |v| v[0].pow(p), vec![nz.clone()]);
    }
    for p in [0.5, -2.5, 0.0] {
        check("pow", |v| v[0].pow(p), vec![pos.clone()]);
    }
    let x = randn(&[3, 4], 72).map(|v| {
        if (v.abs() - 0.5).abs() < 0.05 {
            v + 0.2
        } else {
            v
        }
    });
    check(
        "clamp",
        |v| v[0].clamp(Some(-0.5), Some(0.5)),
        vec![x.clone()],
    );
    check(
        "clamp min",
        |v| v[0].clamp(Some(-0.5), None),
        vec![x.clone()],
    );
    check(
        "clamp max",
        |v| v[0].clamp(None, Some(0.5)),
        vec![x.clone()],
    );
    check(
        "clamp crossed",
        |v| v[0].clamp(Some(0.5), Some(-0.5)),
        vec![x.clone()],
    );
    let shapes: [(&[usize], &[usize]); 3] = [(&[2, 3], &[2, 3]), (&[3, 1], &[4]), (&[], &[2, 3])];
    for (i, (sa, sb)) in shapes.into_iter().enumerate() {
        // Shift b so that no pair ties (ties split the gradient, a kink).
        let (a, b) = (
            randn(sa, 80 + i as u64),
            randn(sb, 90 + i as u64).add_scalar(0.05),
        );
        check(
            "maximum",
            |v| v[0].maximum(&v[1]),
            vec![a.clone(), b.clone()],
        );
        check(
            "minimum",
            |v| v[0].minimum(&v[1]),
            vec![a.clone(), b.clone()],
        );
    }
    let cond = ferrite::tensor::Mask::from_vec(vec![true, false, true], &[3]).unwrap();
    check(
        "where",
        |v| Var::where_cond(&cond, &v[0], &v[1]),
        vec![randn(&[2, 3], 95), randn(&[2, 1], 96)],
    );
}

#[test]
fn reductions() {
    let x = randn(&[2, 3, 4], 4);
    for dims in [&[][..], &[0], &[-1], &[0, 2]] {
        for keepdim in [false, true] {
            check("sum", |v| v[0].sum(dims, keepdim), vec![x.clone()]);
            check("mean", |v| v[0].mean(dims, keepdim), vec![x.clone()]);
            check("amax", |v| v[0].amax(dims, keepdim), vec![x.clone()]);
            check("amin", |v| v[0].amin(dims, keepdim), vec![x.clone()]);
            check(
                "logsumexp",
                |v| v[0].logsumexp(dims, keepdim),
                vec![x.clone()],
            );
            for correction in [0.0, 1.0, 0.5, -1.5] {
                check(
                    "var",
                    |v| v[0].var(dims, correction, keepdim),
                    vec![x.clone()],
                );
                check(
                    "std",
                    |v| v[0].std(dims, correction, keepdim),
                    vec![x.clone()],
                );
            }
        }
    }
    for dim in [0, 1, -1] {
        for keepdim in [false, true] {
            check(
                "max(dim)",
                |v| Ok(v[0].max(dim, keepdim)?.0),
                vec![x.clone()],
            );
            check(
                "min(dim)",
                |v| Ok(v[0].min(dim, keepdim)?.0),
                vec![x.clone()],
            );
        }
    }
    // Large inputs: the stable form's gradient is still the softmax.
    let big = x.mul_scalar(300.0);
    check(
        "logsumexp large",
        |v| v[0].logsumexp(&[1], false),
        vec![big],
    );
    let scalar = randn(&[], 5);
    check("amax 0-d", |v| v[0].amax(&[], false), vec![scalar.clone()]);
    check(
        "max(dim) 0-d",
        |v| Ok(v[0].max(-1, true)?.0),
        vec![scalar.clone()],
    );
    check("var 0-d", |v| v[0].var(&[0], 0.0, false), vec![scalar]);
}

#[test]
fn gather_and_index_select() {
    let x = randn(&[3, 4], 40);
    let repeated = Indices::from_vec(vec![2, 2, 0, 1, 2, 0, 0, 0], &[2, 4]).unwrap();
    check(
        "gather dim 0",
        |v| v[0].gather(0, &repeated),
        vec![x.clone()],
    );
    let longer = Indices::from_vec(vec![3, 0, 3, 3, 1, 2, 1, 1, 0, 0], &[2, 5]).unwrap();
    check(
        "gather dim -1",
        |v| v[0].gather(-1, &longer),
        vec![x.clone()],
    );
    let x3 = randn(&[2, 3, 4], 41);
    let middle = Indices::from_vec(vec![2, 0, 1, 1, 0, 2], &[1, 3, 2]).unwrap();
    check("gather 3-D", |v| v[0].gather(1, &middle), vec![x3.clone()]);
    for (dim, index) in [
        (0, Indices::from_classes(&[2, 0, 2, 1])),
        (1, Indices::from_classes(&[3, 3])),
        (-1, Indices::scalar(1)),
    ] {
        check(
            "index_select",
            |v| v[0].index_select(dim, &index),
            vec![x.clone()],
        );
    }
    check(
        "index_select 3-D",
        |v| v[0].index_select(1, &Indices::from_classes(&[1, 1, 0])),
        vec![x3],
    );
}

#[test]
fn shape_ops() {
    let x = randn(&[2, 3, 4], 5);
    check("reshape", |v| v[0].reshape(&[4, -1]), vec![x.clone()]);
    check("flatten", |v| v[0].flatten(1, -1), vec![x.clone()]);
    check("permute", |v| v[0].permute(&[2, 0, 1]), vec![x.clone()]);
    check("transpose", |v| v[0].transpose(0, 2), vec![x.clone()]);
    check("unsqueeze", |v| v[0].unsqueeze(1), vec![x.clone()]);
    check(
        "squeeze",
        |v| v[0].unsqueeze(0)?.squeeze(0),
        vec![x.clone()],
    );
    check("narrow", |v| v[0].narrow(2, 1, 2), vec![x.clone()]);
    check(
        "broadcast_to",
        |v| v[0].broadcast_to(&[5, 2, 3, 4]),
        vec![x.clone()],
    );
    let y = randn(&[2, 1, 4], 6);
    check("cat", |v| Var::cat(&[&v[0], &v[1]], 1), vec![x.clone(), y]);
    check(
        "stack",
        |v| Var::stack(&[&v[0], &v[1]], 1),
        vec![x.clone(), randn(&[2, 3, 4], 7)],
    );
}

#[test]
fn matmul_and_linear() {
    let cases: [(&[usize], &[usize]); 12] = [
        (&[2, 3], &[3, 4]),
        (&[5, 2, 3], &[5, 3, 4]),
        (&[5, 2, 3], &[3, 4]),
        (&[2, 3], &[5, 3, 4]),
        (&[3], &[3, 4]),
        (&[2, 3], &[3]),
        (&[3], &[3]),
        (&[3], &[2, 3, 4]),
        (&[2, 3, 4], &[4]),
        (&[2, 1, 3, 4], &[5, 4, 2]),
        (&[1, 3, 4], &[2, 4, 5]),
        (&[2, 1, 2, 3], &[1, 4, 3, 2]),
    ];
    for (i, (sa, sb)) in cases.into_iter().enumerate() {
        check(
            "matmul",
            |v| v[0].matmul(&v[1]),
            vec![randn(sa, 10 + i as u64), randn(sb, 20 + i as u64)],
        );
    }
    let (x, w, b) = (randn(&[4, 3], 30), randn(&[2, 3], 31), randn(&[2], 32));
    check(
        "linear",
        |v| v[0].linear(&v[1], Some(&v[2])),
        vec![x.clone(), w.clone(), b],
    );
    check(
        "linear without bias",
        |v| v[0].linear(&v[1], None),
        vec![x, w],
    );
    check(
        "linear on 3-d input",
        |v| v[0].linear(&v[1], None),
        vec![randn(&[2, 2, 3], 33), randn(&[2, 3], 34)],
    );
    check(
        "linear on 1-d input",
        |v| v[0].linear(&v[1], Some(&v[2])),
        vec![randn(&[3], 35), randn(&[2, 3], 36), randn(&[2], 37)],
    );
}

#[test]
fn softmax_and_losses() {
    let x = randn(&[3, 4], 40);
    for dim in [0, 1, -1] {
        check("softmax", |v| v[0].softmax(dim), vec![x.clone()]);
        check("log_softmax", |v| v[0].log_softmax(dim), vec![x.clone()]);
    }
    for dim in [0, -1] {
        check("softmax 0-d", |v| v[0].softmax(dim), vec![randn(&[], 41)]);
        check(
            "log_softmax 0-d",
            |v| v[0].log_softmax(dim),
            vec![randn(&[], 41)],
        );
    }
    let target = [1usize, 0, 3];
    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        for smoothing in [0.0, 0.2] {
            let o = CrossEntropyOptions::default()
                .with_reduction(reduction)
                .with_label_smoothing(smoothing);
            check(
                "cross_entropy",
                |v| cross_entropy(&v[0], &Indices::from_classes(&target), &o),
                vec![x.clone()],
            );
        }
        check(
            "nll_loss",
            |v| {
                nll_loss(
                    &v[0].log_softmax(1)?,
                    &Indices::from_classes(&target),
                    reduction,
                )
            },
            vec![x.clone()],
        );
        check(
            "mse_loss",
            |v| mse_loss(&v[0], &v[1], reduction),
            vec![x.clone(), randn(&[3, 4], 41)],
        );
    }
}

#[test]
fn conv2d_across_stride_padding_dilation_and_groups() {
    let configs = [
        Conv2dParams::default(),
        Conv2dParams::default().with_stride([2, 2]),
        Conv2dParams::default()
            .with_stride([2, 1])
            .with_padding(Padding::Explicit([1, 2])),
        Conv2dParams::default()
            .with_dilation([2, 2])
            .with_padding(Padding::Explicit([2, 1])),
        Conv2dParams::default().with_padding(Padding::Same),
        Conv2dParams::default().with_padding(Padding::Valid),
    ];
    for (i, p) in configs.iter().enumerate() {
        let (x, w, b) = (
            randn(&[2, 2, 5, 6], 50 + i as u64),
            randn(&[3, 2, 3, 2], 60 + i as u64),
            randn(&[3], 70),
        );
        check(
            "conv2d",
            |v| v[0].conv2d(&v[1], Some(&v[2]), p),
            vec![x, w, b],
        );
    }
    // Padding modes, as the Conv2d layer applies them: pad [left, right, top, bottom],
    // then a convolution without padding.
    let modes = [
        ([1, 1, 1, 1], PadMode::Reflect),
        ([1, 1, 2, 2], PadMode::Replicate),
        ([2, 2, 1, 1], PadMode::Circular),
    ];
    for (i, (pad, mode)) in modes.into_iter().enumerate() {
        let (x, w, b) = (
            randn(&[2, 2, 5, 6], 55 + i as u64),
            randn(&[3, 2, 3, 2], 65 + i as u64),
            randn(&[3], 70),
        );
        check(
            "conv2d after pad",
            |v| {
                v[0].pad(&pad, mode)?
                    .conv2d(&v[1], Some(&v[2]), &Conv2dParams::default())
            },
            vec![x, w, b],
        );
    }
    // Groups: 4 input channels, 6 output channels in 2 groups; and depthwise.
    let p = Conv2dParams::default()
        .with_groups(2)
        .with_padding(Padding::Explicit([1, 1]));
    check(
        "conv2d groups",
        |v| v[0].conv2d(&v[1], Some(&v[2]), &p),
        vec![
            randn(&[1, 4, 4, 4], 80),
            randn(&[6, 2, 3, 3], 81),
            randn(&[6], 82),
        ],
    );
    let p = Conv2dParams::default().with_groups(3);
    check(
        "conv2d depthwise",
        |v| v[0].conv2d(&v[1], None, &p),
        vec![randn(&[2, 3, 4, 4], 83), randn(&[3, 1, 2, 2], 84)],
    );
}

#[test]
fn pad_in_every_mode() {
    let cases: [(&[usize], &[isize], PadMode); 9] = [
        (&[2, 3, 4], &[1, 2], PadMode::Constant(0.5)),
        (&[2, 3, 4], &[2, 1, 0, 1], PadMode::Constant(0.0)),
        (&[2, 3, 4], &[1, 0, -1, 2, 1, 1], PadMode::Constant(-1.0)),
        (&[1, 2, 4, 5], &[-1, 2, 1, -2], PadMode::Constant(1.5)),
        (&[2, 5], &[3, 1], PadMode::Reflect),
        (&[1, 2, 4, 5], &[1, 2, 2, 1], PadMode::Reflect),
        (&[2, 1, 3, 3], &[2, 0, 1, 3], PadMode::Replicate),
        (&[1, 2, 3, 4], &[1, 2, 2, 1], PadMode::Circular),
        (&[2, 3, 3], &[3, 0, -1, 2], PadMode::Circular),
    ];
    for (i, (shape, pad, mode)) in cases.into_iter().enumerate() {
        check(
            &format!("pad {pad:?} {mode:?}"),
            |v| v[0].pad(pad, mode),
            vec![randn(shape, 95 + i as u64)],
        );
    }
}

#[test]
fn batch_norm_training_mode() {
    let options = BatchNormOptions::default().with_training(true);
    check(
        "batch_norm2d",
        |v| batch_norm2d(&v[0], None, None, Some(&v[1]), Some(&v[2]), &options),
        vec![randn(&[3, 2, 2, 3], 90), randn(&[2], 91), randn(&[2], 92)],
    );
}

#[test]
fn pooling() {
    // Distinct values (no ties), so max pooling is differentiable everywhere.
    let x = Tensor::<f64>::from_vec(
        (0..2 * 2 * 5 * 6)
            .map(|i| ((i * 37) % 61) as f64 * 0.1 - 3.0)
            .collect(),
        &[2, 2, 5, 6],
    )
    .unwrap();
    let configs = [
        Pool2dParams::new([2, 2]),
        Pool2dParams::new([3, 3])
            .with_stride([2, 2])
            .with_padding([1, 1]),
        Pool2dParams::new([2, 3])
            .with_stride([1, 2])
            .with_ceil_mode(true),
        Pool2dParams::new([3, 2])
            .with_stride([2, 1])
            .with_padding([1, 1])
            .with_ceil_mode(true)
            .with_count_include_pad(false),
    ];
    for p in &configs {
        check("max_pool2d", |v| v[0].max_pool2d(p), vec![x.clone()]);
        check("avg_pool2d", |v| v[0].avg_pool2d(p), vec![x.clone()]);
    }
    check(
        "max_pool2d dilated",
        |v| {
            v[0].max_pool2d(
                &Pool2dParams::new([2, 2])
                    .with_dilation([2, 2])
                    .with_stride([1, 1]),
            )
        },
        vec![x],
    );
}

#[test]
fn norms_with_and_without_affine_parameters() {
    let options = BatchNormOptions::default().with_training(true);
    check(
        "batch_norm1d [N, C, L]",
        |v| ferrite::nn::batch_norm1d(&v[0], None, None, Some(&v[1]), Some(&v[2]), &options),
        vec![randn(&[4, 3, 5], 100), randn(&[3], 101), randn(&[3], 102)],
    );
    check(
        "batch_norm1d [N, C]",
        |v| ferrite::nn::batch_norm1d(&v[0], None, None, None, None, &options),
        vec![randn(&[5, 3], 103)],
    );
    check(
        "layer_norm",
        |v| v[0].layer_norm(&[3, 4], Some(&v[1]), Some(&v[2]), 1e-5),
        vec![
            randn(&[2, 3, 4], 104),
            randn(&[3, 4], 105),
            randn(&[3, 4], 106),
        ],
    );
    check(
        "layer_norm unbatched, no affine",
        |v| v[0].layer_norm(&[6], None, None, 1e-5),
        vec![randn(&[6], 107)],
    );
    check(
        "group_norm",
        |v| v[0].group_norm(2, Some(&v[1]), Some(&v[2]), 1e-5),
        vec![
            randn(&[2, 4, 3, 2], 108),
            randn(&[4], 109),
            randn(&[4], 110),
        ],
    );
    check(
        "group_norm [N, C], bias only",
        |v| v[0].group_norm(3, None, Some(&v[1]), 1e-3),
        vec![randn(&[3, 6], 111), randn(&[6], 112)],
    );
}

#[test]
fn adaptive_pools_unpooling_and_divisor_override() {
    let x = randn(&[2, 3, 5, 7], 113); // random: no ties
    for size in [[1, 1], [3, 2], [7, 9]] {
        check(
            "adaptive_avg_pool2d",
            |v| v[0].adaptive_avg_pool2d(size),
            vec![x.clone()],
        );
        check(
            "adaptive_max_pool2d",
            |v| v[0].adaptive_max_pool2d(size),
            vec![x.clone()],
        );
    }
    check(
        "adaptive_avg_pool2d unbatched, None",
        |v| v[0].adaptive_avg_pool2d([None, Some(3)]),
        vec![randn(&[2, 4, 5], 114)],
    );
    check(
        "max_pool2d_with_indices unbatched, dilated",
        |v| {
            Ok(v[0]
                .max_pool2d_with_indices(&Pool2dParams::new(2).with_dilation(2).with_stride(1))?
                .0)
        },
        vec![randn(&[2, 6, 6], 115)],
    );
    let (y, idx) = Var::new(x.clone())
        .max_pool2d_with_indices(&Pool2dParams::new(2))
        .unwrap();
    check(
        "max_unpool2d",
        |v| {
            v[0].max_unpool2d(
                &idx,
                &ferrite::tensor::Unpool2dParams::new(2).with_output_size([5, 7]),
            )
        },
        vec![y.value()],
    );
    check(
        "avg_pool2d divisor_override",
        |v| {
            v[0].avg_pool2d(
                &Pool2dParams::new(3)
                    .with_stride(2)
                    .with_padding(1)
                    .with_divisor_override(-4),
            )
        },
        vec![x],
    );
}
