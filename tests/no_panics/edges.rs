//! Across crates: zero sizes, the panicking conveniences, norms and adaptive pools.

use super::*;

#[test]
fn zero_sizes_are_answered() {
    let mut a = Audit::new("zero sizes");
    let shape_is = |got: Vec<usize>, want: &[usize]| {
        ensure(got == want, || format!("shape {got:?}, expected {want:?}"))
    };
    a.holds("reshape [0] -> [0, 5]", || {
        shape_is(
            z(&[0])
                .reshape(&[0, 5])
                .map_err(|e| e.to_string())?
                .shape()
                .to_vec(),
            &[0, 5],
        )
    });
    a.holds("sum of [0] is 0", || {
        let s = z(&[0])
            .sum(&[], false)
            .map_err(|e| e.to_string())?
            .item()
            .map_err(|e| e.to_string())?;
        ensure(s == 0.0, || format!("{s}"))
    });
    a.holds("cat of [2, 0] and [2, 3] on dim 1", || {
        shape_is(
            Tensor::cat(&[&z(&[2, 0]), &z(&[2, 3])], 1)
                .map_err(|e| e.to_string())?
                .shape()
                .to_vec(),
            &[2, 3],
        )
    });
    a.holds("stack of two [0]", || {
        shape_is(
            Tensor::stack(&[&z(&[0]), &z(&[0])], 0)
                .map_err(|e| e.to_string())?
                .shape()
                .to_vec(),
            &[2, 0],
        )
    });
    a.holds("matmul [0, 3] x [3, 2]", || {
        shape_is(
            z(&[0, 3])
                .matmul(&z(&[3, 2]))
                .map_err(|e| e.to_string())?
                .shape()
                .to_vec(),
            &[0, 2],
        )
    });
    a.holds("amax over dim 1 of [0, 3]", || {
        shape_is(
            z(&[0, 3])
                .amax(&[1], false)
                .map_err(|e| e.to_string())?
                .shape()
                .to_vec(),
            &[0],
        )
    });
    a.holds("conv2d of an empty batch [0, 1, 5, 5]", || {
        let y = z(&[0, 1, 5, 5])
            .conv2d(&z(&[2, 1, 3, 3]), None, &Conv2dParams::default())
            .map_err(|e| e.to_string())?;
        shape_is(y.shape().to_vec(), &[0, 2, 3, 3])
    });
    a.holds("conv2d_backward of an empty batch", || {
        let g = conv2d_backward(
            &z(&[0, 2, 3, 3]),
            &z(&[0, 1, 5, 5]),
            &z(&[2, 1, 3, 3]),
            &Conv2dParams::default(),
            [true, true, true],
        )
        .map_err(|e| e.to_string())?;
        let w = g.weight.ok_or("no weight grad")?;
        ensure(
            w.shape() == [2, 1, 3, 3] && w.to_vec().iter().all(|&v| v == 0.0),
            || format!("{w:?}"),
        )
    });
    a.holds("max_pool2d of an empty batch", || {
        shape_is(
            z(&[0, 1, 4, 4])
                .max_pool2d(&Pool2dParams::new([2, 2]))
                .map_err(|e| e.to_string())?
                .shape()
                .to_vec(),
            &[0, 1, 2, 2],
        )
    });
    a.holds("Linear forward of an empty batch, and backward", || {
        let fc = Linear::<f32>::new(3, 2);
        let y = fc
            .forward(&Var::new(z(&[0, 3])))
            .map_err(|e| e.to_string())?;
        shape_is(y.shape(), &[0, 2])?;
        y.sum_all()
            .and_then(|s| s.backward())
            .map_err(|e| e.to_string())?;
        let g = fc.weight().grad().ok_or("no weight grad")?;
        ensure(g.to_vec().iter().all(|&v| v == 0.0), || format!("{g:?}"))
    });
    a.holds(
        "cross_entropy with reduction sum of an empty batch is 0",
        || {
            let l = cross_entropy(
                &Var::parameter(z(&[0, 3])),
                &Indices::from_classes(&[]),
                &CrossEntropyOptions::default().with_reduction(Reduction::Sum),
            )
            .map_err(|e| e.to_string())?;
            ensure(l.item().map_err(|e| e.to_string())? == 0.0, || {
                format!("{l:?}")
            })
        },
    );
    a.holds("DataLoader over an empty data set has no batch", || {
        let ds = Mnist::new(vec![], vec![], [2, 2]).map_err(|e| e.to_string())?;
        let n = DataLoader::new(&ds).with_batch_size(4).epoch(0).count();
        ensure(n == 0, || format!("{n} batches"))
    });
    a.holds(
        "state dict round trip of a zero-size tensor through safetensors",
        || {
            let mut sd = StateDict::<f32>::new();
            sd.insert("e", z(&[0, 3]));
            let back = from_safetensors_bytes::<f32>(
                &to_safetensors_bytes(&sd).map_err(|e| e.to_string())?,
                "e",
            )
            .map_err(|e| e.to_string())?;
            ensure(back == sd, || format!("{back:?}"))
        },
    );
    a.finish();
}

