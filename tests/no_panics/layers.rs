//! ferrite-nn: layers, initialisers, models, summary and losses.

use super::*;

#[test]
fn layers_refuse_bad_configs_and_inputs() {
    let mut a = Audit::new("layers");
    let mut rng = seeded_rng(0);
    let x4 = Var::new(z(&[1, 2, 4, 4]));
    a.refuses(
        "Linear::from_config(0, 4)",
        &["Linear", "in_features 0"],
        || Linear::<f32>::from_config(LinearConfig::new(0, 4), &mut rng),
    );
    a.refuses(
        "Linear::from_config(4, 0)",
        &["Linear", "out_features 0"],
        || Linear::<f32>::from_config(LinearConfig::new(4, 0).with_bias(false), &mut rng),
    );
    a.refuses(
        "Linear::from_config(2^62, 4): 2^64 weights",
        &["Linear", "4611686018427387904"],
        || Linear::<f32>::from_config(LinearConfig::new(1 << 62, 4), &mut rng),
    );
    a.refuses(
        "Linear::new(0, 3) forward",
        &["Linear", "in_features 0", "out_features 3"],
        || Linear::<f32>::new(0, 3).forward(&Var::new(z(&[2, 0]))),
    );
    a.refuses(
        "Linear::new(2^62, 4).with_bias(false) forward",
        &["Linear", "4611686018427387904"],
        || Linear::<f32>::new(1 << 62, 4).with_bias(false).forward(&x4),
    );
    let fc = Linear::<f32>::new(3, 2);
    a.refuses(
        "Linear forward: 4 features into Linear(3, 2)",
        &["linear", "4 features", "expects 3", "[5, 4]", "[2, 3]"],
        || fc.forward(&Var::new(z(&[5, 4]))),
    );
    a.refuses("Linear forward: 0-D input", &["linear", "[]"], || {
        fc.forward(&Var::new(Tensor::scalar(1.0)))
    });

    a.refuses(
        "Conv2d::from_config: 0 in_channels",
        &["Conv2d", "in_channels 0"],
        || Conv2d::<f32>::from_config(Conv2dConfig::new(0, 4, 3), &mut rng),
    );
    a.refuses(
        "Conv2d::from_config: kernel 0",
        &["Conv2d", "kernel_size [0, 0]"],
        || Conv2d::<f32>::from_config(Conv2dConfig::new(1, 4, 0), &mut rng),
    );
    a.refuses(
        "Conv2d::from_config: groups 0",
        &["Conv2d", "groups 0"],
        || Conv2d::<f32>::from_config(Conv2dConfig::new(2, 4, 3).with_groups(0), &mut rng),
    );
    a.refuses(
        "Conv2d::from_config: groups 3 for 2 -> 4",
        &["Conv2d", "groups 3", "in_channels 2"],
        || Conv2d::<f32>::from_config(Conv2dConfig::new(2, 4, 3).with_groups(3), &mut rng),
    );
    a.refuses(
        "Conv2d::from_config: in_channels 2^62 (2^64 weights)",
        &["Conv2d", "4611686018427387904"],
        || Conv2d::<f32>::from_config(Conv2dConfig::new(1 << 62, 4, 1), &mut rng),
    );
    a.refuses(
        "Conv2d::new(0, 4, 3) forward",
        &["Conv2d", "in_channels 0"],
        || Conv2d::<f32>::new(0, 4, 3).forward(&x4),
    );
    a.refuses(
        "Conv2d::new(1, 4, 0) forward",
        &["Conv2d", "kernel_size [0, 0]"],
        || Conv2d::<f32>::new(1, 4, 0).forward(&x4),
    );
    a.refuses(
        "Conv2d::new(2, 4, 3).with_groups(0) forward",
        &["Conv2d", "groups 0"],
        || Conv2d::<f32>::new(2, 4, 3).with_groups(0).forward(&x4),
    );
    a.refuses(
        "Conv2d::new(2, 4, 3).with_groups(3) forward (bias asked back too)",
        &["Conv2d", "groups 3", "in_channels 2", "out_channels 4"],
        || {
            let conv = Conv2d::<f32>::new(2, 4, 3).with_groups(3);
            conv.with_bias(false).with_bias(true).forward(&x4)
        },
    );
    a.refuses(
        "Conv2d::new(2^62, 4, 1) forward (2^64 weights)",
        &["Conv2d", "4611686018427387904"],
        || {
            Conv2d::<f32>::new(1 << 62, 4, 1)
                .with_kernel_size(1)
                .forward(&x4)
        },
    );
    let conv = Conv2d::<f32>::new(1, 4, 3);
    a.refuses(
        "Conv2d forward: 3 channels into Conv2d(1, 4)",
        &["conv2d", "3 channels", "expects 1"],
        || conv.forward(&Var::new(z(&[2, 3, 8, 8]))),
    );
    a.refuses(
        "Conv2d forward: image smaller than the kernel",
        &["conv2d", "[3, 3]", "[2, 2]"],
        || conv.forward(&Var::new(z(&[1, 1, 2, 2]))),
    );
    a.refuses(
        "Conv2d forward: stride 0",
        &["conv2d", "stride", "[0, 0]"],
        || {
            Conv2d::<f32>::new(1, 1, 1)
                .with_stride(0)
                .forward(&Var::new(z(&[1, 1, 4, 4])))
        },
    );
    a.refuses(
        "MaxPool2d: kernel 0",
        &["max_pool2d", "kernel_size"],
        || Module::<f32>::forward(&MaxPool2d::new(0), &Var::new(z(&[1, 1, 4, 4]))),
    );
    a.refuses("MaxPool2d: 2-D input", &["max_pool2d", "[4, 4]"], || {
        Module::<f32>::forward(&MaxPool2d::new(2), &Var::new(z(&[4, 4])))
    });
    a.refuses(
        "AvgPool2d: padding 2 for kernel 2",
        &["avg_pool2d", "pad"],
        || {
            Module::<f32>::forward(
                &AvgPool2d::new(2).with_padding(2),
                &Var::new(z(&[1, 1, 4, 4])),
            )
        },
    );
    a.refuses("Flatten(2, 5) of 2-D", &["flatten", "2"], || {
        Module::<f32>::forward(
            &Flatten::new().with_start_dim(2).with_end_dim(5),
            &Var::new(z(&[2, 3])),
        )
    });

    a.refuses("Dropout::new(1.5) forward", &["Dropout", "1.5"], || {
        Dropout::<f32>::new(1.5).forward(&x4)
    });
    a.refuses("Dropout::new(-0.1) forward", &["Dropout", "-0.1"], || {
        Dropout::<f32>::new(-0.1).with_seed(0).forward(&x4)
    });
    a.refuses(
        "Dropout::new(NaN) forward (eval)",
        &["Dropout", "NaN"],
        || {
            let drop = Dropout::<f32>::new(f64::NAN);
            drop.eval();
            drop.forward(&x4)
        },
    );
    a.refuses("Dropout2d::new(1.5) forward", &["Dropout2d", "1.5"], || {
        Dropout2d::<f32>::new(1.5).forward(&x4)
    });
    a.refuses(
        "Dropout2d of a 1-D input",
        &["dropout2d", "2 dims", "[4]"],
        || Dropout2d::<f32>::new(0.5).forward(&Var::new(z(&[4]))),
    );

    a.refuses(
        "BatchNorm2d::from_config: 0 features",
        &["BatchNorm2d", "num_features", "0"],
        || BatchNorm2d::<f32>::from_config(BatchNorm2dConfig::new(0)),
    );
    a.refuses(
        "BatchNorm2d::from_config: eps -1",
        &["BatchNorm2d", "eps", "-1"],
        || BatchNorm2d::<f32>::from_config(BatchNorm2dConfig::new(2).with_eps(-1.0)),
    );
    a.refuses(
        "BatchNorm2d::new(0) forward",
        &["BatchNorm2d", "num_features", "0"],
        || BatchNorm2d::<f32>::new(0).forward(&x4),
    );
    a.refuses(
        "BatchNorm2d::new(2).with_eps(-1) forward",
        &["BatchNorm2d", "eps", "-1"],
        || BatchNorm2d::<f32>::new(2).with_eps(-1.0).forward(&x4),
    );
    let bn = BatchNorm2d::<f32>::new(2);
    a.refuses(
        "BatchNorm2d forward: 3 channels into BatchNorm2d(2)",
        &["batch_norm2d", "3 channels", "expects 2"],
        || bn.forward(&Var::new(z(&[4, 3, 2, 2]))),
    );
    a.refuses(
        "BatchNorm2d forward: 2-D input",
        &["batch_norm2d", "4-D", "[4, 2]"],
        || bn.forward(&Var::new(z(&[4, 2]))),
    );
    a.refuses(
        "BatchNorm2d forward (training): one value per channel",
        &[
            "batch_norm",
            "more than 1 value per channel",
            "[1, 2, 1, 1]",
        ],
        || bn.forward(&Var::new(z(&[1, 2, 1, 1]))),
    );
    a.holds("BatchNorm2d<f32> counts one more batch after 2^24", || {
        let bn = BatchNorm2d::<f32>::new(1);
        let mut sd = state_dict(&bn);
        sd.insert("num_batches_tracked", Tensor::scalar(16_777_216.0));
        load_state_dict(&bn, &sd, Strict::Yes).map_err(|e| e.to_string())?;
        bn.forward(&Var::new(t(&[0.0, 1.0], &[2, 1, 1, 1])))
            .map_err(|e| e.to_string())?;
        let n = bn.num_batches_tracked();
        ensure(n == Some(16_777_217), || {
            format!(
                "num_batches_tracked is {n:?} after one more batch (an f32 counter stops at 2^24)"
            )
        })
    });
    let x = Var::new(t(&[0.0, 1.0], &[2, 1, 1, 1]));
    let stats = || (Var::new(z(&[1])), Var::new(Tensor::<f32>::ones(&[1])));
    a.refuses(
        "batch_norm2d: running_mean without running_var",
        &["batch_norm", "running_mean and running_var"],
        || {
            let (m, _) = stats();
            batch_norm2d(
                &x,
                Some(&m),
                None,
                None,
                None,
                &BatchNormOptions::new().with_training(true),
            )
        },
    );
    a.refuses(
        "batch_norm2d: a running statistic that is not a leaf",
        &["set_value", "add_scalar"],
        || {
            let m = Var::parameter(z(&[1])).add_scalar(0.0)?;
            let v = Var::new(Tensor::<f32>::ones(&[1]));
            batch_norm2d(
                &x,
                Some(&m),
                Some(&v),
                None,
                None,
                &BatchNormOptions::new().with_training(true),
            )
        },
    );
    a.refuses(
        "batch_norm2d: evaluation without running stats",
        &["batch_norm", "evaluation"],
        || batch_norm2d(&x, None, None, None, None, &BatchNormOptions::new()),
    );
    a.refuses(
        "batch_norm2d: weight [2] for 1 channel",
        &["batch_norm", "weight", "[2]", "1 channels"],
        || {
            batch_norm2d(
                &x,
                None,
                None,
                Some(&Var::parameter(z(&[2]))),
                None,
                &BatchNormOptions::new().with_training(true),
            )
        },
    );
    a.refuses("batch_norm2d: eps -1", &["batch_norm", "eps", "-1"], || {
        batch_norm2d(
            &x,
            None,
            None,
            None,
            None,
            &BatchNormOptions::new().with_training(true).with_eps(-1.0),
        )
        .map(|y| y.value().to_vec())
    });
    a.finish();
}