// ---------------------------------------------------------------------------------------
// The panicking conveniences: they panic by design (documented in `# Panics`), with the
// message of the fallible method they wrap, which names the op.

#[test]
fn panicking_conveniences_panic_with_the_op_message() {
    let mut a = Audit::new("panicking conveniences");
    let (x, y) = (z(&[2]), z(&[3]));
    let expect_panic = |a: &mut Audit, case: &str, needles: &[&str], f: &dyn Fn()| {
        a.cases += 1;
        let call = || {
            f();
            Ok::<(), String>(())
        };
        match run(call, |_| String::new()) {
            Outcome::Panic(p) => {
                if std::env::var_os("FERRITE_PRINT_ERRORS").is_some() {
                    println!("{} | {case} | {p}", a.area);
                }
                let missing: Vec<&&str> = needles.iter().filter(|n| !p.contains(**n)).collect();
                if !missing.is_empty() {
                    a.failures.push(format!(
                        "{case}: the panic message does not name {missing:?}: {p}"
                    ));
                }
            }
            _ => a.failures.push(format!("{case}: did not panic")),
        }
    };
    expect_panic(
        &mut a,
        "&Tensor + &Tensor",
        &["add: shapes [2] and [3]"],
        &|| drop(&x + &y),
    );
    expect_panic(
        &mut a,
        "&Tensor - &Tensor",
        &["sub: shapes [2] and [3]"],
        &|| drop(&x - &y),
    );
    expect_panic(
        &mut a,
        "&Tensor * &Tensor",
        &["mul: shapes [2] and [3]"],
        &|| drop(&x * &y),
    );
    expect_panic(
        &mut a,
        "&Tensor / &Tensor",
        &["div: shapes [2] and [3]"],
        &|| drop(&x / &y),
    );
    let (vx, vy) = (Var::parameter(x.clone()), Var::new(y.clone()));
    expect_panic(&mut a, "&Var + &Var", &["add: shapes [2] and [3]"], &|| {
        drop(&vx + &vy)
    });
    expect_panic(&mut a, "&Var - &Var", &["sub: shapes [2] and [3]"], &|| {
        drop(&vx - &vy)
    });
    expect_panic(&mut a, "&Var * &Var", &["mul: shapes [2] and [3]"], &|| {
        drop(&vx * &vy)
    });
    expect_panic(&mut a, "&Var / &Var", &["div: shapes [2] and [3]"], &|| {
        drop(&vx / &vy)
    });
    expect_panic(&mut a, "Var + Var", &["add: shapes [2] and [3]"], &|| {
        drop(vx.clone() + vy.clone())
    });
    expect_panic(&mut a, "Var / Var", &["div: shapes [2] and [3]"], &|| {
        drop(vx.clone() / vy.clone())
    });
    // Under detect_anomaly the operators also panic on a non-finite result (their # Panics
    // sections mention only shapes; `-&var`'s has none).
    let nan = Var::new(t(&[f32::NAN], &[1]));
    expect_panic(
        &mut a,
        "-&Var of NaN under detect_anomaly",
        &["detect_anomaly", "neg"],
        &|| detect_anomaly(|| drop(-&nan)),
    );
    expect_panic(
        &mut a,
        "&Var * &Var of NaN under detect_anomaly",
        &["detect_anomaly", "mul"],
        &|| detect_anomaly(|| drop(&nan * &nan)),
    );
    a.holds("-&Tensor never panics", || {
        let n = -&t(&[f32::NAN, 1.0], &[2]);
        ensure(n.to_vec()[1] == -1.0, || format!("{n:?}"))
    });
    a.finish();
}

#[test]
fn norms_adaptive_pools_and_unpooling_refuse_bad_inputs() {
    use ferrite::nn::{
        AdaptiveAvgPool2d, AdaptiveMaxPool2d, BatchNorm1d, GroupNorm, LayerNorm, MaxUnpool2d,
        batch_norm1d,
    };
    use ferrite::tensor::{
        Indices, Unpool2dParams, adaptive_avg_pool2d_backward, group_norm_backward,
        layer_norm_backward, max_unpool2d_backward,
    };
    let mut a = Audit::new("norms and pools");
    let x = Var::new(z(&[2, 6, 3]));
    a.refuses(
        "layer_norm: empty normalized_shape",
        &["layer_norm", "[]"],
        || x.layer_norm(&[], None, None, 1e-5),
    );
    a.refuses(
        "layer_norm: trailing dims",
        &["layer_norm", "[*, 6]", "[2, 6, 3]"],
        || x.layer_norm(&[6], None, None, 1e-5),
    );
    let w2 = Var::new(z(&[2]));
    a.refuses(
        "layer_norm: weight shape",
        &["layer_norm", "weight", "[3]", "[2]"],
        || x.layer_norm(&[3], Some(&w2), None, 1e-5),
    );
    a.refuses("group_norm: 1-D input", &["group_norm", "[6]"], || {
        Var::new(z(&[6])).group_norm(1, None, None, 1e-5)
    });
    a.refuses(
        "group_norm: 4 groups of 6 channels",
        &["group_norm", "6 channels", "num_groups 4"],
        || x.group_norm(4, None, None, 1e-5),
    );
    a.refuses(
        "group_norm: 0 groups",
        &["group_norm", "num_groups 0"],
        || x.group_norm(0, None, None, 1e-5),
    );
    a.refuses(
        "group_norm: bias shape",
        &["group_norm", "bias", "[6]", "[2]"],
        || x.group_norm(2, None, Some(&w2), 1e-5),
    );
    let saved = x.value().layer_norm(&[3], None, None, 1e-5).unwrap().saved;
    a.refuses(
        "layer_norm_backward: grad_output shape",
        &["layer_norm", "[2, 3, 6]"],
        || layer_norm_backward(&z(&[2, 3, 6]), &saved, [true; 3]),
    );
    a.refuses(
        "group_norm_backward: saved by layer_norm",
        &["group_norm", "layer_norm"],
        || group_norm_backward(&z(&[2, 6, 3]), &saved, [true; 3]),
    );
    a.refuses(
        "LayerNorm: wrong trailing dim",
        &["layer_norm", "[4, 7]"],
        || LayerNorm::<f32>::new(&[6]).forward(&Var::new(z(&[4, 7]))),
    );
    a.refuses(
        "GroupNorm: 5 groups of 32 channels",
        &["GroupNorm", "32", "5"],
        || GroupNorm::<f32>::new(5, 32).forward(&Var::new(z(&[2, 32, 2]))),
    );
    a.refuses(
        "GroupNorm: channel count",
        &["GroupNorm", "6 channels", "expects 4"],
        || GroupNorm::<f32>::new(2, 4).forward(&x),
    );
    a.refuses(
        "BatchNorm1d: 4-D input",
        &["batch_norm1d", "[2, 3, 4, 4]"],
        || BatchNorm1d::<f32>::new(3).forward(&Var::new(z(&[2, 3, 4, 4]))),
    );
    a.refuses(
        "BatchNorm1d: channel count",
        &["batch_norm1d", "3 channels", "expects 2"],
        || BatchNorm1d::<f32>::new(2).forward(&Var::new(z(&[4, 3]))),
    );
    a.refuses(
        "BatchNorm1d: one value per channel",
        &["batch_norm", "more than 1 value", "[1, 2]"],
        || BatchNorm1d::<f32>::new(2).forward(&Var::new(z(&[1, 2]))),
    );
    a.refuses("BatchNorm1d: eps -1", &["batch_norm", "eps", "-1"], || {
        BatchNorm1d::<f32>::new(2)
            .with_eps(-1.0)
            .forward(&Var::new(z(&[3, 2])))
    });
    a.refuses("batch_norm1d: 1-D input", &["batch_norm1d", "[4]"], || {
        batch_norm1d(
            &Var::new(z(&[4])),
            None,
            None,
            None,
            None,
            &BatchNormOptions::new().with_training(true),
        )
    });
    a.refuses(
        "adaptive_avg_pool2d: 2-D input",
        &["adaptive_avg_pool2d", "[4, 4]"],
        || Var::new(z(&[4, 4])).adaptive_avg_pool2d(2),
    );
    a.refuses(
        "AdaptiveMaxPool2d: zero channels",
        &["adaptive_max_pool2d", "[1, 0, 4, 4]"],
        || AdaptiveMaxPool2d::new(2).forward(&Var::new(z(&[1, 0, 4, 4]))),
    );
    a.refuses(
        "AdaptiveAvgPool2d: 5-D input",
        &["adaptive_avg_pool2d", "[1, 1, 1, 4, 4]"],
        || AdaptiveAvgPool2d::new(1).forward(&Var::new(z(&[1, 1, 1, 4, 4]))),
    );
    a.refuses(
        "adaptive_avg_pool2d_backward: grad_output",
        &["adaptive_avg_pool2d_backward", "[3, 2, 2]", "[2, 3, 5]"],
        || adaptive_avg_pool2d_backward(&z(&[3, 2, 2]), &[2, 3, 5]),
    );
    a.refuses(
        "avg_pool2d: divisor_override 0",
        &["avg_pool2d", "divisor_override", "0"],
        || {
            AvgPool2d::new(2)
                .with_divisor_override(0)
                .forward(&Var::new(z(&[1, 4, 4])))
        },
    );
    let y = Var::new(z(&[1, 2, 2]));
    let idx = Indices::from_vec(vec![0, 1, 2, 16], &[1, 2, 2]).unwrap();
    a.refuses(
        "MaxUnpool2d: index out of the plane",
        &["max_unpool2d", "index 16", "16"],
        || MaxUnpool2d::new(2).forward(&y, &idx),
    );
    let small = Indices::from_vec(vec![0, 1], &[1, 1, 2]).unwrap();
    a.refuses(
        "max_unpool2d: indices shape",
        &["max_unpool2d", "[1, 2, 2]", "[1, 1, 2]"],
        || y.max_unpool2d(&small, &Unpool2dParams::new(2)),
    );
    a.refuses(
        "max_unpool2d: 2-D input",
        &["max_unpool2d", "[2, 2]"],
        || Var::new(z(&[2, 2])).max_unpool2d(&idx, &Unpool2dParams::new(2)),
    );
    a.refuses(
        "MaxUnpool2d: output_size too large",
        &["max_unpool2d", "output_size", "[6, 4]"],
        || MaxUnpool2d::new(2).forward_with_output_size(&y, &idx, [6, 4]),
    );
    a.refuses(
        "max_unpool2d: negative default size",
        &["max_unpool2d", "negative"],
        || Unpool2dParams::new(1).with_padding(3).output_size([2, 2]),
    );
    a.refuses(
        "max_unpool2d_backward: indices rank",
        &["max_unpool2d_backward", "[1, 4, 4]", "[1]"],
        || max_unpool2d_backward(&z(&[1, 4, 4]), &Indices::from_vec(vec![0], &[1]).unwrap()),
    );
    a.finish();
}