#[test]
fn init_refuses_bad_shapes() {
    let mut a = Audit::new("init");
    let mut rng = seeded_rng(0);
    use init::{FanMode, Nonlinearity};
    a.refuses(
        "fan_in_and_fan_out of a 1-D shape",
        &["init", "2 dims", "[3]"],
        || init::fan_in_and_fan_out(&[3]),
    );
    a.refuses(
        "kaiming_uniform of [4, 0]",
        &["init", "zero fan", "[4, 0]"],
        || init::kaiming_uniform::<f32>(&[4, 0], FanMode::FanIn, Nonlinearity::Relu, &mut rng),
    );
    a.refuses(
        "kaiming_normal of [0, 4] fan out",
        &["init", "zero fan", "[0, 4]"],
        || init::kaiming_normal::<f32>(&[0, 4], FanMode::FanOut, Nonlinearity::Relu, &mut rng),
    );
    a.refuses(
        "xavier_uniform of [0, 0]",
        &["init", "zero fans", "[0, 0]"],
        || init::xavier_uniform::<f32>(&[0, 0], 1.0, &mut rng),
    );
    a.refuses("xavier_normal of [5]", &["init", "[5]"], || {
        init::xavier_normal::<f32>(&[5], 1.0, &mut rng)
    });
    a.refuses(
        "kaiming_uniform of [2, 3 * 2^62]: fan and element count overflow",
        &["init", "13835058055282163712"],
        || {
            init::kaiming_uniform::<f32>(
                &[2, 3 << 62],
                FanMode::FanIn,
                Nonlinearity::Relu,
                &mut rng,
            )
        },
    );
    a.refuses(
        "kaiming_uniform of [1, 2^62, 4]: fan_in 2^64 wraps to 0",
        &["init", "4611686018427387904", "overflow"],
        || {
            init::kaiming_uniform::<f32>(
                &[1, 1 << 62, 4],
                FanMode::FanIn,
                Nonlinearity::Relu,
                &mut rng,
            )
        },
    );
    a.refuses("default_weight_and_bias of [3]", &["init", "[3]"], || {
        init::default_weight_and_bias::<f32>(&[3], &mut rng)
    });
    a.finish();
}

#[test]
fn models_and_summary_refuse_bad_sizes() {
    let mut a = Audit::new("small_cnn and summary");
    a.refuses("small_cnn 3x3", &["small_cnn", "3x3"], || {
        small_cnn::<f32>([3, 3])
    });
    a.refuses("small_cnn 28x2", &["small_cnn", "28x2"], || {
        small_cnn::<f32>([28, 2])
    });
    a.refuses("small_cnn 0x0", &["small_cnn", "0x0"], || {
        small_cnn::<f32>([0, 0])
    });
    a.refuses(
        "small_cnn 2^32 x 2^32 (fc1 in_features 32 * 2^60 overflows)",
        &["small_cnn", "4294967296"],
        || small_cnn::<f32>([1 << 32, 1 << 32]),
    );
    a.refuses(
        "small_cnn usize::MAX x usize::MAX",
        &["small_cnn", "18446744073709551615"],
        || small_cnn::<f32>([usize::MAX, usize::MAX]).map(|m| m.num_parameters()),
    );
    let model = small_cnn::<f32>([28, 28]).unwrap();
    a.refuses(
        "summary of small_cnn with 3 channels",
        &["conv2d", "3 channels", "expects 1"],
        || summary(&model, &[1, 3, 28, 28]),
    );
    a.refuses(
        "summary of small_cnn(28x28) with 32x32 images (fc1 mismatch)",
        &["linear", "2048", "1568"],
        || summary(&model, &[1, 1, 32, 32]),
    );
    a.refuses(
        "summary of small_cnn with a 2-D input",
        &["conv2d", "4-D", "[28, 28]"],
        || summary(&model, &[28, 28]),
    );
    a.holds(
        "summary leaves a BatchNorm2d's running statistics alone",
        || {
            let bn = Sequential::<f32>::new().add_module("bn", BatchNorm2d::new(2));
            let before = state_dict(&bn);
            summary(&bn, &[2, 2, 4, 4]).map_err(|e| e.to_string())?;
            let after = state_dict(&bn);
            let changed: Vec<String> = before
                .iter()
                .filter(|(n, t)| after.get(n) != Some(*t))
                .map(|(n, t)| {
                    format!(
                        "{n}: {:?} -> {:?}",
                        t.to_vec(),
                        after.get(n).map(|a| a.to_vec())
                    )
                })
                .collect();
            ensure(changed.is_empty(), || {
                format!("summary changed the model's buffers: {changed:?}")
            })
        },
    );
    a.refuses(
        "summary with input shape [usize::MAX/2, 4]",
        &["summary", "9223372036854775807, 4"],
        || summary(&model, &[HUGE, 4]),
    );
    a.finish();
}

// ---------------------------------------------------------------------------------------
// Losses

#[test]
fn losses_refuse_bad_targets() {
    let mut a = Audit::new("losses");
    let logits = Var::parameter(z(&[2, 3]));
    let o = CrossEntropyOptions::default();
    a.refuses(
        "cross_entropy: target 3 with 3 classes",
        &["cross_entropy", "target 3", "3 classes", "0 to 2"],
        || cross_entropy(&logits, &Indices::from_classes(&[0, 3]), &o),
    );
    a.refuses(
        "cross_entropy: target i64::MAX",
        &["cross_entropy", "9223372036854775807"],
        || cross_entropy(&logits, &Indices::from_vec(vec![i64::MAX, 0], &[2])?, &o),
    );
    a.refuses(
        "cross_entropy: 3 targets for 2 samples",
        &["cross_entropy", "shape [2]", "found [3]"],
        || cross_entropy(&logits, &Indices::from_classes(&[0, 1, 2]), &o),
    );
    a.refuses(
        "cross_entropy: no target for 2 samples",
        &["cross_entropy", "shape [2]", "found [0]"],
        || cross_entropy(&logits, &Indices::from_classes(&[]), &o),
    );
    a.refuses(
        "cross_entropy: 3-D input with [N] targets",
        &["cross_entropy", "[2, 4]", "[2, 3, 4]"],
        || {
            cross_entropy(
                &Var::new(z(&[2, 3, 4])),
                &Indices::from_classes(&[0, 0]),
                &o,
            )
        },
    );
    a.refuses("cross_entropy: 0-D input", &["cross_entropy", "[]"], || {
        cross_entropy(&Var::new(Tensor::scalar(1.0)), &Indices::scalar(0), &o)
    });
    a.refuses(
        "cross_entropy: zero classes",
        &["cross_entropy", "0 classes"],
        || cross_entropy(&Var::new(z(&[2, 0])), &Indices::from_classes(&[0, 0]), &o),
    );
    a.refuses(
        "cross_entropy: label_smoothing 1.5",
        &["cross_entropy", "label_smoothing", "1.5"],
        || {
            cross_entropy(
                &logits,
                &Indices::from_classes(&[0, 1]),
                &o.clone().with_label_smoothing(1.5),
            )
        },
    );
    a.refuses(
        "cross_entropy: label_smoothing NaN",
        &["cross_entropy", "label_smoothing", "NaN"],
        || {
            cross_entropy(
                &logits,
                &Indices::from_classes(&[0, 1]),
                &o.clone().with_label_smoothing(f64::NAN),
            )
        },
    );
    a.refuses(
        "nll_loss: target 5 with 3 classes",
        &["nll_loss", "target 5", "3 classes"],
        || nll_loss(&logits, &Indices::from_classes(&[5, 0]), Reduction::Mean),
    );
    a.refuses(
        "nll_loss: 1 target for 2 samples",
        &["nll_loss", "shape [2]", "found [1]"],
        || nll_loss(&logits, &Indices::from_classes(&[0]), Reduction::Sum),
    );
    a.refuses(
        "mse_loss: [2, 3] vs [3]",
        &["mse_loss", "[2, 3]", "[3]"],
        || mse_loss(&logits, &Var::new(z(&[3])), Reduction::Mean),
    );
    a.refuses(
        "mse_loss: [2, 3] vs [3, 2]",
        &["mse_loss", "[2, 3]", "[3, 2]"],
        || mse_loss(&logits, &Var::new(z(&[3, 2])), Reduction::None),
    );
    a.finish();
}
